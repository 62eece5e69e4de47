"""`diff`, `verify` and `baseline`: the live schema against the schema the migrations produce."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from chmigrate.connect import ClickHouseTarget, load_migrations, open_clickhouse
from chmigrate.errors import StateError, UsageError
from chmigrate.results import Check, MigrationStatus, OnReplica, Problem, TargetStatus
from chmigrate.schema.compare import Comparison, ReplicaComparison, compare
from chmigrate.schema.diff import Change
from chmigrate.schema.objects import Schema
from chmigrate.schema.sources import defining_files
from chmigrate.targets.clickhouse import ClickHouse

if TYPE_CHECKING:  # what only verify and baseline use is imported there: `diff` starts without it
    from chmigrate.migrations.discovery import Migration
    from chmigrate.migrations.ledger import Ledger, VersionState
    from chmigrate.schema.reconcile import Refusal


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
    desired_source: str  # "replay", "cache" or "snapshot" (the committed file)
    snapshot: str  # the committed snapshot: "current", "stale" or "missing"
    target_queries: int
    cluster: str | None = None  # with a cluster on a server: every replica compared (`replicas`)
    replicas: tuple[ReplicaComparison, ...] = ()


def _compare(ch: ClickHouse, tgt: ClickHouseTarget, migrations: tuple[Migration, ...],
             dev_database: str | None, *, every_replica: bool = True) -> Comparison:
    """With a cluster on a server (not the embedded engine, a single node), every replica of it."""
    return compare(ch, migrations, database=tgt.database, ledger=tgt.ledger_table,
                   cache_dir=tgt.local_dir / "cache", dev_database=dev_database, snapshot=tgt.snapshot_path,
                   replicated=tgt.cluster is not None,
                   cluster=tgt.cluster if every_replica and not ch.embedded else None)


def _drift(ch: ClickHouse, tgt: ClickHouseTarget, migrations: tuple[Migration, ...],
           cmp: Comparison) -> ClickHouseDrift:
    return ClickHouseDrift(
        target=ch.label, embedded=ch.embedded, database=tgt.database, changes=cmp.changes,
        desired=cmp.desired,
        files=defining_files(migrations) if cmp.changes else {},  # read only to annotate differences
        desired_cached=cmp.desired_cached,
        desired_engine=cmp.desired_engine, desired_source=cmp.desired_source, snapshot=cmp.snapshot,
        target_queries=cmp.target_queries, cluster=cmp.cluster, replicas=cmp.replicas,
    )


def clickhouse_diff(tgt: ClickHouseTarget, *, dev_database: str | None = None) -> ClickHouseDrift:
    """Read-only (unless a dev database is asked for): the differences between code and target."""
    migrations = load_migrations(tgt)
    with open_clickhouse(tgt) as ch:
        return _drift(ch, tgt, migrations, _compare(ch, tgt, migrations, dev_database))


def clickhouse_verify(tgt: ClickHouseTarget, *, dev_database: str | None = None) -> list[Check]:
    from chmigrate.migrations.planner import statuses
    from chmigrate.operations import clickhouse as ch_ops
    from chmigrate.operations.mvcheck import mismatches

    migrations = load_migrations(tgt)
    with open_clickhouse(tgt) as ch:
        ledger = ch_ops.ledger_for(ch, tgt)
        states = ledger.states()
        rows = statuses(migrations, states)
        problems = tuple(r for r in rows if r.state != "applied")
        checks = [Check("clickhouse", "clickhouse.migrations", not problems, problems)]
        drift = _drift(ch, tgt, migrations, _compare(ch, tgt, migrations, dev_database))
        found: tuple[Problem, ...] = drift.changes
        if drift.cluster is not None:  # each difference on the replica that has it
            found = tuple(OnReplica(r.replica.label, c) for r in drift.replicas for c in r.changes)
        checks.append(Check("clickhouse", "clickhouse.drift", not found, found))
        bad_views = tuple(mismatches(ch, tgt.database))
        checks.append(Check("clickhouse", "clickhouse.views", not bad_views, bad_views))
        if drift.cluster is not None:
            checks.append(_replicas_check(ch, tgt, migrations, rows, drift))
        snap = drift.snapshot
        if snap != "missing":  # a project that commits a snapshot must keep it current
            checks.append(Check("clickhouse", "clickhouse.snapshot", snap == "current",
                                () if snap == "current" else (f"{tgt.snapshot_path}: stale",)))
        return checks


def _replicas_check(ch: ClickHouse, tgt: ClickHouseTarget, migrations: tuple[Migration, ...],
                    rows: Sequence[MigrationStatus], drift: ClickHouseDrift) -> Check:
    """Every replica holds the same schema and the same ledger as the first one."""
    from chmigrate.operations.replicas import ledger_disagreements, replica_statuses, schema_disagreements

    ledgers = replica_statuses(ch, tgt, [r.replica for r in drift.replicas], migrations, rows)
    found = schema_disagreements(drift.replicas) + ledger_disagreements(ledgers)
    return Check("clickhouse", "clickhouse.replicas", not found, found)


def postgres_checks(status: TargetStatus, drift: tuple[str, ...]) -> list[Check]:
    pending = tuple(m for m in status.migrations if m.state != "applied")
    return [
        Check("postgres", "postgres.revisions", not pending, pending),
        Check("postgres", "postgres.drift", not drift, drift),
    ]


@dataclass(frozen=True)
class BaselineResult:
    target: str
    embedded: bool
    recorded: tuple[str, ...]  # versions recorded as applied
    changes: tuple[Change, ...]  # the differences found before anything was applied (empty: none)
    desired: Schema
    database: str
    reconcile: bool = False
    dry_run: bool = False
    statements: tuple[str, ...] = ()  # with --reconcile: the statements applied (or, dry run, to apply)
    refused: tuple[tuple[Change, Refusal], ...] = ()  # with --reconcile: differences it will not apply, and why
    recorded_by: str = ""  # os user@host (database user)
    recorded_at: str = ""  # server time of the ledger rows (UTC)

    @property
    def adopted(self) -> bool:
        return bool(self.recorded)


def compare_live(ch: ClickHouse, tgt: ClickHouseTarget, migrations: tuple[Migration, ...]) -> Comparison:
    """The live schema against what `migrations` produce (read-only on the target)."""
    return _compare(ch, tgt, migrations, None, every_replica=False)  # `up`'s preflight: the node it talks to


def _blocking(states: Mapping[str, VersionState]) -> list[str]:
    """Why the ledger forbids baseline, one entry per version, each with the command that fixes it. A
    version whose only history is a failure of its first statement, nothing applied, does not block."""
    problems = []
    for v, st in sorted(states.items(), key=lambda kv: int(kv[0])):
        if not st.applied and st.in_flight is None:
            continue  # rolled back: as if never run
        if st.applied:
            problems.append(f"{v} is applied (`chmigrate down --to` below it first, or baseline only a "
                            "database chmigrate has not applied)")
            continue
        ran = {r.event for r in st.history} - {"started", "failed"}
        if st.in_flight == "up" and st.done == 0 and st.failed_statement == 1 and not ran:
            continue  # statement 1 failed on the server: nothing was applied
        if st.in_flight == "up" and st.done == 0 and not ran:
            problems.append(f"{v} was interrupted with the outcome of statement 1 unknown (check the database, "
                            f"then `chmigrate resolve {v} --rolled-back`, or `--applied` if it is complete)")
            continue
        what = "down part" if st.in_flight == "down" else "migration"
        problems.append(f"{v} is partly applied ({st.done} statement(s) of its {what} done: undo them and run "
                        f"`chmigrate resolve {v} --rolled-back`, or finish it by hand and run "
                        f"`chmigrate resolve {v} --applied`)")
    return problems


def _record(ledger: Ledger, chosen: tuple[Migration, ...], note: str) -> tuple[str, str]:
    from chmigrate.migrations.ledger import Subject, cumulative_hash

    ledger.ensure()
    for m in chosen:
        ledger.record(Subject(m.version, m.name, m.checksum, len(m.up)), event="baselined",
                      statement_index=len(m.up), cumulative_hash=cumulative_hash(s.raw for s in m.up),
                      error=f"{note} ({ledger.os_user}@{ledger.host})")
    states = ledger.states()
    last = states.get(chosen[-1].version)
    return f"{ledger.os_user}@{ledger.host}", last.recorded_at if last else ""


def baseline(tgt: ClickHouseTarget, *, to: str, reconcile: bool = False, dry_run: bool = False) -> BaselineResult:
    """Adopt a database built by hand: record versions <= `to` as applied (event `baselined`) if the live
    schema equals what they produce. With `reconcile`, first apply the differences ClickHouse changes in
    place without touching data (comments, an output-preserving view query, metadata-only settings), then
    check that none is left. Refuses, applying nothing, otherwise; `dry_run` only reports."""
    from chmigrate.operations import clickhouse as ch_ops
    from chmigrate.schema.reconcile import split
    from chmigrate.schema.render import reconcile_statements

    migrations = load_migrations(tgt)
    try:
        limit = int(to)
    except ValueError:
        raise UsageError(f"--to {to!r} is not a version number") from None
    chosen = tuple(m for m in migrations if m.number <= limit)
    if not any(m.number == limit for m in migrations):
        raise UsageError(f"--to {to}: no migration with that version")
    database = tgt.database
    with open_clickhouse(tgt) as ch:
        ledger = ch_ops.ledger_for(ch, tgt)

        def assess() -> BaselineResult:
            problems = _blocking(ledger.states())
            if problems:
                raise StateError("baseline adopts only versions chmigrate has not run; the ledger records: "
                                 + "; ".join(problems), hint="`chmigrate status` shows every version's state")
            cmp = _compare(ch, tgt, chosen, None)
            result = BaselineResult(ch.label, ch.embedded, (), cmp.changes, cmp.desired, database,
                                    reconcile=reconcile, dry_run=dry_run)
            if not reconcile:
                return result
            ok, refused = split(cmp.changes)
            return replace(result, statements=reconcile_statements(ok, cmp.desired, database=database),
                           refused=refused)

        def refusing(r: BaselineResult) -> bool:
            return bool(r.refused or (r.changes and not reconcile))

        first = assess()  # read-only: a refusal or a dry run writes nothing, not even the lock
        if refusing(first) or dry_run:
            return first
        with ch_ops.run_lock(ch, tgt) as lock:
            result = assess()  # again under the lock: another run may have changed the ledger or schema
            if refusing(result):
                return result
            if result.statements:
                ch.use_database(database)  # names inside view queries are unqualified
                for statement in result.statements:
                    lock.check()
                    ch.execute(statement)
                left = _compare(ch, tgt, chosen, None).changes
                if left:
                    from chmigrate.schema.render import describe

                    raise StateError(f"after applying {len(result.statements)} reconciling statement(s), `diff` "
                                     f"still finds {len(left)} difference(s) ({describe(left[0])}); nothing "
                                     "recorded", hint="`chmigrate diff` shows them; fix them or the migrations, "
                                     "then run baseline again")
            note = (f"baselined after reconciling {len(result.changes)} difference(s) in place" if result.changes
                    else "baselined: the live schema matched the migrations")
            who, when = _record(ledger, chosen, note)
            return replace(result, recorded=tuple(m.version for m in chosen), recorded_by=who, recorded_at=when)
