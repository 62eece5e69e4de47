"""The public library: one function per command. Each takes Settings and returns a frozen
result; none prints. The CLI is a thin layer over these.

Settings are resolved once, at the top of each command, into the engines it uses (chmigrate.engines:
a ClickHouseEngine with its ClickHouseTarget, a PostgresEngine with its PostgresConfig), and every
read-only command composes them the same way.

ClickHouse runs first, then Postgres. The embedded engines serve only runs that name no server at all
(`Settings.check_servers`, checked first by every command that may use both engines). Every writing
command takes the ClickHouse database's run lock (chmigrate.operations.clickhouse.run_lock) and, when it
writes to a Postgres server, that server's advisory lock after it: always in that order (`writing`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from chmigrate.connect import ClickHouseTarget, load_migrations, open_clickhouse, resolve_clickhouse
from chmigrate.engines import ClickHouseEngine, PostgresDrift, PostgresEngine, RunOptions, engines
from chmigrate.errors import Refused, UsageError
from chmigrate.migrations import filenames
from chmigrate.migrations.discovery import Migration, discover
from chmigrate.results import (
    PlanResult,
    ReleasedClaim,
    StatusResult,
    TargetUpResult,
    UpResult,
)
from chmigrate.settings import Settings

if TYPE_CHECKING:
    from chmigrate.migrations.executor import Reporter
    from chmigrate.migrations.lock import LockInfo
    from chmigrate.operations.backfill import Reporter as BackfillReporter
    from chmigrate.operations.destruction import Consent
    from chmigrate.operations.drift import BaselineResult, ClickHouseDrift
    from chmigrate.operations.snapshot import SnapshotResult
    from chmigrate.results import BackfillResult, Check, DestructionReport, DoctorResult, LintResult
    from chmigrate.targets.clickhouse import ClickHouse
    from chmigrate.targets.postgres import Postgres


def _one_engine_for(option: str, settings: Settings) -> None:
    if len(settings.only) > 1:
        raise UsageError(f"{option} names a version of one engine: add --only clickhouse or --only postgres")


def status(settings: Settings) -> StatusResult:
    return StatusResult(tuple(e.status() for e in engines(settings)))


def plan(settings: Settings, *, to: str | None = None) -> PlanResult:
    found = engines(settings)
    if to is not None:
        _one_engine_for("--to", settings)
    return PlanResult(tuple(e.plan(RunOptions(to=to)) for e in found))


@contextmanager
def writing(found: Sequence[ClickHouseEngine | PostgresEngine], *,
            before_lock: Callable[[ClickHouse, ClickHouseTarget], None] | None = None) -> Iterator[Writers]:
    """Open the engines a writing command changes and take their run locks, always in one order: the
    ClickHouse database's run lock first, then (for a Postgres server) its advisory lock. `check` confirms
    both before every statement."""
    from chmigrate.operations import clickhouse as ch_ops

    target = next((e.target for e in found if isinstance(e, ClickHouseEngine)), None)
    migrations: tuple[Migration, ...] = ()
    postgres = next((e for e in found if isinstance(e, PostgresEngine)), None)
    if target is not None:
        migrations = load_migrations(target)  # a bad file is reported before anything is opened
    with ExitStack() as stack:
        ch = stack.enter_context(open_clickhouse(target)) if target is not None else None
        if ch is not None and target is not None and before_lock is not None:
            before_lock(ch, target)  # read-only checks that may refuse before anything is written
        lock = stack.enter_context(ch_ops.run_lock(ch, target)) if ch is not None and target else None
        pg = stack.enter_context(postgres.open()) if postgres is not None else None
        checks = [lock.check] if lock is not None else []
        if pg is not None and postgres is not None and not pg.embedded:
            checks.append(stack.enter_context(pg.lock(postgres.config.lock_timeout)).check)

        def check() -> None:
            for c in checks:
                c()

        yield Writers(target, ch, lock, pg, check, migrations)


@dataclass(frozen=True)
class Writers:
    target: ClickHouseTarget | None
    ch: ClickHouse | None
    lock: LockInfo | None
    pg: Postgres | None
    check: Callable[[], None]
    migrations: tuple[Migration, ...] = ()  # the ClickHouse files as read before anything was opened


def up(settings: Settings, *, to: str | None = None, dry_run: bool = False,
       allow_changed: Collection[str] = (), retry: bool = False,
       reporter: Reporter | None = None, consent: Consent = False) -> UpResult:
    """Apply pending migrations: ClickHouse, then Postgres, under both run locks.

    Pending ClickHouse statements that destroy stored data (see operations.destruction) run only with
    `consent`: True, or a function shown the report that answers; it is asked before anything is sent (and
    again under the lock only about what was not in that report). A protected environment refuses them."""
    from chmigrate.operations import clickhouse as ch_ops

    found = engines(settings)
    if to is not None:
        _one_engine_for("--to", settings)
    options = RunOptions(to=to, allow_changed=allow_changed, retry=retry, protected=settings.protected_by)
    if dry_run:
        return UpResult(tuple(e.dry_run(options) for e in found))
    targets: list[TargetUpResult] = []

    consented: list[DestructionReport | None] = [None]

    def preflight(ch: ClickHouse, target: ClickHouseTarget) -> None:
        ch_ops.check_existing(ch, target, to=to, allow_changed=allow_changed)
        consented[0] = ch_ops.check_destruction(ch, target, command="up", to=to, allow_changed=allow_changed,
                                                retry=retry, consent=consent, protected=settings.protected_by)

    with writing(found, before_lock=preflight) as w:
        if w.ch is not None and w.target is not None and w.lock is not None:
            targets.append(ch_ops.up(w.ch, w.target, w.lock, to=to, allow_changed=allow_changed, retry=retry,
                                     reporter=reporter, check=w.check, consent=consent, consented=consented[0],
                                     protected=settings.protected_by))
        if w.pg is not None:
            targets.append(w.pg.up(to=to))
    if w.target is not None and w.ch is not None and w.ch.embedded and targets:
        # a developer's run on the local engine keeps a committed snapshot current (never against a server:
        # there, a stale snapshot must fail `verify`)
        from dataclasses import replace

        from chmigrate.operations.snapshot import refresh_if_stale

        if refresh_if_stale(w.target, w.migrations):
            targets[0] = replace(targets[0], snapshot_written=str(w.target.snapshot_path))
    return UpResult(tuple(targets))


def down(settings: Settings, *, to: str, dry_run: bool = False, reporter: Reporter | None = None,
         consent: Consent = False) -> UpResult:
    """Undo migrations newer than `to` (Postgres: an Alembic revision or 'base'; ClickHouse: a version, 0 for
    all), newest first.

    ClickHouse statements that destroy stored data run only with `consent` (as for `up`). A protected
    environment refuses `down` outright, before anything is opened (a dry run still shows the report)."""
    from chmigrate.operations import clickhouse as ch_ops

    found = engines(settings)
    _one_engine_for("down --to", settings)
    if settings.protected and not dry_run:
        raise Refused(f"down refused: this environment is protected ({settings.protected_by}); nothing was "
                      "opened or sent", hint="a person changes that setting to proceed; no flag overrides it")
    (engine,) = found
    if isinstance(engine, ClickHouseEngine):
        if dry_run:
            with open_clickhouse(engine.target) as ch:
                return UpResult((ch_ops.down(ch, engine.target, None, to=to, protected=settings.protected_by),))
        consented: list[DestructionReport | None] = [None]

        def preflight(ch: ClickHouse, target: ClickHouseTarget) -> None:
            consented[0] = ch_ops.check_destruction(ch, target, command="down", to=to, consent=consent)

        with writing(found, before_lock=preflight) as w:
            assert w.ch is not None and w.target is not None
            return UpResult((ch_ops.down(w.ch, w.target, w.lock, to=to, reporter=reporter, check=w.check,
                                         consent=consent, consented=consented[0]),))
    if dry_run:
        raise UsageError("down --dry-run is not available for Postgres; `alembic downgrade --sql` "
                         "semantics are not offered")
    with writing(found) as w:
        assert w.pg is not None
        return UpResult((w.pg.down(to),))


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
    ch: ClickHouseDrift | None = None
    pg: PostgresDrift | None = None
    for e in engines(settings):
        if isinstance(e, ClickHouseEngine):
            ch = e.drift(dev_database)
        else:
            pg = e.drift(dev_database)
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
    return VerifyResult(tuple(c for e in engines(settings) for c in e.checks(dev_database)))


def baseline(settings: Settings, *, to: str, reconcile: bool = False, dry_run: bool = False) -> BaselineResult:
    """Record ClickHouse versions up to `to` as applied if, and only if, the live schema already matches;
    with `reconcile`, after applying the differences that change in place without touching data."""
    from chmigrate.operations.drift import baseline as run

    return run(resolve_clickhouse(settings), to=to, reconcile=reconcile, dry_run=dry_run)


def resolve(settings: Settings, version: str, outcome: Literal["applied", "rolled_back"]) -> str:
    """Mark a dirty ClickHouse version by hand after a person fixed the database; returns the version."""
    from chmigrate.operations import clickhouse as ch_ops

    with writing([ClickHouseEngine(resolve_clickhouse(settings))]) as w:
        assert w.ch is not None and w.target is not None
        return ch_ops.resolve(w.ch, w.target, version, outcome)


def unlock(settings: Settings, *, force: bool = False) -> tuple[ReleasedClaim, ...]:
    """Release expired ClickHouse lock claims (KeeperMap or lease), and live ones with `force`."""
    from chmigrate.operations import clickhouse as ch_ops

    return ch_ops.unlock(resolve_clickhouse(settings), force=force)


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
        raise UsageError(f"NAME {name!r}: {exc} (migration files are named {filenames.GRAMMAR}; a name is "
                         "letters, digits, '_' and '-')") from None
    path = directory / filename
    path.write_text(
        f"-- {filename}: describe the change here.\n"
        "-- Statements end with ';'. Prefer `CREATE ... IF NOT EXISTS`: such statements are safe to rerun\n"
        "-- after an interrupted run.\n\n"
        "\n\n-- chmigrate:down\n-- Statements that undo the above (optional; delete this part if there are none).\n",
        encoding="utf-8",
    )
    return path


def snapshot(settings: Settings, *, check: bool = False) -> SnapshotResult:
    """Write the committed desired-schema snapshot beside the ClickHouse migrations (no server needed); with
    `check`, write nothing and fail (CheckFailed) unless it is current."""

    from chmigrate.operations.snapshot import snapshot as run

    target = resolve_clickhouse(settings)
    return run(target, load_migrations(target), check=check)


def doctor(settings: Settings, *, since: float | None = None) -> DoctorResult:
    """Run the platform's troubleshooting checks (read-only) on every configured database; `since` (seconds)
    overrides the configured window."""
    from chmigrate.doctor import doctor as run

    return run(settings, since=since)


def lint(settings: Settings, *, paths: Sequence[str] = (), since: str | None = None,
         server_version: str | None = None) -> LintResult:
    """Lint the ClickHouse migrations: the pending ones, `paths`, or those changed since the git ref `since`,
    each in the context of the schema the migrations before it produce. Needs no server; with one
    configured, its ledger decides what is pending and its version is the default target version."""
    from chmigrate.lint import config
    from chmigrate.lint.run import lint as run

    return run(resolve_clickhouse(settings), config.load(settings.lint, settings.cluster), paths=paths, since=since,
               server_version=server_version)


def backfill(settings: Settings, view: str, *, date_from: str | None = None, date_to: str | None = None,
             dry_run: bool = False, include_current: bool = False,
             reporter: BackfillReporter | None = None) -> BackfillResult:
    """Rebuild a materialized view's TO target from its source, whole partitions at a time, under the run
    lock; each rebuilt partition is recorded in the ledger. A dry run takes no lock and writes nothing."""
    from chmigrate.operations import clickhouse as ch_ops
    from chmigrate.operations.backfill import backfill as run

    target = resolve_clickhouse(settings)
    if dry_run:
        with open_clickhouse(target) as ch:
            return run(ch, target.database, view, ledger=None, date_from=date_from, date_to=date_to, dry_run=True,
                       include_current=include_current, reporter=reporter)
    with writing([ClickHouseEngine(target)]) as w:
        assert w.ch is not None and w.target is not None
        ledger = ch_ops.ledger_for(w.ch, w.target)
        ledger.ensure()
        return run(w.ch, target.database, view, ledger=ledger, date_from=date_from, date_to=date_to,
                   include_current=include_current, reporter=reporter, check=w.check)
