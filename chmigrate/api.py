"""The public library: one function per command. Each takes Settings and returns a frozen
result; none prints. The CLI is a thin layer over these.

ClickHouse runs first, then Postgres. When a Postgres server is named by URL its advisory lock
is held around both (linearizable); see chmigrate.migrations.lock for the other cases.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from chmigrate.errors import UsageError
from chmigrate.migrations import filenames
from chmigrate.migrations.discovery import discover
from chmigrate.migrations.executor import Reporter
from chmigrate.operations import clickhouse as ch_ops
from chmigrate.results import PlanResult, StatusResult, TargetPlan, TargetStatus, TargetUpResult, UpResult
from chmigrate.settings import Settings

if TYPE_CHECKING:
    from chmigrate.operations.drift import BaselineResult, Check, ClickHouseDrift
    from chmigrate.targets.postgres import Postgres


@contextmanager
def open_postgres(settings: Settings) -> Iterator[Postgres]:
    from chmigrate.targets.postgres import Postgres, PostgresConfig

    config = PostgresConfig(url=settings.postgres_url, password=settings.postgres_password,
                            local_dir=settings.local_dir / "postgres", project_dir=settings.postgres_dir,
                            connect_timeout=settings.connect_timeout, lock_timeout=settings.lock_timeout)
    with Postgres.connect(config) as pg:
        yield pg


def _one_engine_for(option: str, settings: Settings) -> None:
    if len(settings.only) > 1:
        raise UsageError(f"{option} names a version of one engine: add --only clickhouse or --only postgres")


def status(settings: Settings) -> StatusResult:
    targets: list[TargetStatus] = []
    if settings.wants("clickhouse"):
        targets.append(ch_ops.status(settings))
    if settings.wants("postgres"):
        with open_postgres(settings) as pg:
            targets.append(pg.status())
    return StatusResult(tuple(targets))


def plan(settings: Settings, *, to: str | None = None) -> PlanResult:
    if to is not None:
        _one_engine_for("--to", settings)
    targets: list[TargetPlan] = []
    if settings.wants("clickhouse"):
        targets.append(ch_ops.plan(settings, to=to))
    if settings.wants("postgres"):
        with open_postgres(settings) as pg:
            targets.append(pg.plan(to))
    return PlanResult(tuple(targets))


def up(settings: Settings, *, to: str | None = None, dry_run: bool = False,
       allow_changed: Collection[str] = (), retry: bool = False,
       reporter: Reporter | None = None) -> UpResult:
    """Apply pending migrations: ClickHouse, then Postgres."""
    if to is not None:
        _one_engine_for("--to", settings)
    targets: list[TargetUpResult] = []
    with ExitStack() as stack:
        pg = stack.enter_context(open_postgres(settings)) if settings.wants("postgres") else None
        covered = pg is not None and not pg.embedded and not dry_run
        if covered:
            assert pg is not None
            stack.enter_context(pg.lock(settings.lock_timeout))
        if settings.wants("clickhouse"):
            targets.append(ch_ops.up(settings, to=to, dry_run=dry_run, allow_changed=allow_changed,
                                     retry=retry, reporter=reporter, lock_covered=covered))
        if pg is not None:
            targets.append(pg.up(to=to, dry_run=dry_run))
    return UpResult(tuple(targets))


def down(settings: Settings, *, to: str, dry_run: bool = False, reporter: Reporter | None = None) -> UpResult:
    """Undo migrations newer than `to` (Postgres: an Alembic revision or 'base'; ClickHouse: a version, 0 for
    all), newest first."""
    _one_engine_for("down --to", settings)
    if settings.wants("clickhouse"):
        return UpResult((ch_ops.down(settings, to=to, dry_run=dry_run, reporter=reporter),))
    with open_postgres(settings) as pg:
        if dry_run:
            raise UsageError("down --dry-run is not available for Postgres; `alembic downgrade --sql` "
                             "semantics are not offered")
        return UpResult((pg.down(to),))


@dataclass(frozen=True)
class PostgresDrift:
    target: str
    embedded: bool
    differences: tuple[str, ...]


@dataclass(frozen=True)
class DiffResult:
    clickhouse: ClickHouseDrift | None
    postgres: PostgresDrift | None

    @property
    def drift(self) -> bool:
        return bool((self.clickhouse and self.clickhouse.changes) or (self.postgres and self.postgres.differences))


def diff(settings: Settings, *, dev_database: str | None = None) -> DiffResult:
    """Compare the live schema with the one the migrations produce. Sends no write to the target
    (except, with `dev_database`, into that scratch database)."""
    from chmigrate.operations.drift import clickhouse_diff

    ch = clickhouse_diff(settings, dev_database=dev_database) if settings.wants("clickhouse") else None
    pg = None
    if settings.wants("postgres"):
        with open_postgres(settings) as p:
            pg = PostgresDrift(p.label, p.embedded, p.drift())
    return DiffResult(ch, pg)


@dataclass(frozen=True)
class VerifyResult:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def verify(settings: Settings, *, dev_database: str | None = None) -> VerifyResult:
    """Every migration applied with matching checksums, nothing unknown/failed/half-applied, no drift,
    and every materialized view fits its target."""
    from chmigrate.operations.drift import clickhouse_verify, postgres_checks

    checks: list[Check] = []
    if settings.wants("clickhouse"):
        checks += clickhouse_verify(settings, dev_database=dev_database)
    if settings.wants("postgres"):
        with open_postgres(settings) as p:
            checks += postgres_checks(p.status(), p.drift())
    return VerifyResult(tuple(checks))


def baseline(settings: Settings, *, to: str, reconcile: bool = False, dry_run: bool = False) -> BaselineResult:
    """Record ClickHouse versions up to `to` as applied if, and only if, the live schema already matches;
    with `reconcile`, after applying the differences that change in place without touching data."""
    from chmigrate.operations.drift import baseline as run

    return run(settings, to=to, reconcile=reconcile, dry_run=dry_run)


def resolve(settings: Settings, version: str, outcome: Literal["applied", "rolled_back"]) -> str:
    """Mark a dirty ClickHouse version by hand after a person fixed the database."""
    return ch_ops.resolve(settings, version, outcome)


def unlock(settings: Settings) -> list[str]:
    """Release a stale ClickHouse lock (KeeperMap claim or lease) left by a crashed run."""
    return ch_ops.unlock(settings)


def new(settings: Settings, name: str) -> Path:
    """Scaffold the next version's file in the migrations folder and return its path."""
    directory = settings.migrations_dir
    directory.mkdir(parents=True, exist_ok=True)
    existing = (discover(directory, settings.variables, allow_gaps=settings.allow_version_gaps)
                if any(directory.glob("*.sql")) else ())
    number = (existing[-1].number + 1) if existing else 1
    width = max([filenames.WIDTH] + [len(m.version) for m in existing])
    try:
        filename = filenames.format_name(number, name, width)
    except ValueError as exc:
        raise UsageError(f"NAME {name!r}: {exc}") from None
    path = directory / filename
    path.write_text(
        f"-- {filename}: describe the change here.\n"
        "-- Statements end with ';'. Prefer `CREATE ... IF NOT EXISTS`: such statements are safe to rerun\n"
        "-- after an interrupted run.\n\n"
        "\n\n-- chmigrate:down\n-- Statements that undo the above (optional; delete this part if there are none).\n",
        encoding="utf-8",
    )
    return path
