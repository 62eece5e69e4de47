"""`lint`: choose the files, replay the schema around them, apply the rules, the suppressions and the config.

Files: the pending ones (the ledger of the configured engine, embedded by default), the given paths, or
those changed since a git ref. Each is analysed with the schema the migrations before it produce and the
schema after it, both from one replay into a scratch engine (as `diff` replays), inspected at checkpoints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from chmigrate.connect import ClickHouseTarget, open_clickhouse
from chmigrate.errors import UsageError
from chmigrate.lint import versions
from chmigrate.lint.analyze import FileContext, analyze
from chmigrate.lint.config import LintConfig
from chmigrate.lint.rules import RULES, rule
from chmigrate.lint.statements import Stmt, read
from chmigrate.migrations.discovery import SETTINGS_HEADER, Migration, discover
from chmigrate.results import LintFinding, LintResult
from chmigrate.schema.objects import Schema
from chmigrate.targets.clickhouse import ClickHouse

_IGNORE = re.compile(r"^(?:--|#)\s*chmigrate:lint-ignore\b(?P<rest>.*)$", re.I | re.S)
_CODE = re.compile(r"[A-Za-z]{2}\d{3}")
FILE_LEVEL = frozenset({"CH601", "CH804", "CH901", "CH902", "CH502"})


@dataclass(frozen=True)
class Ignore:
    codes: tuple[str, ...]
    reason: str
    line: int
    statement: int  # index of the statement whose text holds it


def _display(path: Path, cwd: Path) -> str:
    try:
        return str(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        return str(path)


def lint(target: ClickHouseTarget, config: LintConfig, *, paths: Sequence[str] = (), since: str | None = None,
         server_version: str | None = None, cwd: Path | None = None, replay: bool = True) -> LintResult:
    cwd = cwd or Path.cwd()
    migrations = discover(target.migrations_dir, target.variables, allow_gaps=target.allow_version_gaps,
                          allow_session=True)
    history: list[LintFinding] = []
    live: Live | None = None
    selection: Literal["pending", "paths", "since"]
    if paths:
        chosen = _by_paths(migrations, paths, cwd)
        selection = "paths"
        # the ledger still says which of the named files were applied and edited since (CH901, CH902)
        named = {_display(m.path, cwd) for m in chosen}
        _, recorded, live = _pending(migrations, target, cwd)
        history = [f for f in recorded if f.file in named]
    elif since is not None:
        chosen, history = _since(migrations, since, target.migrations_dir, cwd)
        selection = "since"
    else:
        chosen, history, live = _pending(migrations, target, cwd)
        selection = "pending"
    if selection == "since" and target.config.url is not None:
        with open_clickhouse(target) as ch:
            live = read_live(ch, target.database)
    version_text = server_version or config.server_version or (live.version if live else None)
    if server_version is not None:
        try:
            versions.parse(server_version)
        except ValueError as exc:
            raise UsageError(f"--server-version: {exc}") from None
    target_version = versions.parse(version_text) if version_text else None
    wanted = {m.version for m in chosen}
    index = {m.version: n for n, m in enumerate(migrations)}
    schemas: dict[int, Schema] = {}
    failure: dict[str, Any] | None = None
    if replay and chosen:
        checkpoints = sorted({k for m in chosen for k in (index[m.version], index[m.version] + 1)})
        schemas, failure = _replay(migrations[:max(checkpoints)], target.database, checkpoints,
                                   target.local_dir / "cache")
    findings: list[LintFinding] = list(history)
    if failure is not None and _refused_view(failure, migrations):
        # 26.x refuses a TO view whose output column is not in the target (24.8 accepts it silently)
        findings.append(LintFinding("CH402", rule("CH402").severity, _display(Path(failure["path"]), cwd),
                                int(failure["line"] or 0), "", "the scratch engine refuses the view: "
                                f"{' '.join(str(failure['message']).split())[:300]}"))
    elif failure is not None:
        findings.append(LintFinding("CH002", rule("CH002").severity, _display(Path(failure["path"]), cwd),
                                int(failure["line"] or 0), "", f"statement {failure['statement']} fails on the "
                                f"scratch engine: {' '.join(str(failure['message']).split())[:300]}"))
    replicated: set[str] = set(live.replicated) if live else set()
    # the live server's own setting names, when it is the version checked against
    known = live.settings if live and version_text and versions.parse(version_text) == versions.parse(
        live.version) else None
    suppressed = 0
    for m in migrations:
        statements = tuple(read(s.index, s.line, s.sql) for s in m.up)
        replicated |= _replicated_databases(statements)
        if m.version not in wanted:
            continue
        n = index[m.version]
        path = _display(m.path, cwd)
        header = _header_line(m.path)
        ctx = FileContext(path=path, statements=statements, database=target.database, has_down=m.down is not None,
                          header_settings=m.settings, header_line=header, before=schemas.get(n),
                          after=schemas.get(n + 1), target=target_version, cluster=config.cluster is not None,
                          replicated_databases=frozenset(replicated), sizes=live.sizes if live else {},
                          live=live is not None, known_settings=known)
        found = analyze(ctx) + [f for f in findings if f.file == path and f.code in ("CH901", "CH902")]
        findings = [f for f in findings if not (f.file == path and f.code in ("CH901", "CH902"))]
        kept, meta, hidden = _suppress(found, statements, path)
        suppressed += hidden
        findings += kept + meta
    out = [replace(f, severity=config.severity_of(f.code)) for f in findings if f.code not in config.disabled]
    order = {_display(m.path, cwd): n for n, m in enumerate(migrations)}
    out.sort(key=lambda f: (order.get(f.file, -1), f.line, f.code))
    return LintResult(tuple(out), tuple(_display(m.path, cwd) for m in chosen), selection,
                      server_version=versions.label(target_version) if target_version else None,
                      schema="replayed" if schemas else "none", suppressed=suppressed)


def _refused_view(failure: dict[str, Any], migrations: Sequence[Migration]) -> bool:
    if failure.get("code") != 8:  # THERE_IS_NO_COLUMN
        return False
    m = next((m for m in migrations if str(m.path) == failure["path"]), None)
    st = next((s for s in m.up if s.index == int(failure["statement"])), None) if m else None
    return st is not None and read(st.index, st.line, st.sql).verb == "CREATE" and "MATERIALIZED" in {
        t.upper for t in read(st.index, st.line, st.sql).tokens[:6]}


def _header_line(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    m = SETTINGS_HEADER.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else 1


def _replicated_databases(statements: Sequence[Stmt]) -> set[str]:
    """Databases created with ENGINE = Replicated(...)."""
    out: set[str] = set()
    for st in statements:
        t = st.tokens
        if st.verb == "CREATE" and len(t) > 2 and t[1].is_word("DATABASE"):
            i = 2
            if i + 2 < len(t) and t[i].is_word("IF"):
                i += 3
            name = t[i].name if i < len(t) else ""
            for j in range(i, len(t) - 1):
                if t[j].is_word("ENGINE"):
                    k = j + 2 if t[j + 1].text == "=" else j + 1
                    if k < len(t) and t[k].text == "Replicated":
                        out.add(name)
    return out


# -- which files ------------------------------------------------------------------------------------------


def _by_paths(migrations: Sequence[Migration], paths: Sequence[str], cwd: Path) -> list[Migration]:
    by_path = {m.path.resolve(): m for m in migrations}
    chosen: dict[str, Migration] = {}
    for p in paths:
        path = (cwd / p).resolve()
        if path.is_dir():
            found = [m for m in migrations if m.path.resolve().parent == path]
            if not found:
                raise UsageError(f"{p}: no migration files in this folder (the migrations folder is "
                                 f"{migrations[0].path.parent if migrations else '?'})")
            chosen.update({m.version: m for m in found})
            continue
        m = by_path.get(path)
        if m is None:
            raise UsageError(f"{p}: not a migration file of the migrations folder",
                             hint="name files of --migrations-dir (or the folder itself)")
        chosen[m.version] = m
    return [chosen[v] for v in sorted(chosen, key=int)]


def _git(args: Sequence[str], cwd: Path, ref: str) -> list[str]:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--since {ref}: cannot run git ({exc})") from None
    if proc.returncode != 0:
        raise UsageError(f"--since {ref}: git {args[0]} failed: {' '.join(proc.stderr.split())[:300]}")
    return [line for line in proc.stdout.splitlines() if line.strip()]


def _since(migrations: Sequence[Migration], ref: str, directory: Path, cwd: Path) -> tuple[list[Migration],
                                                                                        list[LintFinding]]:
    """Files added or modified since `ref` (committed or not, untracked included); a modified file is an
    edited applied one (CH901), an added one below the newest file at `ref` is out of order (CH902)."""
    rel = _display(directory, cwd)
    status: dict[Path, str] = {}
    for line in _git(["diff", "--name-status", "--no-renames", "--relative", ref, "--", rel], cwd, ref):
        kind, _, name = line.partition("\t")
        status[(cwd / name).resolve()] = kind[:1]
    for name in _git(["ls-files", "--others", "--exclude-standard", "--", rel], cwd, ref):
        status[(cwd / name).resolve()] = "A"
    before = _git(["ls-tree", "-r", "--name-only", ref, "--", rel], cwd, ref)
    from chmigrate.migrations import filenames

    numbers = [int(p.version) for n in before if (p := filenames.parse(Path(n).name)) is not None]
    newest = max(numbers, default=0)
    chosen: list[Migration] = []
    history: list[LintFinding] = []
    for m in migrations:
        kind = status.get(m.path.resolve(), "")
        if kind not in ("A", "M"):
            continue
        chosen.append(m)
        path = _display(m.path, cwd)
        if kind == "M":
            history.append(LintFinding("CH901", "error", path, 1, m.version, f"{m.filename} existed at {ref} and was "
                                   "edited: an applied migration must not change; write a new one"))
        elif m.number < newest:
            history.append(LintFinding("CH902", "error", path, 1, m.version, f"version {m.version} is below "
                                   f"{newest}, the newest at {ref}: `up` refuses it where {newest} is applied"))
    return chosen, history


@dataclass(frozen=True)
class Live:
    """What lint reads from a configured server, in four queries."""

    version: str
    sizes: dict[str, tuple[int, int, int]]  # table -> (rows, bytes on disk, active parts)
    replicated: frozenset[str]  # databases whose engine is Replicated
    settings: frozenset[str]  # every query and MergeTree setting name the server knows


def read_live(ch: ClickHouse, database: str) -> Live:
    rows = ch.query("SELECT table, sum(rows), sum(bytes_on_disk), count() FROM system.parts WHERE active AND "
                    "database = {d:String} GROUP BY table", {"d": database})
    replicated = ch.query("SELECT name FROM system.databases WHERE engine = 'Replicated'")
    names = ch.query("SELECT name FROM system.settings UNION ALL SELECT name FROM system.merge_tree_settings")
    return Live(ch.server_version, {str(t): (int(r), int(b), int(n)) for t, r, b, n in rows},
                frozenset(str(r[0]) for r in replicated), frozenset(str(r[0]) for r in names))


def _pending(migrations: Sequence[Migration], target: ClickHouseTarget, cwd: Path) -> tuple[
        list[Migration], list[LintFinding], Live | None]:
    from chmigrate.operations.clickhouse import ledger_for

    with open_clickhouse(target) as ch:
        states = ledger_for(ch, target).states()
        live = None if ch.embedded else read_live(ch, target.database)
    applied = [int(v) for v, s in states.items() if s.applied]
    newest = max(applied, default=0)
    chosen: list[Migration] = []
    history: list[LintFinding] = []
    for m in migrations:
        st = states.get(m.version)
        path = _display(m.path, cwd)
        if st is None or not st.applied:
            chosen.append(m)
            if m.number < newest:
                history.append(LintFinding("CH902", "error", path, 1, m.version, f"version {m.version} is pending but "
                                       f"{newest} is applied: `up` refuses it"))
        elif st.checksum != m.checksum:
            chosen.append(m)
            history.append(LintFinding("CH901", "error", path, 1, m.version, f"{m.filename} was applied with "
                                   f"checksum {st.checksum[:12]} and is now {m.checksum[:12]}"))
    return chosen, history, live


# -- replay -------------------------------------------------------------------------------------------------


def _replay(migrations: Sequence[Migration], database: str, checkpoints: Sequence[int],
            cache_dir: Path | None = None) -> tuple[dict[int, Schema], dict[str, Any] | None]:
    """The schemas at `checkpoints` (after that many files), from one replay; the reply is cached in
    `cache_dir`, keyed like diff's desired schema (the statements, the scratch engine, chmigrate, the
    database) and the checkpoints."""
    from chmigrate.schema.desired import cache_key, run_replay, scratch_engine_version

    request = {
        "database": database, "exclude": [], "settings": {}, "checkpoints": list(checkpoints),
        "files": [{"path": str(m.path), "statements": [
            {"index": s.index, "line": s.line, "sql": s.sql} for s in m.up
            if not re.match(r"(?is)^\s*(SET|USE)\b", s.sql)]} for m in migrations],
    }
    key = cache_key(migrations, engine=scratch_engine_version(), database=database,
                    exclude=[f"checkpoint {n}" for n in checkpoints])
    cached = cache_dir / f"lint-{key[:40]}.json" if cache_dir is not None else None
    reply: dict[str, Any] | None = None
    if cached is not None and cached.exists():
        try:
            reply = json.loads(cached.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            reply = None
    if reply is None:
        reply = run_replay(request)
        if cached is not None and (reply.get("ok") or reply.get("error", {}).get("path")):
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(reply), encoding="utf-8")
            os.replace(tmp, cached)
    schemas = {int(k): Schema.from_dict(v) for k, v in (reply.get("schemas") or {}).items()}
    if reply.get("ok"):
        return schemas, None
    error = reply["error"]
    if error.get("path") is None:
        from chmigrate.errors import DatabaseError

        raise DatabaseError(f"the scratch engine failed: {error['message']}", code=error.get("code"))
    return schemas, error


# -- suppressions -------------------------------------------------------------------------------------------


def ignores(statements: Sequence[Stmt]) -> list[Ignore]:
    out: list[Ignore] = []
    for st in statements:
        for text, line in st.comments:
            m = _IGNORE.match(text.strip())
            if m is None:
                continue
            rest = m["rest"].strip()
            codes: list[str] = []
            while True:
                c = _CODE.match(rest)
                if c is None:
                    break
                codes.append(c.group().upper())
                rest = rest[c.end():].lstrip(" ,")
            out.append(Ignore(tuple(codes), rest.strip(), line, st.index))
    return out


def _statement_of(line: int, statements: Sequence[Stmt]) -> int:
    found = 0
    for st in statements:
        first = min([st.line, *(ln for _, ln in st.comments)])
        if first <= line:
            found = st.index
    return found


def _suppress(found: Sequence[LintFinding], statements: Sequence[Stmt], path: str) -> tuple[list[LintFinding],
                                                                                   list[LintFinding], int]:
    """(findings kept, findings about the ignores themselves, how many were suppressed)."""
    marks = ignores(statements)
    meta: list[LintFinding] = []
    for ig in marks:
        if not ig.codes:
            meta.append(LintFinding("CH003", rule("CH003").severity, path, ig.line, "", "lint-ignore names no code: "
                                "write `-- chmigrate:lint-ignore CODE reason`"))
        for code in ig.codes:
            if code not in RULES:
                meta.append(LintFinding("CH003", rule("CH003").severity, path, ig.line, code,
                                    f"lint-ignore names {code}, which is not a rule"))
        if ig.codes and not ig.reason:
            meta.append(LintFinding("CH001", rule("CH001").severity, path, ig.line, ",".join(ig.codes),
                                f"lint-ignore {','.join(ig.codes)} gives no reason"))
    kept: list[LintFinding] = []
    hidden = 0
    for f in found:
        where = _statement_of(f.line, statements)
        if any(f.code in ig.codes and (ig.statement == where or f.code in FILE_LEVEL) for ig in marks):
            hidden += 1
        else:
            kept.append(f)
    return kept, meta, hidden
