"""`diff`, `verify` and `baseline`: the live schema against the schema the migrations produce."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chmigrate.connect import clickhouse_database, open_clickhouse
from chmigrate.errors import StateError, UsageError
from chmigrate.migrations.discovery import Migration
from chmigrate.migrations.ledger import Subject, cumulative_hash
from chmigrate.migrations.planner import statuses
from chmigrate.operations import clickhouse as ch_ops
from chmigrate.operations.mvcheck import mismatches
from chmigrate.results import TargetStatus
from chmigrate.schema.compare import Comparison, compare
from chmigrate.schema.diff import Change
from chmigrate.schema.objects import Schema
from chmigrate.schema.sources import defining_files
from chmigrate.settings import Settings
from chmigrate.targets.clickhouse import ClickHouse


@dataclass(frozen=True)
class ClickHouseDrift:
    target: str
    embedded: bool
    database: str
    changes: tuple[Change, ...]
    desired: Schema
    files: Mapping[str, str]  # object name -> the migration file that defines it
    desired_cached: bool
    desired_engine: str
    target_queries: int


@dataclass(frozen=True)
class Check:
    engine: str
    name: str
    passed: bool
    details: tuple[str, ...] = ()


def _compare(ch: ClickHouse, settings: Settings, migrations: tuple[Migration, ...],
             dev_database: str | None) -> Comparison:
    return compare(ch, migrations, database=clickhouse_database(settings), ledger=settings.ledger_table,
                   cache_dir=settings.local_dir / "cache", dev_database=dev_database)


def _drift(ch: ClickHouse, settings: Settings, migrations: tuple[Migration, ...], cmp: Comparison) -> ClickHouseDrift:
    return ClickHouseDrift(
        target=ch.label, embedded=ch.embedded, database=clickhouse_database(settings), changes=cmp.changes,
        desired=cmp.desired, files=defining_files(migrations), desired_cached=cmp.desired_cached,
        desired_engine=cmp.desired_engine, target_queries=cmp.target_queries,
    )


def clickhouse_diff(settings: Settings, *, dev_database: str | None = None) -> ClickHouseDrift:
    """Read-only (unless a dev database is asked for): the differences between code and target."""
    migrations = ch_ops.load_migrations(settings)
    with open_clickhouse(settings) as ch:
        return _drift(ch, settings, migrations, _compare(ch, settings, migrations, dev_database))


def clickhouse_verify(settings: Settings, *, dev_database: str | None = None) -> list[Check]:
    migrations = ch_ops.load_migrations(settings)
    with open_clickhouse(settings) as ch:
        ledger = ch_ops.ledger_for(ch, settings)
        states = ledger.states()
        rows = statuses(migrations, states)
        by_version = {m.version: m for m in migrations}
        problems = []
        for r in rows:
            if r.state == "applied":
                continue
            m = by_version.get(r.version)
            where = str(m.path) if m else f"version {r.version} ({r.name})"
            if r.state == "changed" and m is not None:
                recorded = states[r.version].checksum if r.version in states else "?"
                problems.append(f"{where}: changed since applied (ledger checksum {recorded}, file checksum "
                                f"{m.checksum})")
            else:
                problems.append(f"{where}: {r.state}" + (f" ({r.detail})" if r.detail else ""))
        checks = [Check("clickhouse", "every migration applied, checksums match, nothing unknown, failed or "
                        "half-applied", not problems, tuple(problems))]
        cmp = _compare(ch, settings, migrations, dev_database)
        drift = _drift(ch, settings, migrations, cmp)
        from chmigrate.schema.render import describe

        checks.append(Check("clickhouse", "schema matches the migrations (no drift)", not drift.changes,
                            tuple(describe(c) for c in drift.changes)))
        bad_views = mismatches(ch, clickhouse_database(settings))
        checks.append(Check("clickhouse", "materialized views' output columns exist in their targets with the "
                            "same types", not bad_views, tuple(bad_views)))
        return checks


def postgres_checks(status: TargetStatus, drift: tuple[str, ...]) -> list[Check]:
    pending = [f"{m.version} ({m.name}): {m.state}" + (f" ({m.detail})" if m.detail else "")
               for m in status.migrations if m.state != "applied"]
    return [
        Check("postgres", "every revision applied, nothing unknown", not pending, tuple(pending)),
        Check("postgres", "chmigrate's tables match the models (no drift)", not drift, drift),
    ]


@dataclass(frozen=True)
class BaselineResult:
    target: str
    embedded: bool
    recorded: tuple[str, ...]  # versions recorded as applied
    changes: tuple[Change, ...]  # non-empty: refused
    desired: Schema
    database: str


def baseline(settings: Settings, *, to: str) -> BaselineResult:
    """Adopt a database built by hand: record versions <= `to` as applied only if the live schema equals
    what they produce. Refuses (returning the changes) otherwise."""
    migrations = ch_ops.load_migrations(settings)
    try:
        limit = int(to)
    except ValueError:
        raise UsageError(f"--to {to!r} is not a version number") from None
    chosen = tuple(m for m in migrations if m.number <= limit)
    if not any(m.number == limit for m in migrations):
        raise UsageError(f"--to {to}: no migration with that version")
    with open_clickhouse(settings) as ch:
        ledger = ch_ops.ledger_for(ch, settings)
        with ch_ops.run_lock(ch, settings):
            states = ledger.states()
            touched = [s.version for s in states.values() if s.applied or s.in_flight]
            if touched:
                raise StateError(f"the ledger already records versions ({', '.join(sorted(touched))}): baseline "
                                 "adopts only a database chmigrate has not managed yet",
                                 hint="`chmigrate status` shows them")
            cmp = _compare(ch, settings, chosen, None)
            result = BaselineResult(ch.label, ch.embedded, (), cmp.changes, cmp.desired,
                                    clickhouse_database(settings))
            if cmp.changes:
                return result
            ledger.ensure()
            for m in chosen:
                ledger.record(Subject(m.version, m.name, m.checksum, len(m.up)), event="baselined",
                              statement_index=len(m.up), cumulative_hash=cumulative_hash(s.raw for s in m.up),
                              error="baselined: the live schema matched the migrations")
            return BaselineResult(ch.label, ch.embedded, tuple(m.version for m in chosen), (), cmp.desired,
                                  result.database)
