"""The desired schema: replay every migration into a scratch engine and inspect it the same way.

Default scratch: an in-process chDB in a temporary directory, run in a
subprocess (`python -m chmigrate.schema.replay`), because chDB allows one data
directory per process and the target may be an embedded chDB in this process.

Alternative `dev_database=NAME`: replay into a database on the target server
that chmigrate creates (marked with a comment) and drops afterwards. Statements
then run with NAME as the current database, so unqualified names land there.
A statement that names the real database explicitly (`default.t`) is rewritten
to NAME (`NAME.t`); one that creates, alters or drops objects in any other
database, switches database (USE) or creates/drops a database is rejected,
since replaying it would change a real database.

The raw inspection is cached in `cache_dir`, keyed by the sha256 of every
statement that runs (after `${VAR}` substitution), the scratch engine's version,
chmigrate's version, the database name and the exclusions: a second call with
unchanged files replays nothing. Normalisation happens later, on the target,
for both sides (`normalize.normalize_pair`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import chmigrate
from chmigrate.errors import ConfigError, DatabaseError, MigrationFileError, StatementFailed
from chmigrate.schema.inspect import inspect
from chmigrate.schema.normalize import canonicalize
from chmigrate.schema.objects import Schema
from chmigrate.schema.sources import MigrationLike, statement_targets, statements_digest
from chmigrate.schema.tokens import IDENT, QIDENT, SYMBOL, Token, quote_name, tokenize
from chmigrate.targets.clickhouse import ClickHouse, quote_ident, quote_string

DEV_MARKER = "chmigrate scratch database (safe to drop)"
SNAPSHOT_NAME = "schema.snapshot.json"  # beside the migrations, committed: `chmigrate snapshot` writes it
SNAPSHOT_FORMAT = 1
CACHE_ENTRIES = 8  # most recent desired schemas kept per cache directory


@dataclass(frozen=True)
class Desired:
    canonical: Schema  # normalize.canonicalize(raw): the pure, engine-independent step, cached too
    cache_key: str
    cached: bool  # True when read from the cache or the snapshot without replaying anything
    engine: str  # "chdb <version>" or "dev database NAME on <server version>"
    raw: Schema | None = field(default=None, repr=False)
    raw_path: Path | None = field(default=None, repr=False)
    source: str = "replay"  # "replay", "cache" (.chmigrate/cache) or "snapshot" (the committed file)
    snapshot: str = "missing"  # the committed snapshot: "current", "stale" or "missing" (or not looked at)

    @property
    def schema(self) -> Schema:
        """The raw inspection (not normalised); read from the cache only when asked for."""
        if self.raw is not None:
            return self.raw
        assert self.raw_path is not None
        return Schema.from_json(self.raw_path.read_text(encoding="utf-8"))


def scratch_engine_version() -> str:
    """The version of the chDB the replay subprocess will load (no engine is started)."""
    try:
        return "chdb " + metadata.version("chdb")
    except metadata.PackageNotFoundError:
        return "chdb unknown"


def cache_key(
    migrations: Sequence[MigrationLike], *, engine: str, database: str, exclude: Iterable[str]
) -> str:
    digest = hashlib.sha256()
    for part in (statements_digest(migrations), engine, chmigrate.__version__, database, *sorted(exclude)):
        digest.update(part.encode() + b"\x00")
    return digest.hexdigest()


def build_desired(
    migrations: Sequence[MigrationLike],
    *,
    database: str,
    exclude: Iterable[str] = (),
    cache_dir: Path | None = None,
    settings: Mapping[str, Any] | None = None,
    dev_database: str | None = None,
    target: ClickHouse | None = None,
    python: str | None = None,
    timeout: float = 900.0,
    snapshot: Path | None = None,
) -> Desired:
    """Replay `migrations` (in order) somewhere safe and inspect the result, using the cache or the committed
    snapshot (when its key is this replay's) when it can."""
    skip = frozenset(exclude)
    if dev_database is not None:
        if target is None:
            raise ConfigError("dev_database", "a dev database needs the target connection")
        engine_version = f"ClickHouse {target.server_version}"
        engine = f"dev database {dev_database} on {engine_version}"
    else:
        engine = engine_version = scratch_engine_version()
    key = cache_key(migrations, engine=engine_version, database=database, exclude=skip)
    snap = "missing"
    if dev_database is None and snapshot is not None:
        found = read_snapshot(snapshot)
        if found is not None and found.key == key:
            return Desired(found.canonical, key, True, engine, raw=found.raw, source="snapshot", snapshot="current")
        snap = "missing" if found is None else "stale"
    cached = _read_cache(cache_dir, key)
    if cached is not None:
        return Desired(cached[1], key, True, engine, raw_path=cached[0], source="cache", snapshot=snap)
    if dev_database is not None:
        assert target is not None
        schema = replay_in_dev_database(
            target, migrations, database=database, dev_database=dev_database, exclude=skip, settings=settings
        )
    else:
        schema = replay_in_subprocess(
            migrations, database=database, exclude=skip, settings=settings, python=python, timeout=timeout
        )
    canonical = canonicalize(schema)
    _write_cache(cache_dir, key, schema, canonical)
    return Desired(canonical, key, False, engine, raw=schema, snapshot=snap)


# -- snapshot --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    key: str  # cache_key of the replay it holds: statements, scratch engine, chmigrate, database, exclusions
    engine: str
    chmigrate: str
    database: str
    raw: Schema
    canonical: Schema


def read_snapshot(path: Path) -> Snapshot | None:
    """The committed snapshot at `path`; None when there is none. A file that does not parse is an error
    naming it (a merge conflict in it must not pass for a stale snapshot)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError("snapshot", f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unsupported snapshot format {data.get('format')!r}")
        return Snapshot(key=str(data["key"]), engine=str(data["engine"]), chmigrate=str(data["chmigrate"]),
                        database=str(data["database"]), raw=Schema.from_dict(data["raw"]),
                        canonical=Schema.from_dict(data["canonical"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError("snapshot", f"{path} is not a chmigrate schema snapshot ({exc})",
                          hint="run `chmigrate snapshot` to write it again") from exc


def write_snapshot(path: Path, desired: Desired, *, database: str) -> None:
    """Write `desired` as the committed snapshot: canonical JSON (sorted keys, one object per line of the
    schema's top level, so that a review shows what changed), written atomically."""
    doc = {"format": SNAPSHOT_FORMAT, "key": desired.cache_key, "engine": desired.engine,
           "chmigrate": chmigrate.__version__, "database": database,
           "raw": desired.schema.to_dict(), "canonical": desired.canonical.to_dict()}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# -- cache ---------------------------------------------------------------------------------------------


def _cache_paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    """(raw inspection, canonical form) files of one cache entry."""
    stem = f"desired-{key[:40]}"
    return cache_dir / f"{stem}.raw.json", cache_dir / f"{stem}.json"


def _read_cache(cache_dir: Path | None, key: str) -> tuple[Path, Schema] | None:
    if cache_dir is None:
        return None
    raw_path, path = _cache_paths(cache_dir, key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != key or not raw_path.exists():
            return None
        return raw_path, Schema.from_dict(data["canonical"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or unreadable: rebuild


def _write_cache(cache_dir: Path | None, key: str, schema: Schema, canonical: Schema) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    raw_path, path = _cache_paths(cache_dir, key)
    for target, text in (
        (raw_path, schema.to_json()),
        (path, json.dumps({"key": key, "canonical": canonical.to_dict()}, sort_keys=True)),
    ):
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    entries = sorted(cache_dir.glob("desired-*.raw.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[CACHE_ENTRIES:]:
        old.unlink(missing_ok=True)
        old.with_name(old.name.replace(".raw.json", ".json")).unlink(missing_ok=True)


# -- scratch subprocess ------------------------------------------------------------------------------------


def _request(
    migrations: Sequence[MigrationLike],
    database: str,
    exclude: Iterable[str],
    settings: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "database": database,
        "exclude": sorted(exclude),
        "settings": dict(settings or {}),
        "files": [
            {
                "path": str(m.path),
                "statements": [{"index": s.index, "line": s.line, "sql": s.sql} for s in m.up],
            }
            for m in migrations
        ],
    }


PARALLEL_STATEMENTS = 300  # statements per extra scratch engine: below this, one engine is quicker
MAX_WORKERS = 4


def replay_workers(statements: int) -> int:
    """How many scratch engines a replay of `statements` statements uses: one per PARALLEL_STATEMENTS, at
    most one per CPU this process may use and MAX_WORKERS (`CHMIGRATE_REPLAY_WORKERS` overrides)."""
    forced = os.environ.get("CHMIGRATE_REPLAY_WORKERS", "")
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS, statements // PARALLEL_STATEMENTS))


def replay_in_subprocess(
    migrations: Sequence[MigrationLike],
    *,
    database: str,
    exclude: Iterable[str] = (),
    settings: Mapping[str, Any] | None = None,
    python: str | None = None,
    timeout: float = 900.0,
    workers: int | None = None,
) -> Schema:
    """Replay into an in-process chDB of a child process (`python -m chmigrate.schema.replay`); a long
    replay whose statements fall into independent groups (`replay_groups`) is spread over several."""
    count = sum(len(m.up) for m in migrations)
    wanted = replay_workers(count) if workers is None else workers
    # The engines start (imports, data directory) while the statements are grouped.
    procs = _spawn(max(1, wanted), python)
    try:
        loads: list[list[tuple[int, int]]] | None = None
        if wanted > 1:
            from chmigrate.schema.replay_groups import independent_groups, spread

            groups = independent_groups(migrations)
            if groups is not None and len(groups) > 1:
                loads = spread(groups, wanted)
        if loads is None or len(loads) < 2:
            requests = [_request(migrations, database, exclude, settings)]
        else:
            requests = [_partial_request(migrations, load, database, exclude, settings) for load in loads]
        for idle in procs[len(requests):]:
            idle.communicate("")  # an empty request: the engine exits without starting
        procs = procs[:len(requests)]
        outputs = _communicate_all(procs, [json.dumps(r) for r in requests], timeout)
    finally:
        _reap(procs)
    return _joined(_replies(procs, outputs), migrations)


def run_replay(request: Mapping[str, Any], *, python: str | None = None, timeout: float = 900.0) -> dict[str, Any]:
    """Send one replay request (see chmigrate.schema.replay) to a child process and return its reply."""
    procs = _spawn(1, python)
    try:
        outputs = _communicate_all(procs, [json.dumps(request)], timeout)
    finally:
        _reap(procs)
    return _replies(procs, outputs)[0]


def _spawn(count: int, python: str | None) -> list[subprocess.Popen[str]]:
    package_root = str(Path(chmigrate.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return [subprocess.Popen([python or sys.executable, "-m", "chmigrate.schema.replay"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(count)]


def _reap(procs: Sequence[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _replies(procs: Sequence[subprocess.Popen[str]], outputs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = []
    for proc, (out, err) in zip(procs, outputs):
        try:
            replies.append(json.loads(out))
        except ValueError:
            tail = " ".join(err.split())[-400:]
            raise DatabaseError(f"the scratch engine process failed (exit {proc.returncode}): {tail}") from None
    return replies


def _communicate_all(procs: Sequence[subprocess.Popen[str]], inputs: Sequence[str], timeout: float
                     ) -> list[tuple[str, str]]:
    """Feed and read every replay process at once (each in a thread: their pipes must not block one another)."""
    if len(procs) == 1:
        try:
            return [procs[0].communicate(inputs[0], timeout=timeout)]
        except subprocess.TimeoutExpired:
            raise DatabaseError(
                f"replaying the migrations in a scratch engine took longer than {timeout:.0f} s"
            ) from None
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(procs)) as pool:
        futures = [pool.submit(p.communicate, text, timeout) for p, text in zip(procs, inputs)]
        try:
            return [f.result() for f in futures]
        except subprocess.TimeoutExpired:
            raise DatabaseError(
                f"replaying the migrations in a scratch engine took longer than {timeout:.0f} s"
            ) from None


def _partial_request(
    migrations: Sequence[MigrationLike],
    load: Sequence[tuple[int, int]],
    database: str,
    exclude: Iterable[str],
    settings: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The request for one engine of a parallel replay: its statements, in file order."""
    request = _request((), database, exclude, settings)
    by_file: dict[int, list[int]] = {}
    for f, s in load:
        by_file.setdefault(f, []).append(s)
    for f, indexes in by_file.items():
        m = migrations[f]
        request["files"].append({"path": str(m.path), "statements": [
            {"index": m.up[s].index, "line": m.up[s].line, "sql": m.up[s].sql} for s in indexes]})
    return request


def _joined(replies: Sequence[Mapping[str, Any]], migrations: Sequence[MigrationLike]) -> Schema:
    """One schema from the replies of a (parallel) replay; the first failure in file order when any failed,
    the one a single engine would have met first (the groups touch disjoint objects)."""
    failed = [r for r in replies if not r.get("ok")]
    if failed:
        order = {str(m.path): i for i, m in enumerate(migrations)}

        def position(reply: Mapping[str, Any]) -> tuple[int, int]:
            err = reply["error"]
            if err.get("path") is None:
                return (-1, -1)
            return (order.get(err["path"], len(order)), int(err["statement"]))

        return _schema_from_reply(min(failed, key=position))
    schemas = [_schema_from_reply(r) for r in replies]
    if len(schemas) == 1:
        return schemas[0]
    first = schemas[0]
    return Schema(database=first.database, engine_version=first.engine_version,
                  tables=tuple(sorted((t for s in schemas for t in s.tables), key=lambda t: t.name)),
                  views=tuple(sorted((v for s in schemas for v in s.views), key=lambda v: v.name)))


def _schema_from_reply(reply: Mapping[str, Any]) -> Schema:
    if reply.get("ok"):
        return Schema.from_dict(reply["schema"])
    err = reply["error"]
    if err.get("path") is None:
        raise DatabaseError(f"the scratch engine failed: {err['message']}", code=err.get("code"))
    raise StatementFailed(
        err["path"],
        int(err["statement"]),
        int(err["line"] or 0),
        err["message"],
        code=err.get("code"),
        hint="building the desired schema replays every migration into an empty scratch engine "
        f"({scratch_engine_version()}); this statement failed there",
    )


# -- dev database on the target --------------------------------------------------------------------------


def rewrite_for_dev(sql: str, *, database: str, dev_database: str) -> str:
    """Point explicit `database.` qualifiers at the dev database; leave strings and comments alone."""
    tokens = tokenize(sql, keep_space=True)
    out: list[str] = []
    significant = [i for i, t in enumerate(tokens) if t.kind not in ("ws", "comment")]
    follows = {a: b for a, b in zip(significant, significant[1:])}
    for i, tok in enumerate(tokens):
        nxt = follows.get(i)
        if (
            tok.kind in (IDENT, QIDENT)
            and tok.name == database
            and nxt is not None
            and tokens[nxt].kind == SYMBOL
            and tokens[nxt].text == "."
        ):
            out.append(quote_name(dev_database))
        else:
            out.append(tok.text)
    return "".join(out)


def check_dev_statement(sql: str, *, dev_database: str) -> str | None:
    """Why a (rewritten) statement must not run in dev mode, or None when it may."""
    verb, targets = statement_targets(sql)
    tokens: list[Token] = tokenize(sql)
    if verb == "USE":
        return "USE would leave the dev database"
    if verb in ("CREATE", "DROP", "ATTACH", "DETACH") and any(t.is_word("DATABASE") for t in tokens[1:4]):
        return "creating or dropping a database is not replayed in a dev database"
    for db, name in targets:
        if db is not None and db != dev_database:
            return f"it changes {db}.{name}, outside the database being compared"
    return None


@contextmanager
def _current_database(ch: ClickHouse, name: str) -> Iterator[dict[str, Any]]:
    """Run statements with `name` as the current database; yields the settings to pass along."""
    if ch.embedded:
        previous = str(ch.query("SELECT currentDatabase()")[0][0])
        ch.execute(f"USE {quote_ident(name)}")
        try:
            yield {}
        finally:
            ch.execute(f"USE {quote_ident(previous)}")
    else:
        # Over HTTP, `database` is a request parameter; clickhouse-connect passes unknown settings through.
        yield {"database": name}


def replay_in_dev_database(
    ch: ClickHouse,
    migrations: Sequence[MigrationLike],
    *,
    database: str,
    dev_database: str,
    exclude: Iterable[str] = (),
    settings: Mapping[str, Any] | None = None,
) -> Schema:
    if dev_database == database:
        raise ConfigError("dev_database", f"must differ from the database being compared ({database})")
    _fresh_dev_database(ch, dev_database)
    try:
        with _current_database(ch, dev_database) as extra:
            run_settings = {**dict(settings or {}), **extra}
            current = ch.query("SELECT currentDatabase()", settings=extra or None)[0][0]
            if current != dev_database:
                raise DatabaseError(
                    f"could not switch to the dev database {dev_database} (current: {current})"
                )
            for migration in migrations:
                for statement in migration.up:
                    sql = rewrite_for_dev(statement.sql, database=database, dev_database=dev_database)
                    reason = check_dev_statement(sql, dev_database=dev_database)
                    if reason is not None:
                        raise MigrationFileError(
                            str(migration.path),
                            f"cannot replay in dev database: {reason}",
                            statement=statement.index,
                            line=statement.line,
                        )
                    try:
                        ch.execute(sql, settings=run_settings or None)
                    except DatabaseError as exc:
                        raise StatementFailed(
                            str(migration.path),
                            statement.index,
                            statement.line,
                            exc.message,
                            code=exc.code,
                            hint=f"while replaying into dev database {dev_database}",
                        ) from None
        return inspect(ch, dev_database, exclude=exclude)
    finally:
        ch.execute(f"DROP DATABASE IF EXISTS {quote_ident(dev_database)}")


def _fresh_dev_database(ch: ClickHouse, name: str) -> None:
    rows = ch.query(f"SELECT comment FROM system.databases WHERE name = {quote_string(name)}")
    if rows and str(rows[0][0]) != DEV_MARKER:
        raise ConfigError(
            "dev_database", f"database {name} exists and was not created by chmigrate; refusing to drop it"
        )
    if rows:
        ch.execute(f"DROP DATABASE {quote_ident(name)}")
    ch.execute(f"CREATE DATABASE {quote_ident(name)} COMMENT {quote_string(DEV_MARKER)}")
