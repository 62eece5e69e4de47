"""The ClickHouse half of each command: status, plan, up, down, resolve, unlock."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Literal

from chmigrate.connect import ClickHouseTarget, load_migrations, open_clickhouse
from chmigrate.errors import ConfigError, DatabaseError, MigrationFileError, StateError, UsageError
from chmigrate.migrations.cluster import ClusterDDL
from chmigrate.migrations.discovery import Migration
from chmigrate.migrations.executor import Reporter, apply_steps, run_down
from chmigrate.migrations.keeper_lock import KeeperLock, KeeperUnavailable
from chmigrate.migrations.ledger import ConsentNote, Ledger, Subject, VersionState, cumulative_hash
from chmigrate.migrations.lock import LeaseLock, LockInfo, hold
from chmigrate.migrations.outcome import Lookup, lookup, statement_id
from chmigrate.migrations.planner import Step, find, plan_down, plan_up, refuse_empty, statuses
from chmigrate.migrations.rerun import is_rerunnable
from chmigrate.operations import preflight
from chmigrate.operations.destruction import Approval, Consent, approve, candidates, measure
from chmigrate.results import (
    AcceptedChange,
    AppliedMigration,
    DestructionReport,
    LeaseReason,
    LockResult,
    PlannedStatement,
    Recovery,
    ReleasedClaim,
    SentStatement,
    TargetPlan,
    TargetStatus,
    TargetUpResult,
)
from chmigrate.targets.clickhouse import ClickHouse, Recorded, ScriptConnection


def is_replicated_database(engine: str | None) -> bool:
    """A database whose engine replicates its DDL itself (system.databases.engine)."""
    return engine == "Replicated"


def cluster_ddl(ch: ClickHouse, tgt: ClickHouseTarget, *, applying: bool = False) -> ClusterDDL | None:
    """How statements are sent to `tgt`: None without a cluster; with one, ON CLUSTER, or (the target
    database being Replicated, read from system.databases) as written, with Replicated* engines either way.
    `applying`: refused on the embedded engine, which is a single node (`plan` still shows the rewrite)."""
    if tgt.cluster is None:
        return None
    if applying and ch.embedded:
        raise ConfigError("cluster", f"{tgt.cluster!r} is set, but the embedded engine is a single node and "
                          "cannot run ON CLUSTER statements",
                          hint="unset CHMIGRATE_CLUSTER (or cluster in the config) for local runs, or point "
                          "--clickhouse-url at a node of the cluster")
    rows = ch.query("SELECT engine FROM system.databases WHERE name = {db:String}", {"db": tgt.database})
    return ClusterDDL(tgt.cluster, replicated_database=is_replicated_database(rows[0][0] if rows else None),
                      replica_path=tgt.replica_path, replica_name=tgt.replica_name, timeout=tgt.ddl_timeout)


def ledger_for(ch: ClickHouse, tgt: ClickHouseTarget) -> Ledger:
    """The target's ledger; on a cluster (a server, `cluster` set), the replicated one."""
    cluster = cluster_ddl(ch, tgt) if tgt.cluster is not None and not ch.embedded else None
    return Ledger(ch, tgt.database, tgt.ledger_table, db_user=ch.user, cluster=cluster)


@contextmanager
def run_lock(ch: ClickHouse, tgt: ClickHouseTarget) -> Iterator[LockInfo]:
    """The ClickHouse run lock every writing command holds.

    The kind is decided once per database and recorded by the lock table that exists: a database with a
    KeeperMap lock table is only ever locked through Keeper (a Keeper error is an error, `lock = lease` is
    refused), one with a lease table only by the lease; a database with neither takes the KeeperMap lock
    where the server can hold it (lock = auto or keeper) and the lease otherwise. So two runs never hold
    different kinds of lock on one database.
    """
    if ch.embedded:
        yield LockInfo("embedded-directory", "linearizable")
        return
    db = tgt.database
    keeper_table, lease_table = tgt.keeper_lock_table, tgt.lease_table
    present = ch.existing_tables(db, (keeper_table, lease_table))
    lease = tgt.lock_lease
    if tgt.cluster is not None:
        with _cluster_lock(ch, tgt, present) as info:
            yield info
        return
    if keeper_table in present:
        if tgt.lock == "lease":
            raise ConfigError("lock", f"lease refused: {db} is locked through Keeper (table {db}.{keeper_table} "
                              "exists), and a lease would not exclude a run holding the Keeper lock",
                              hint="set CHMIGRATE_LOCK=auto (or keeper)")
        keeper = KeeperLock(ch, db, keeper_table, lease=lease, renewer=_renewer(ch, lease))
        try:
            keeper.ensure()
        except KeeperUnavailable as exc:
            raise DatabaseError(f"the Keeper lock of {db} is unavailable: {exc}",
                                hint="this database is locked through Keeper; chmigrate never falls back to a "
                                "weaker lock: fix Keeper and run again") from exc
        with hold(keeper, tgt.lock_timeout, "keeper-map", "linearizable") as info:
            yield info
        return
    if lease_table in present or tgt.lock == "lease":
        if tgt.lock == "keeper":
            raise ConfigError("lock", f"keeper refused: {db} is locked by a lease (table {db}.{lease_table} "
                              "exists), and a run holding the lease would not see a Keeper claim",
                              hint=f"to move this database to the Keeper lock, drop table {db}.{lease_table} "
                              "while no chmigrate run is active")
        reason: LeaseReason = "recorded" if lease_table in present else "configured"
        with hold(LeaseLock(ch, db, lease_table, lease=lease, renewer=_renewer(ch, lease)), tgt.lock_timeout,
                  "lease", "best-effort", reason=reason) as info:
            yield info
        return
    keeper = KeeperLock(ch, db, keeper_table, lease=lease, renewer=_renewer(ch, lease))
    try:
        keeper.ensure()
    except KeeperUnavailable as exc:
        if tgt.lock == "keeper":
            raise DatabaseError(f"lock = keeper, but {ch.label} cannot hold a KeeperMap table: {exc}",
                                hint="configure <zookeeper> and <keeper_map_path_prefix> on the server, "
                                "or set CHMIGRATE_LOCK=auto") from exc
        reason, cause = "no-keeper-map", str(exc)
    else:
        with hold(keeper, tgt.lock_timeout, "keeper-map", "linearizable") as info:
            yield info
        return
    with hold(LeaseLock(ch, db, lease_table, lease=lease, renewer=_renewer(ch, lease)), tgt.lock_timeout,
              "lease", "best-effort", reason=reason, cause=cause) as info:
        yield info


@contextmanager
def _cluster_lock(ch: ClickHouse, tgt: ClickHouseTarget, present: Collection[str]) -> Iterator[LockInfo]:
    """On a cluster the run lock is the KeeperMap lock, its table on every host (one Keeper key): a cluster
    always has Keeper, and a lease in a table of one host would not exclude a run that reached another."""
    db = tgt.database
    if tgt.lock == "lease" or tgt.lease_table in present:
        why = ("lock = lease is set" if tgt.lock == "lease"
               else f"{db}.{tgt.lease_table} exists (a lease taken while it was a single node)")
        raise ConfigError("lock", f"lease refused: {tgt.cluster!r} is a cluster, whose run lock is the Keeper "
                          f"lock, but {why}",
                          hint="set CHMIGRATE_LOCK=auto (or keeper)" if tgt.lock == "lease" else
                          f"drop table {db}.{tgt.lease_table} while no chmigrate run is active")
    keeper = KeeperLock(ch, db, tgt.keeper_lock_table, lease=tgt.lock_lease, renewer=_renewer(ch, tgt.lock_lease),
                        cluster=cluster_ddl(ch, tgt))
    try:
        keeper.ensure()
    except KeeperUnavailable as exc:
        raise DatabaseError(f"{ch.label} cannot hold the Keeper lock of cluster {tgt.cluster!r}: {exc}",
                            hint="a cluster runs Keeper: configure <zookeeper> (and keeper_map_path_prefix) on "
                            "every host") from exc
    with hold(keeper, tgt.lock_timeout, "keeper-map", "linearizable") as info:
        yield info


def _renewer(ch: ClickHouse, lease: float) -> ClickHouse:
    """A connection of its own for lock renewals, with a timeout well under the lease."""
    return ch.clone(query_timeout=max(1.0, min(5.0, lease / 4)))


def status(tgt: ClickHouseTarget) -> TargetStatus:
    migrations = load_migrations(tgt)
    with open_clickhouse(tgt) as ch:
        states = ledger_for(ch, tgt).states()
        rows = tuple(statuses(migrations, states))
        if tgt.cluster is None or ch.embedded:
            return TargetStatus("clickhouse", ch.label, ch.embedded, rows)
        from chmigrate.operations.replicas import replica_statuses
        from chmigrate.schema.replicas import cluster_replicas

        replicas = replica_statuses(ch, tgt, cluster_replicas(ch, tgt.cluster), migrations, rows)
        return TargetStatus("clickhouse", ch.label, ch.embedded, rows, cluster=tgt.cluster, replicas=replicas)


def plan(tgt: ClickHouseTarget, *, to: str | None = None, allow_changed: Collection[str] = (),
         retry: bool = False, refuse_existing: bool = False) -> TargetPlan:
    """What `up` would do, found by running the executor on a connection that records its writes: the
    migration statements with the settings they are sent with, the ledger writes and the run lock.
    With `refuse_existing` (`up --dry-run`), refuse as `up` does when objects it would create exist."""
    migrations = load_migrations(tgt)
    with open_clickhouse(tgt) as ch:
        ledger = ledger_for(ch, tgt)
        states = ledger.states()
        if refuse_existing:
            preflight.check_up(ch, tgt, migrations, states, to=to, allow_changed=allow_changed)
        steps = plan_up(migrations, states, to=to, allow_changed=allow_changed, retry_failed=retry)
        cluster = cluster_ddl(ch, tgt) if steps else None
        rows = tuple(
            PlannedStatement(s.migration.version, s.migration.name, str(s.migration.path), st.index, st.line,
                             cluster.statement(st.sql) if cluster else st.sql)
            for s in steps for st in s.migration.up[s.start - 1:]
        )
        rows = preflight.mark_existing(ch, tgt, rows)
        script: tuple[SentStatement, ...] = ()
        if steps:
            rec = ScriptConnection(ch)
            shadow = Ledger(rec, ledger.database, ledger.table, db_user=ledger.db_user)
            shadow.run_id = "<run>"
            shadow.ensure()
            apply_steps(rec, shadow, steps, cluster=cluster)
            script = tuple(_sent(r, shadow) for r in rec.sent)
        return TargetPlan("clickhouse", ch.label, ch.embedded, rows, script=script, lock=_lock_kind(ch, tgt))


def _sent(r: Recorded, ledger: Ledger) -> SentStatement:
    settings = dict(r.settings)
    qid = settings.get("log_comment", "")
    if qid.startswith("chmigrate-"):
        version, index = qid.rsplit("-", 2)[-2:]
        return SentStatement("statement", r.sql, r.settings, version, int(index))
    kind: Literal["ledger", "setup"] = "ledger" if r.sql.startswith(f"INSERT INTO {ledger.qualified}") else "setup"
    return SentStatement(kind, r.sql, r.settings)


def _lock_kind(ch: ClickHouse, tgt: ClickHouseTarget) -> str:
    """The run lock `up` would take, read without writing."""
    if ch.embedded:
        return "embedded-directory"
    keeper_table, lease_table = tgt.keeper_lock_table, tgt.lease_table
    present = ch.existing_tables(tgt.database, (keeper_table, lease_table))
    if keeper_table in present:
        return "keeper-map"
    if lease_table in present or tgt.lock == "lease":
        return "lease"
    return "keeper-map" if tgt.lock == "keeper" else "keeper-map-or-lease"  # decided when `up` first runs


def up(ch: ClickHouse, tgt: ClickHouseTarget, lock: LockInfo, *, to: str | None = None,
       allow_changed: Collection[str] = (), retry: bool = False, reporter: Reporter | None = None,
       check: Callable[[], None] | None = None, consent: Consent = False,
       consented: DestructionReport | None = None, protected: str | None = None) -> TargetUpResult:
    """Apply pending migrations under `lock` (held by the caller); `check` runs before every statement.
    Statements that destroy stored data run only with `consent` (see destruction.approve; `consented` is
    what was consented to before the lock), never where `protected` names a setting."""
    migrations = load_migrations(tgt)
    ledger = ledger_for(ch, tgt)
    states = ledger.states()  # read under the lock
    recovered = recover(ch, ledger, migrations, states, wait=tgt.lock_timeout)
    if any(r.outcome in ("applied", "not_applied") for r in recovered):
        states = ledger.states()
    steps = plan_up(migrations, states, to=to, allow_changed=allow_changed, retry_failed=retry)
    refuse_empty(steps)
    approval = approve(_up_report(ch, ledger.database, steps), consent, command="up", protected=protected,
                       already=consented)
    accepted = _accepted_changes(migrations, states, allow_changed)
    base = TargetUpResult("clickhouse", ch.label, ch.embedded, (), lock=_lock_result(lock), recovered=recovered)
    if not steps and not accepted:
        return base
    cluster = cluster_ddl(ch, tgt, applying=True) if steps else None
    ledger.ensure()
    if approval is not None:
        ledger.add_consent_columns()
    for m in accepted:
        ledger.record(Subject(m.version, m.name, m.checksum, len(m.up)), event="accepted_change",
                      statement_index=len(m.up), cumulative_hash=cumulative_hash(s.raw for s in m.up),
                      error=f"accepted edit; previous checksum {states[m.version].checksum}")
    ch.use_database(ledger.database)
    applied = apply_steps(ch, ledger, steps, reporter, check=check or lock.check, wait=tgt.lock_timeout,
                          consents=_notes(approval), cluster=cluster)
    return replace(base, applied=_with_destroyed(applied, approval),
                   accepted=tuple(AcceptedChange(m.version, states[m.version].checksum) for m in accepted),
                   **_consent_fields(approval))


def _up_report(ch: ClickHouse, database: str, steps: Sequence[Step]) -> DestructionReport:
    return measure(ch, database, candidates([s.migration for s in steps], "up",
                                            {s.migration.version: s.start for s in steps}))


def _notes(approval: Approval | None) -> dict[str, ConsentNote]:
    """Per version, what its statements destroy, as the ledger records it with the consent."""
    if approval is None:
        return {}
    notes: dict[str, ConsentNote] = {}
    for v in dict.fromkeys(i.version for i in approval.report.items):
        items = approval.report.for_version(v)
        text = "; ".join(f"{i.direction} statement {i.index}: {i.object} {i.what}: {i.rows} rows, {i.bytes} bytes"
                         for i in items)
        notes[v] = ConsentNote(approval.how, sum(i.rows for i in items), sum(i.bytes for i in items), text)
    return notes


def _with_destroyed(done: Sequence[AppliedMigration], approval: Approval | None) -> tuple[AppliedMigration, ...]:
    if approval is None:
        return tuple(done)
    return tuple(replace(a, destroyed=approval.report.for_version(a.version)) for a in done)


def _consent_fields(approval: Approval | None) -> dict[str, Any]:
    return {} if approval is None else {"destroyed": approval.report, "consent": approval.how}


def check_destruction(ch: ClickHouse, tgt: ClickHouseTarget, *, command: Literal["up", "down"], to: str | None,
                      allow_changed: Collection[str] = (), retry: bool = False, consent: Consent = False,
                      protected: str | None = None) -> DestructionReport | None:
    """Before the lock (whose setup writes): what the run would destroy, read with SELECTs only, and the
    consent to it (Refused when it is not given). Returns the report consented to, None when nothing is
    destroyed or the plan is refused anyway (the run under the lock then raises its own error)."""
    migrations = load_migrations(tgt)
    ledger = ledger_for(ch, tgt)
    try:
        if command == "up":
            report = _up_report(ch, ledger.database, plan_up(migrations, ledger.states(), to=to,
                                                             allow_changed=allow_changed, retry_failed=retry))
        else:
            report = _down_report(ch, ledger.database, plan_down(migrations, ledger.states(), to=to or "0"))
    except (StateError, ConfigError, MigrationFileError, UsageError):
        return None
    approval = approve(report, consent, command=command, protected=protected)
    return approval.report if approval else None


def _down_report(ch: ClickHouse, database: str, steps: Sequence[Migration]) -> DestructionReport:
    return measure(ch, database, candidates(steps, "down"))


def dry_run(tgt: ClickHouseTarget, *, to: str | None = None, allow_changed: Collection[str] = (),
            retry: bool = False, protected: str | None = None) -> TargetUpResult:
    """`up --dry-run`: the plan, as `up` would run it, with what it would destroy; nothing is sent."""
    p = plan(tgt, to=to, allow_changed=allow_changed, retry=retry, refuse_existing=True)
    counts: dict[tuple[str, str], list[int]] = {}
    for s in p.statements:
        counts.setdefault((s.version, s.name), []).append(s.index)
    with open_clickhouse(tgt) as ch:
        ledger = ledger_for(ch, tgt)
        try:
            steps = plan_up(load_migrations(tgt), ledger.states(), to=to, allow_changed=allow_changed,
                            retry_failed=retry)
        except StateError:
            steps = []
        report = _up_report(ch, ledger.database, steps)
    would = tuple(AppliedMigration(v, n, len(ix), 0, resumed_from=ix[0] if ix[0] > 1 else None,
                                   destroyed=report.for_version(v))
                  for (v, n), ix in counts.items())
    return TargetUpResult("clickhouse", p.target, p.embedded, would, dry_run=True, statements=p.statements,
                          script=p.script, destroyed=report, protected=protected)


def check_existing(ch: ClickHouse, tgt: ClickHouseTarget, *, to: str | None = None,
                   allow_changed: Collection[str] = ()) -> None:
    """Before `up` takes its lock (whose setup writes): refuse, having sent only SELECTs, when objects that
    pending statements create unconditionally exist already (a database made by hand: see `baseline`)."""
    preflight.check_up(ch, tgt, load_migrations(tgt), ledger_for(ch, tgt).states(), to=to,
                       allow_changed=allow_changed)


def recover(ch: ClickHouse, ledger: Ledger, migrations: Sequence[Migration], states: Mapping[str, VersionState],
            *, wait: float) -> tuple[Recovery, ...]:
    """For each version whose run was interrupted (or lost its answer) on a statement that is not harmless to
    repeat, read what became of that statement from the server's record, and record it in the ledger."""
    by_number = {m.number: m for m in migrations}
    found: list[Recovery] = []
    for v, st in sorted(states.items()):
        m = by_number.get(int(v))
        if m is None or st.in_flight != "up" or st.next_unsent:
            continue
        if st.failed_statement and not st.outcome_unknown:
            continue  # an ordinary failure: the server said it changed nothing
        k = st.failed_statement or st.done + 1
        clustered = ledger.cluster is not None and ledger.cluster.cluster is not None
        if k > len(m.up) or (is_rerunnable(m.up[k - 1].sql) and not (clustered and st.outcome_unknown)):
            continue
        if cumulative_hash(s.raw for s in m.up[:k - 1]) != st.cumulative_hash:
            continue  # edited since: the planner refuses it
        qid = statement_id(st.run_id, m.version, k)
        look = _queue_lookup(ch, ledger.cluster, qid) if clustered and ledger.cluster else None
        if look is None:
            look = lookup(ch, qid, sent_at=_unix(st.recorded_at), server_clock=True, wait=wait)
        found.append(Recovery(m.version, k, look.outcome, look.source))
        if look.outcome not in ("applied", "not_applied"):
            continue
        done = k if look.outcome == "applied" else k - 1
        ledger.record(Subject(m.version, m.name, m.checksum, len(m.up)), event="recovered", statement_index=done,
                      cumulative_hash=cumulative_hash(s.raw for s in m.up[:done]),
                      error=f"statement {k} {look.outcome.replace('_', ' ')} per {look.source} ({qid})")
    return tuple(found)


def _queue_lookup(ch: ClickHouse, cluster: ClusterDDL, qid: str) -> Lookup | None:
    """What the distributed DDL queue says of the ON CLUSTER statement sent with `qid`, after waiting up to
    the DDL timeout for the hosts still running it (None: it is not in the queue, ask the query log)."""
    from chmigrate.migrations.distributed import wait_entry

    found = wait_entry(ch, str(cluster.cluster), qid, cluster.timeout)
    if found is None:
        return None
    source = f"system.distributed_ddl_queue: {found.tally()} hosts"
    if found.failed:
        bad = found.failed[0]
        return Lookup("unknown", f"{source}, host {bad.host} failed it: {bad.error}")
    if found.pending:
        hosts = ", ".join(h.host for h in found.pending)
        return Lookup("unknown", f"{source}, still to run on {hosts} after {cluster.timeout:g} s")
    return Lookup("applied", source)


def _unix(recorded_at: str) -> float:
    try:
        stamp = datetime.fromisoformat(recorded_at.replace(" ", "T"))
    except ValueError:
        return 0.0
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _lock_result(lock: LockInfo) -> LockResult:
    return LockResult(lock.kind, lock.guarantee, lock.waited_seconds, lock.reason, lock.cause)


def _accepted_changes(migrations: tuple[Migration, ...], states: dict[str, VersionState],
                      allow_changed: Collection[str]) -> list[Migration]:
    wanted = {int(v) for v in allow_changed}
    return [m for m in migrations if m.number in wanted and (st := states.get(m.version)) is not None
            and st.applied and st.checksum != m.checksum]


def down(ch: ClickHouse, tgt: ClickHouseTarget, lock: LockInfo | None, *, to: str, reporter: Reporter | None = None,
         check: Callable[[], None] | None = None, consent: Consent = False,
         consented: DestructionReport | None = None, protected: str | None = None) -> TargetUpResult:
    """Run down parts, newest first, until `to` is the newest applied version (`0` for none); statements
    that destroy stored data run only with `consent`. Without a lock (None), a dry run: nothing is sent;
    the result lists the statements and what they would destroy."""
    migrations = load_migrations(tgt)
    ledger = ledger_for(ch, tgt)
    steps = plan_down(migrations, ledger.states(), to=to)
    report = _down_report(ch, ledger.database, steps)
    cluster = cluster_ddl(ch, tgt, applying=lock is not None) if steps else None
    sent = cluster.statement if cluster else str
    if lock is None:
        statements = tuple(PlannedStatement(m.version, m.name, str(m.path), s.index, s.line, sent(s.sql))
                           for m in steps for s in (m.down or ()))
        would = tuple(AppliedMigration(m.version, m.name, len(m.down or ()), 0, direction="down",
                                       sql=tuple(sent(s.sql) for s in m.down or ()),
                                       destroyed=report.for_version(m.version))
                      for m in steps)
        return TargetUpResult("clickhouse", ch.label, ch.embedded, would, dry_run=True, statements=statements,
                              destroyed=report, protected=protected)
    approval = approve(report, consent, command="down", protected=protected, already=consented)
    if approval is not None:
        ledger.add_consent_columns()
    notes = _notes(approval)
    ch.use_database(ledger.database)
    done = tuple(run_down(ch, ledger, m, reporter, check=check or lock.check, consent=notes.get(m.version),
                          cluster=cluster) for m in steps)
    return TargetUpResult("clickhouse", ch.label, ch.embedded, _with_destroyed(done, approval),
                          lock=_lock_result(lock), **_consent_fields(approval))


def resolve(ch: ClickHouse, tgt: ClickHouseTarget, version: str, outcome: Literal["applied", "rolled_back"]) -> str:
    """Mark a dirty (failed or interrupted) version by hand, recording who and when (under the caller's lock)."""
    migrations = load_migrations(tgt)
    ledger = ledger_for(ch, tgt)
    states = ledger.states()
    st = states.get(version) or next((s for v, s in states.items() if int(v) == int(version)), None)
    if st is None or st.in_flight is None:
        raise StateError(f"version {version} is not dirty (nothing to resolve)",
                         hint="`chmigrate status` shows failed or dirty versions")
    m = find(migrations, version) if any(x.number == int(version) for x in migrations) else None
    checksum = m.checksum if m else st.checksum
    n = len(m.up) if m else st.statement_count
    event: Literal["resolved_applied", "resolved_rolled_back"] = (
        "resolved_applied" if outcome == "applied" else "resolved_rolled_back")
    ledger.record(Subject(st.version, st.name, checksum, n), event=event,
                  statement_index=n if outcome == "applied" else 0,
                  cumulative_hash=cumulative_hash(s.raw for s in m.up) if m and outcome == "applied"
                  else "", error=f"resolved by hand ({ledger.os_user}@{ledger.host})")
    return st.version


def unlock(tgt: ClickHouseTarget, *, force: bool = False) -> tuple[ReleasedClaim, ...]:
    """Release expired claims of the KeeperMap lock and the lease, and live ones with `force`. Embedded and
    Postgres-advisory locks release themselves."""
    with open_clickhouse(tgt) as ch:
        if ch.embedded:
            return ()
        db = tgt.database
        keeper_table, lease_table = tgt.keeper_lock_table, tgt.lease_table
        keeper = KeeperLock(ch, db, keeper_table)
        lease = LeaseLock(ch, db, lease_table)
        live = [("keeper-map", c) for c in keeper.live_claims()]
        if ch.table_exists(db, lease_table):
            live += [("lease", c) for c in lease.active_claims()]
        if live and not force:
            kind, c = live[0]
            raise StateError(f"the {kind} lock of {db} is held by a live run on {c.host} (claimed {c.claimed_at} "
                             f"UTC, expires {c.expires_at} UTC)",
                             hint="if that run is dead, `chmigrate unlock --force` frees it now; otherwise wait")
        released = [ReleasedClaim("keeper-map", c.holder, c.host, c.claimed_at, c.expires_at, live=c.live)
                    for c in keeper.break_claim()]
        released += [ReleasedClaim("lease", c.holder, c.host, c.claimed_at, c.expires_at, live=True)
                     for c in lease.break_all()]
        return tuple(released)
