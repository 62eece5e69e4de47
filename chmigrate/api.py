"""The public library: one function per command. Each takes Settings and returns a frozen
result; none prints. The CLI is a thin layer over these."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from chmigrate.connect import clickhouse_database, open_clickhouse
from chmigrate.errors import UsageError
from chmigrate.migrations import filenames
from chmigrate.migrations.discovery import Migration, discover
from chmigrate.migrations.executor import Reporter, apply_steps
from chmigrate.migrations.ledger import Ledger
from chmigrate.migrations.planner import plan_up, statuses
from chmigrate.results import (
    PlannedStatement,
    PlanResult,
    StatusResult,
    TargetPlan,
    TargetStatus,
    TargetUpResult,
    UpResult,
)
from chmigrate.settings import Settings
from chmigrate.targets.clickhouse import ClickHouse, use_database


def load_migrations(settings: Settings) -> tuple[Migration, ...]:
    return discover(settings.migrations_dir, settings.variables)


def _ledger(ch: ClickHouse, settings: Settings) -> Ledger:
    return Ledger(ch, clickhouse_database(settings), settings.ledger_table,
                  db_user=settings.clickhouse_user or "")


def clickhouse_status(settings: Settings) -> TargetStatus:
    migrations = load_migrations(settings)
    with open_clickhouse(settings) as ch:
        states = _ledger(ch, settings).states()
        return TargetStatus("clickhouse", ch.label, ch.embedded, tuple(statuses(migrations, states)))


def status(settings: Settings) -> StatusResult:
    targets = []
    if settings.wants("clickhouse"):
        targets.append(clickhouse_status(settings))
    return StatusResult(tuple(targets))


def clickhouse_plan(settings: Settings, *, to: str | None = None,
                    allow_changed: Collection[str] = (), retry: bool = False) -> TargetPlan:
    migrations = load_migrations(settings)
    with open_clickhouse(settings) as ch:
        steps = plan_up(migrations, _ledger(ch, settings).states(), to=to, allow_changed=allow_changed,
                        retry_failed=retry)
        rows = tuple(
            PlannedStatement(s.migration.version, s.migration.name, str(s.migration.path), st.index, st.line,
                             st.sql)
            for s in steps for st in s.migration.up[s.start - 1:]
        )
        return TargetPlan("clickhouse", ch.label, ch.embedded, rows)


def plan(settings: Settings, *, to: str | None = None) -> PlanResult:
    targets = []
    if settings.wants("clickhouse"):
        targets.append(clickhouse_plan(settings, to=to))
    return PlanResult(tuple(targets))


def clickhouse_up(settings: Settings, *, to: str | None = None, dry_run: bool = False,
                  allow_changed: Collection[str] = (), retry: bool = False,
                  reporter: Reporter | None = None) -> TargetUpResult:
    migrations = load_migrations(settings)
    with open_clickhouse(settings) as ch:
        ledger = _ledger(ch, settings)
        steps = plan_up(migrations, ledger.states(), to=to, allow_changed=allow_changed, retry_failed=retry)
        if dry_run:
            return TargetUpResult("clickhouse", ch.label, ch.embedded, (), dry_run=True,
                                  notes=tuple(f"would apply {s.migration.filename}" for s in steps))
        if not steps:
            return TargetUpResult("clickhouse", ch.label, ch.embedded, ())
        ledger.ensure()
        use_database(ch, ledger.database)
        applied = apply_steps(ch, ledger, steps, reporter, settings.secrets)
        return TargetUpResult("clickhouse", ch.label, ch.embedded, tuple(applied))


def up(settings: Settings, *, to: str | None = None, dry_run: bool = False,
       allow_changed: Collection[str] = (), retry: bool = False,
       reporter: Reporter | None = None) -> UpResult:
    targets = []
    if settings.wants("clickhouse"):
        targets.append(clickhouse_up(settings, to=to, dry_run=dry_run, allow_changed=allow_changed,
                                     retry=retry, reporter=reporter))
    return UpResult(tuple(targets))


def new(settings: Settings, name: str) -> Path:
    """Scaffold the next version's file in the migrations folder and return its path."""
    directory = settings.migrations_dir
    directory.mkdir(parents=True, exist_ok=True)
    existing = discover(directory, settings.variables) if any(directory.glob("*.sql")) else ()
    number = (existing[-1].number + 1) if existing else 1
    width = max([filenames.WIDTH] + [len(m.version) for m in existing])
    try:
        filename = filenames.format_name(number, name, width)
    except ValueError as exc:
        raise UsageError(f"NAME {name!r}: {exc}") from None
    path = directory / filename
    path.write_text(
        f"-- {filename}: describe the change here.\n"
        "-- Statements end with ';'. Write `CREATE ... IF NOT EXISTS` where you can: such statements are\n"
        "-- safe to rerun after an interrupted run.\n\n"
        "\n\n-- chmigrate:down\n-- Statements that undo the above (optional; delete this part if there are none).\n",
        encoding="utf-8",
    )
    return path
