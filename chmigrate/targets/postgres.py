"""The PostgreSQL seam: chmigrate's Alembic project applied to one database.

A server is reached with a postgresql:// URL (psycopg 3); without one, chmigrate starts its
embedded PostgreSQL on `local_dir` (see chmigrate.embedded_postgres) and the rest is the same.
Migrations are Alembic revisions in `project_dir` (default `postgres/`), driven through
Alembic's Python API; the version table is `orchestrator.chmigrate_alembic_version`.
Configuration arrives through `PostgresConfig`; this module never reads the environment.
SQLAlchemy, Alembic and psycopg are imported only when a `Postgres` is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from chmigrate.errors import ChmigrateError, ConfigError, StateError, StatementFailed
from chmigrate.masking import mask_url, masked_repr, redact, url_secrets
from chmigrate.results import (
    AppliedMigration,
    EngineStart,
    LockResult,
    MigrationStatus,
    PlannedStatement,
    StateDetail,
    TargetPlan,
    TargetStatus,
    TargetUpResult,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from chmigrate.embedded_postgres import EmbeddedPostgres
    from chmigrate.targets.pg_alembic import Revision
    from chmigrate.targets.pg_lock import LockHold

APPLICATION_NAME = "chmigrate"
_A = TypeVar("_A")
_R = TypeVar("_R")
_DRIVERS = ("postgresql", "postgres", "postgresql+psycopg")


@dataclass(frozen=True)
class PostgresConfig:
    """Where the Postgres target is and where its Alembic project lives. `url=None`: embedded."""

    url: str | None = None
    password: str | None = field(default=None, repr=False)  # overrides the URL's password
    local_dir: Path = Path(".chmigrate/postgres")
    project_dir: Path = Path("postgres")
    connect_timeout: float = 10.0
    lock_timeout: float = 60.0

    @property
    def embedded(self) -> bool:
        return self.url is None

    def __repr__(self) -> str:  # the URL may carry a password
        return masked_repr(self)


class Postgres:
    """A PostgreSQL target: status, plan, up, down, drift, under a cross-process lock.

    Built by `Postgres.connect(config)`, which fails fast (ConnectionFailed) when the server
    cannot be reached; use it as a context manager so the embedded server is left on exit.
    """

    def __init__(self, engine: Engine, *, label: str, embedded: bool, project_dir: Path,
                 lock_timeout: float = 60.0, secrets: tuple[str | None, ...] = (),
                 server: EmbeddedPostgres | None = None, started: EngineStart | None = None) -> None:
        self._engine = engine
        self.label = label
        self.embedded = embedded
        self.project_dir = project_dir
        self.lock_timeout = lock_timeout
        self._secrets = secrets
        self._server = server
        self._started = started
        self._lock_depth = 0

    def __repr__(self) -> str:
        return f"Postgres({self.label!r})"

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def connect(cls, config: PostgresConfig) -> Postgres:
        from chmigrate.targets.pg_alembic import check_project

        project_dir = Path(config.project_dir)
        check_project(project_dir)
        server: EmbeddedPostgres | None = None
        started: EngineStart | None = None
        password: str | None
        if config.url is None:
            from chmigrate.embedded_postgres import EmbeddedPostgres

            server = EmbeddedPostgres(config.local_dir)
            running = server.start()
            url, password = running.url, running.password
            label = f"embedded PostgreSQL at {server.local_dir}"
            started = EngineStart("initialised and started" if running.initialized
                                  else "started" if running.started else "reused",
                                  running.start_seconds, running.port)
        else:
            url, password, label = config.url, config.password, mask_url(config.url)
        try:
            engine, secrets = _engine(url, password, config.connect_timeout)
            label = redact(label, secrets)  # libpq also takes ?password=... in the query string
            target = cls(engine, label=label, embedded=server is not None, project_dir=project_dir,
                         lock_timeout=config.lock_timeout, secrets=secrets, server=server, started=started)
            target.ping()
        except BaseException:
            if server is not None:
                server.stop()
            raise
        return target

    def ping(self) -> None:
        """Open a connection and run SELECT 1; ConnectionFailed when that fails."""
        from sqlalchemy import text

        with self._translated(), self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def read(self, sql: str, params: Mapping[str, Any] | None = None, *,
             timeout: float = 30.0) -> list[tuple[Any, ...]]:
        """Rows of one query, run in a READ ONLY transaction with a statement timeout (then rolled back)."""
        from sqlalchemy import text

        with self._translated(), self._engine.connect() as conn:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
            rows = [tuple(r) for r in conn.execute(text(sql), dict(params or {})).fetchall()]
            conn.rollback()
            return rows

    @property
    def server_version(self) -> str:
        return str(self.read("SHOW server_version")[0][0])

    # -- commands -----------------------------------------------------------------------------
    def status(self) -> TargetStatus:
        from chmigrate.targets.pg_env import SCHEMA, VERSION_TABLE

        revisions, applied, unknown = self._state()
        # The version table holds heads only: with an unknown head, no file's state can be told.
        migrations = [
            MigrationStatus(version=r.id, name=r.name, checksum=None,
                            state="applied" if r.id in applied else "unknown" if unknown else "pending",
                            detail=StateDetail("undecided", heads=tuple(unknown))
                            if unknown and r.id not in applied else None)
            for r in revisions
        ]
        migrations += [
            MigrationStatus(version=u, name="", state="unknown", checksum=None,
                            detail=StateDetail("no_revision_file", table=f"{SCHEMA}.{VERSION_TABLE}",
                                               where=str(self.project_dir / "versions")))
            for u in unknown
        ]
        return TargetStatus(engine="postgres", target=self.label, embedded=self.embedded,
                            migrations=tuple(migrations))

    def plan(self, to: str | None = None) -> TargetPlan:
        """The SQL an `up` would run (Alembic offline mode), one PlannedStatement per statement."""
        revisions, applied, unknown = self._state()
        self._refuse_unknown(unknown)
        if all(r.id in applied for r in revisions):
            return TargetPlan(engine="postgres", target=self.label, embedded=self.embedded, statements=(),
                              started=self._started)
        from chmigrate.targets.pg_alembic import offline_upgrade

        start = self._single_head()
        by_id = {r.id: r for r in revisions}
        statements: list[PlannedStatement] = []
        with self._translated():
            run = offline_upgrade(self.project_dir, start, to or "heads")
        for revision_id, sqls in run.steps:
            rev = by_id[revision_id]
            statements += [PlannedStatement(version=rev.id, name=rev.name, path=rev.path, index=i,
                                            line=rev.upgrade_line, sql=sql) for i, sql in enumerate(sqls, 1)]
        return TargetPlan(engine="postgres", target=self.label, embedded=self.embedded,
                          statements=tuple(statements), started=self._started)

    def up(self, to: str | None = None, dry_run: bool = False) -> TargetUpResult:
        """Upgrade to `to` (a revision id; default: the head), under the migration lock."""
        if dry_run:
            from chmigrate.targets.pg_alembic import is_bookkeeping

            plan = self.plan(to)
            counts: dict[str, int] = {}
            names: dict[str, str] = {}
            for s in plan.statements:  # what the revisions run, as `up` counts it: bookkeeping aside
                names[s.version] = s.name
                counts[s.version] = counts.get(s.version, 0) + (0 if is_bookkeeping(s.sql) else 1)
            would_apply = tuple(AppliedMigration(version=v, name=names[v], statements=n, duration_ms=0)
                                for v, n in counts.items())
            return TargetUpResult(engine="postgres", target=self.label, embedded=self.embedded,
                                  applied=would_apply, dry_run=True, started=plan.started)
        return self._migrate(to or "heads", upgrade=True)

    def down(self, to: str) -> TargetUpResult:
        """Downgrade to `to` (a revision id, or 'base' to revert every revision), under the lock."""
        if not to or not to.strip():
            raise ConfigError("to", "name the revision to go down to, or 'base'")
        return self._migrate(to.strip(), upgrade=False)

    def drift(self) -> tuple[str, ...]:
        """How the database differs from models.py, limited to chmigrate's own tables; () when none."""
        from chmigrate.targets.pg_alembic import drift

        with self._translated(), self._engine.connect() as conn:
            return drift(self.project_dir, conn)

    def new_revision(self, message: str, *, autogenerate: bool = False) -> Path:
        """Write versions/NNNN_<slug>.py; with autogenerate, filled with what models.py adds.

        Autogenerate compares against this database (which should be at the head) and sees
        only chmigrate's own tables.
        """
        from chmigrate.targets.pg_alembic import new_revision

        if not message.strip():
            raise ConfigError("message", "give the new revision a short description")
        if not autogenerate:
            return self._load(lambda d: new_revision(d, message.strip()), self.project_dir)
        with self._translated(), self._engine.connect() as conn:
            path = new_revision(self.project_dir, message.strip(), conn)
            conn.commit()
            return path

    @contextmanager
    def lock(self, timeout: float) -> Iterator[LockHold]:
        """Hold the migration lock (an advisory lock on a dedicated connection); LockTimeout otherwise."""
        from chmigrate.targets.pg_lock import LockHold as LockHeld
        from chmigrate.targets.pg_lock import advisory_lock

        if self._lock_depth:  # already held by this object (e.g. around a ClickHouse + Postgres run)
            self._lock_depth += 1
            try:
                yield LockHeld(waited=False, wait_seconds=0.0)
            finally:
                self._lock_depth -= 1
            return
        with self._translated(), advisory_lock(self._engine, timeout, self.label) as hold:
            self._lock_depth = 1
            try:
                yield hold
            finally:
                self._lock_depth = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self._engine.dispose()
        finally:
            if self._server is not None:
                server, self._server = self._server, None
                server.stop()

    def __enter__(self) -> Postgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------
    def _migrate(self, destination: str, *, upgrade: bool) -> TargetUpResult:
        from chmigrate.targets.pg_alembic import StepRecorder, current_heads, run_downgrade, run_upgrade

        revisions, _, _ = self._state()
        by_id = {r.id: r for r in revisions}
        with self.lock(self.lock_timeout) as hold:
            lock = LockResult("postgres-advisory", "linearizable", hold.wait_seconds if hold.waited else 0.0)
            with self._translated(), self._engine.connect() as conn:
                heads = current_heads(conn)
                self._refuse_unknown(self._unknown(heads))
                conn.commit()
                recorder = StepRecorder(conn)
                try:
                    (run_upgrade if upgrade else run_downgrade)(self.project_dir, conn, destination, recorder)
                except Exception as exc:
                    raise self._failed(exc, recorder, heads, by_id, upgrade) from None
                steps = recorder.steps
        applied = tuple(
            AppliedMigration(version=s.revision, name=by_id[s.revision].name if s.revision in by_id else "",
                             statements=s.statements, duration_ms=s.duration_ms)
            for s in steps
        )
        at = heads if not applied else (destination,) if not upgrade else None
        return TargetUpResult(engine="postgres", target=self.label, embedded=self.embedded, applied=applied,
                              started=self._started, at=at, lock=None if self.embedded else lock)

    def _failed(self, exc: Exception, recorder: Any, heads: tuple[str, ...], by_id: dict[str, Revision],
                upgrade: bool) -> BaseException:
        """The error for a revision that failed part-way: names its file and statement."""
        from chmigrate.targets.pg_errors import one_line, statement_error

        if isinstance(exc, ChmigrateError):
            return exc
        error = self._translate(exc)
        if not _is_statement_failure(exc):
            return error
        failing = self._failing_revision(heads, recorder, by_id, upgrade)
        if failing is None:
            return error
        inner = statement_error(exc, self._secrets)
        sql = one_line(recorder.last_statement or "", 120)
        return StatementFailed(failing.path, max(recorder.count, 1),
                               failing.upgrade_line if upgrade else failing.downgrade_line,
                               f"{inner.message}" + (f" in: {sql}" if sql else ""),
                               hint="the revisions before it are applied and recorded; this one was "
                               "rolled back")

    def _failing_revision(self, heads: tuple[str, ...], recorder: Any, by_id: dict[str, Revision],
                          upgrade: bool) -> Revision | None:
        order = list(by_id)
        done = [s.revision for s in recorder.steps]
        if upgrade:
            start = order.index(heads[0]) + 1 if heads and heads[0] in by_id else 0
            pending = [r for r in order[start:] if r not in done]
            return by_id[pending[0]] if pending else None
        if not heads or heads[0] not in by_id:
            return None
        remaining = [r for r in reversed(order[: order.index(heads[0]) + 1]) if r not in done]
        return by_id[remaining[0]] if remaining else None

    def _state(self) -> tuple[list[Revision], set[str], list[str]]:
        """(revisions on disk in order, ids applied, ids recorded in the database but not on disk)."""
        from chmigrate.targets.pg_alembic import applied_ids, current_heads, revisions, script_directory

        with self._translated(), self._engine.connect() as conn:
            heads = current_heads(conn)
        script = self._load(script_directory, self.project_dir)
        ordered = self._load(revisions, script)
        applied, unknown = applied_ids(script, heads)
        return ordered, applied, unknown

    def _unknown(self, heads: tuple[str, ...]) -> list[str]:
        from chmigrate.targets.pg_alembic import applied_ids, script_directory

        return applied_ids(self._load(script_directory, self.project_dir), heads)[1]

    def _refuse_unknown(self, unknown: list[str]) -> None:
        if unknown:
            from chmigrate.targets.pg_env import SCHEMA, VERSION_TABLE

            raise StateError(
                f"{SCHEMA}.{VERSION_TABLE} on {self.label} records revision {', '.join(unknown)}, "
                f"which is not in {self.project_dir / 'versions'}",
                hint="was a revision file removed or renamed, or is this checkout older than the database?",
            )

    def _single_head(self) -> str | None:
        from chmigrate.targets.pg_alembic import current_heads

        with self._translated(), self._engine.connect() as conn:
            heads = current_heads(conn)
        if len(heads) > 1:
            raise StateError(f"the database records several heads ({', '.join(heads)}); merge them first",
                             hint="alembic merge, then chmigrate up")
        return heads[0] if heads else None

    def _load(self, fn: Callable[[_A], _R], arg: _A) -> _R:
        """Call fn(arg), turning a broken revision file into a MigrationFileError."""
        from chmigrate.errors import MigrationFileError
        from chmigrate.targets.pg_errors import one_line

        try:
            return fn(arg)
        except ChmigrateError:
            raise
        except Exception as exc:
            where = getattr(exc, "filename", None) or str(self.project_dir / "versions")
            raise MigrationFileError(str(where), one_line(f"{type(exc).__name__}: {exc}")) from None

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except ChmigrateError:
            raise
        except Exception as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: BaseException) -> BaseException:
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError
        from sqlalchemy.exc import DBAPIError

        from chmigrate.targets.pg_errors import (
            alembic_error,
            connect_error,
            is_connect_failure,
            statement_error,
        )

        if isinstance(exc, (CommandError, RevisionError)):
            return alembic_error(exc, self._secrets)
        if isinstance(exc, DBAPIError):
            if is_connect_failure(exc):
                return connect_error(exc, self.label, self._secrets)
            return statement_error(exc, self._secrets)
        return exc


def _is_statement_failure(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    from chmigrate.targets.pg_errors import is_connect_failure

    return isinstance(exc, DBAPIError) and not is_connect_failure(exc)


def check_url(url: str, setting: str = "postgres_url") -> None:
    """ConfigError (naming `setting`, never the password) unless `url` is a postgresql:// URL that parses."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad or out-of-range port
    except ValueError as exc:
        raise ConfigError(setting, f"not a valid URL: {mask_url(url)} ({redact(str(exc), url_secrets(url))})",
                          hint="the form is postgresql://USER@HOST:PORT/DATABASE") from None
    if parts.scheme.lower() not in _DRIVERS:
        raise ConfigError(setting, f"{mask_url(url)}: the scheme must be postgresql://")


def _engine(url: str, password: str | None, connect_timeout: float) -> tuple[Engine, tuple[str | None, ...]]:
    """A SQLAlchemy engine on psycopg 3 without pooling, and the secrets to keep out of messages.

    The password: `password` (the password settings), else the URL's userinfo, else its `?password=`."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    from sqlalchemy.pool import NullPool

    check_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError("postgres_url",
                          f"not a valid URL: {mask_url(url)} ({type(exc).__name__})") from None
    if parsed.drivername not in _DRIVERS:
        raise ConfigError("postgres_url", f"{mask_url(url)}: the scheme must be postgresql://")
    secrets = (password, parsed.password if isinstance(parsed.password, str) else None, *url_secrets(url))
    parsed = parsed.set(drivername="postgresql+psycopg")
    if password is not None:
        parsed = parsed.set(password=password)
    if parsed.password is not None and "password" in parsed.query:  # one password only: the stronger source
        parsed = parsed.difference_update_query(["password"])
    connect_args: dict[str, Any] = {"connect_timeout": max(2, math.ceil(connect_timeout))}
    if "application_name" not in parsed.query:
        connect_args["application_name"] = APPLICATION_NAME
    engine = create_engine(parsed, poolclass=NullPool, connect_args=connect_args, hide_parameters=True)
    return engine, secrets
