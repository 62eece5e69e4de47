"""Frozen result objects returned by the library; the CLI renders them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union

if TYPE_CHECKING:
    from chmigrate.schema.diff import Change

State = Literal["applied", "pending", "changed", "unknown", "failed", "dirty"]

# Why a version is in the state it is in (what `status` and `verify` say about it, in cli/wording.py)
Reason = Literal[
    "no_file",  # in the ledger but no file on disk
    "rolled_back_no_file",  # rolled back, and its file is gone
    "empty",  # a scaffolded file that holds no statement yet
    "statement_failed",  # `statement` failed with the server's `error`
    "interrupted",  # `done` statements done; the outcome of `statement` (of the `part`) unknown
    "checksum_changed",  # applied with `recorded_checksum`; the file is now `file_checksum`
    "undecided",  # Postgres: the database records `heads` that are not on disk, so this file's state is unknown
    "no_revision_file",  # Postgres: recorded in `table` but no revision file in `where`
]


@dataclass(frozen=True)
class StateDetail:
    """Why a version is not simply applied or pending: a reason and its facts."""

    reason: Reason
    statement: int | None = None
    done: int | None = None
    part: Literal["up", "down"] = "up"
    error: str = ""  # the server's own message
    recorded_checksum: str = ""
    file_checksum: str = ""
    heads: tuple[str, ...] = ()
    table: str = ""
    where: str = ""


@dataclass(frozen=True)
class MigrationStatus:
    """One version as seen by `status`: its file on disk and its ledger record."""

    version: str
    name: str
    state: State
    checksum: str | None
    applied_at: str | None = None
    detail: StateDetail | None = None
    path: str | None = None  # its file, when it has one


@dataclass(frozen=True)
class Replica:
    """One replica of the configured cluster, as system.clusters lists it (in its order)."""

    label: str  # its host name, or host:port where two replicas share a host name
    host: str
    port: int
    shard: int
    number: int  # replica_num within its shard


@dataclass(frozen=True)
class ReplicaStatus:
    """One replica's own ledger (read with clusterAllReplicas), against the target's."""

    replica: Replica
    migrations: tuple[MigrationStatus, ...]
    differs: tuple[str, ...] = ()  # versions whose state here is not the target's

    @property
    def agrees(self) -> bool:
        return not self.differs


@dataclass(frozen=True)
class TargetStatus:
    """The state of one database: which target, which migrations in which state."""

    engine: Literal["clickhouse", "postgres"]
    target: str
    embedded: bool
    migrations: tuple[MigrationStatus, ...]
    cluster: str | None = None  # with a cluster: each replica's ledger in `replicas`
    replicas: tuple[ReplicaStatus, ...] = ()

    @property
    def clean(self) -> bool:
        return all(m.state == "applied" for m in self.migrations) and all(r.agrees for r in self.replicas)


@dataclass(frozen=True)
class StatusResult:
    targets: tuple[TargetStatus, ...]

    @property
    def clean(self) -> bool:
        return all(t.clean for t in self.targets)


@dataclass(frozen=True)
class PlannedStatement:
    version: str
    name: str
    path: str
    index: int  # 1-based within the file
    line: int
    sql: str
    exists: bool = False  # it creates (without IF NOT EXISTS) an object that already exists: `up` refuses


@dataclass(frozen=True)
class SentStatement:
    """One request `up` would send, in order: a migration statement (with its version and index), a ledger
    write, or the setup of chmigrate's own tables; with the settings it is sent with."""

    kind: Literal["statement", "ledger", "setup"]
    sql: str
    settings: tuple[tuple[str, str], ...] = ()
    version: str | None = None
    index: int | None = None


@dataclass(frozen=True)
class EngineStart:
    """How a command got its embedded PostgreSQL server."""

    how: Literal["initialised and started", "started", "reused"]
    seconds: float
    port: int


@dataclass(frozen=True)
class TargetPlan:
    engine: Literal["clickhouse", "postgres"]
    target: str
    embedded: bool
    statements: tuple[PlannedStatement, ...]
    started: EngineStart | None = None  # the embedded PostgreSQL server, when one was started or reused
    script: tuple[SentStatement, ...] = ()  # everything `up` would send, ledger writes included (ClickHouse)
    # the run lock `up` would take: "embedded-directory", "keeper-map", "lease", "postgres-advisory", or
    # "keeper-map-or-lease" (nothing recorded yet: Keeper where the server has it, else the lease)
    lock: str = ""


@dataclass(frozen=True)
class PlanResult:
    targets: tuple[TargetPlan, ...]


@dataclass(frozen=True)
class DestroyedData:
    """Stored data one statement destroys, read from system.parts (active parts) before it is sent."""

    version: str
    name: str
    path: str
    index: int  # the statement's 1-based index in its part of the file (up or down)
    direction: Literal["up", "down"]
    sql: str
    object: str  # database.table (or database.table.column)
    what: str  # "table", "view's inner table", "all rows (TRUNCATE)", "column turn_id", "partition 202412", "TTL ..."
    rows: int
    bytes: int


@dataclass(frozen=True)
class DestructionReport:
    """Every statement of a run that destroys stored data, with what it destroys. Statements on empty objects
    are not listed: they need no consent."""

    items: tuple[DestroyedData, ...] = ()

    @property
    def rows(self) -> int:
        return sum(i.rows for i in self.items)

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.items)

    def for_version(self, version: str) -> tuple[DestroyedData, ...]:
        return tuple(i for i in self.items if i.version == version)


@dataclass(frozen=True)
class AppliedMigration:
    version: str
    name: str
    statements: int  # statements executed by this run
    duration_ms: int
    resumed_from: int | None = None  # 1-based statement index when a run resumed a half-applied file
    direction: Literal["up", "down"] = "up"  # down: the version's down part was run (it is reverted)
    sql: tuple[str, ...] = ()  # down: the down statements run, in order
    destroyed: tuple[DestroyedData, ...] = ()  # what its statements destroyed (consented to), see DestructionReport


LeaseReason = Literal["", "recorded", "configured", "no-keeper-map"]


@dataclass(frozen=True)
class LockResult:
    """The run lock a writing command held."""

    kind: str  # "embedded-directory" | "keeper-map" | "lease"
    guarantee: str  # "linearizable" | "best-effort"
    waited_seconds: float = 0.0
    # why this kind: "keeper-map" and "embedded-directory" need no reason; the lease is taken because the
    # database records it ("recorded"), the settings ask for it ("configured"), or the server cannot hold
    # a KeeperMap table ("no-keeper-map", with the server's words in `cause`)
    reason: LeaseReason = ""
    cause: str = ""


@dataclass(frozen=True)
class Recovery:
    """What a run read from the server's record about a statement an earlier run left with no known outcome."""

    version: str
    statement: int
    outcome: Literal["applied", "not_applied", "unknown", "no_record"]
    source: str


@dataclass(frozen=True)
class AcceptedChange:
    version: str
    previous_checksum: str


@dataclass(frozen=True)
class ReleasedClaim:
    """A lock claim `unlock` released."""

    kind: str  # "keeper-map" | "lease"
    holder: str
    host: str
    claimed_at: str
    expires_at: str
    live: bool  # it had not expired (released with --force)


@dataclass(frozen=True)
class TargetUpResult:
    engine: Literal["clickhouse", "postgres"]
    target: str
    embedded: bool
    applied: tuple[AppliedMigration, ...]
    dry_run: bool = False
    started: EngineStart | None = None  # the embedded PostgreSQL server, when one was started or reused
    # Postgres: the revisions the database is at after a run that changed nothing, or after a down
    at: tuple[str, ...] | None = None
    lock: LockResult | None = None
    recovered: tuple[Recovery, ...] = ()
    accepted: tuple[AcceptedChange, ...] = ()
    statements: tuple[PlannedStatement, ...] = ()  # a dry run of `down`: what it would send
    script: tuple[SentStatement, ...] = ()  # a dry run of `up`: everything it would send
    snapshot_written: str | None = None  # the committed snapshot `up` on the local engine brought up to date
    destroyed: DestructionReport = DestructionReport()  # what the run destroyed (a dry run: would destroy)
    consent: str | None = None  # how the destruction was consented to ("asked", "in advance"), None if none needed
    protected: str | None = None  # the setting that marks the environment protected (a dry run shows it)


@dataclass(frozen=True)
class UpResult:
    targets: tuple[TargetUpResult, ...]

    @property
    def changed(self) -> bool:
        return any(t.applied for t in self.targets)


CheckCode = Literal["clickhouse.migrations", "clickhouse.drift", "clickhouse.views", "clickhouse.snapshot",
                    "clickhouse.replicas", "postgres.revisions", "postgres.drift"]


@dataclass(frozen=True)
class ViewMismatch:
    """A materialized view whose output does not fit its target: no target, a column the target lacks (its
    values are dropped), or a type ClickHouse does not convert without loss."""

    view: str  # database.name
    target: str  # database.name
    kind: Literal["no_target", "missing_column", "type"]
    column: str = ""
    type: str = ""
    target_type: str = ""


@dataclass(frozen=True)
class OnReplica:
    """A problem found on one replica of the cluster (a schema difference, a version's state)."""

    replica: str  # Replica.label
    problem: Problem


@dataclass(frozen=True)
class ReplicaDisagreement:
    """Two replicas that should be equal are not: their schemas (`change`: what `replica` has where
    `reference` has the expected side) or their ledgers (`version`: its state on each)."""

    replica: str
    reference: str  # the first replica in system.clusters order
    change: Change | None = None
    version: str = ""
    state: str = ""
    reference_state: str = ""


Problem = Union[MigrationStatus, ViewMismatch, "Change", OnReplica, ReplicaDisagreement, str]


@dataclass(frozen=True)
class Check:
    """One `verify` check; `problems` are what failed it: versions (MigrationStatus), schema differences
    (schema.diff.Change), views (ViewMismatch) or Postgres differences (Alembic's operation, as text)."""

    engine: Literal["clickhouse", "postgres"]
    code: CheckCode
    passed: bool
    problems: tuple[Problem, ...] = ()


# -- doctor -------------------------------------------------------------------------------------------------
DoctorStatus = Literal["pass", "warn", "fail", "skip"]
# the checks of `doctor`, in the order it reports them
DOCTOR_CHECKS = ("clickhouse.connect", "postgres.connect", "verify", "views", "freshness", "rollup", "pricing",
                 "river")
DoctorCheck = Literal["clickhouse.connect", "postgres.connect", "verify", "views", "freshness", "rollup", "pricing",
                      "river"]
# What a finding says (its sentence and next step are in cli/wording.py):
FindingCode = Literal[
    "connected",  # facts: version
    "unreachable",  # facts: error
    "not_configured",  # skip: the run leaves this engine out (--only)
    "engine_unreachable",  # skip: facts: engine (the check needs a database that could not be reached)
    "query_failed",  # facts: error (a check's query failed)
    "verify_passed",  # facts: checks (how many)
    "verify_failed",  # checks: the failing verify checks
    "views_ok",  # views: "view: source -> target" per view
    "view_detached",  # facts: view, permanently
    "view_missing",  # facts: view
    "view_no_source",  # facts: view
    "view_no_target",  # facts: view, target
    "no_table",  # skip (or fail for pricing): facts: table
    "fresh",  # facts: last_hour, latest
    "stale_events",  # facts: latest, age_seconds, threshold_seconds
    "no_recent_events",  # facts: window_seconds (events exist, none in the window)
    "no_events",  # skip: the table holds no events at all
    "rollup_ok",  # facts: days (how many compared), first, last
    "rollup_no_events",  # skip: no events in the days compared; facts: days
    "rollup_mismatch",  # days: the days whose rollup differs from the raw events
    "priced",  # facts: rows, models (seen and priced), fetched_at
    "pricing_empty",  # facts: table
    "pricing_stale",  # facts: fetched_at, age_seconds, threshold_seconds
    "unpriced_models",  # models: seen in the window, without a price (their cost is 0)
    "river_ok",  # facts: state, finalized_at of the latest pricing_refresh (may be absent)
    "usage_write_stuck",  # facts: retryable, discarded, window_seconds
    "refresh_none",  # no pricing_refresh job in the table
    "refresh_failed",  # facts: state, finalized_at, id
    "refresh_stale",  # facts: finalized_at, age_seconds, threshold_seconds
    "refresh_pending",  # facts: state, created_at (not finalized: running, retryable, ...)
]


@dataclass(frozen=True)
class RollupDay:
    """One day whose rollup does not equal the aggregates over the raw events (sum() on both sides)."""

    day: str  # YYYY-MM-DD, UTC
    raw_requests: int
    rollup_requests: int
    raw_tokens: int
    rollup_tokens: int
    raw_cost: str  # exact decimal text
    rollup_cost: str


LintSeverity = Literal["error", "warning", "notice"]


@dataclass(frozen=True)
class Finding:
    """One thing `doctor` found: its check, status and code, with the facts its sentence is made from."""

    check: DoctorCheck
    status: DoctorStatus
    code: FindingCode
    facts: tuple[tuple[str, str | int | float | bool | None], ...] = ()
    days: tuple[RollupDay, ...] = ()
    models: tuple[tuple[str, int], ...] = ()  # (model, events in the window)
    views: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()

    def fact(self, name: str) -> str | int | float | bool | None:
        return dict(self.facts).get(name)


@dataclass(frozen=True)
class DoctorResult:
    findings: tuple[Finding, ...]
    environment: str | None = None
    clickhouse: str | None = None  # the targets (URLs masked), None when left out
    postgres: str | None = None
    since_seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return any(f.status == "fail" for f in self.findings)

    @property
    def unreachable(self) -> bool:
        """A configured database could not be reached: its checks could not run."""
        return any(f.code == "unreachable" for f in self.findings)


@dataclass(frozen=True)
class LintFinding:
    """One lint finding: a rule's code and severity (after the config), where, on what, and its message."""

    code: str
    severity: LintSeverity
    file: str
    line: int
    object: str
    message: str


@dataclass(frozen=True)
class LintResult:
    findings: tuple[LintFinding, ...]
    files: tuple[str, ...]  # the files linted, in version order
    selection: Literal["pending", "paths", "since"]
    server_version: str | None = None  # the version the server-version rules checked against
    schema: Literal["replayed", "none"] = "replayed"  # whether the schema rules had the replayed schema
    suppressed: int = 0  # findings a lint-ignore comment accepted

    def count(self, severity: LintSeverity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)


BackfillStatus = Literal["rebuilt", "would_rebuild", "empty", "current", "expiring"]


@dataclass(frozen=True)
class BackfillPartition:
    """One target partition of a backfill: rebuilt (swapped in), would be rebuilt (dry run), empty (the view
    gave no rows: the target was left as it was), current (rows may still arrive: left alone) or expiring
    (the source's TTL has removed or is removing some of its rows, so a rebuild would lose their rollup: left
    alone, `note` says why)."""

    partition: str
    partition_id: str
    source_rows: int
    rows_written: int
    seconds: float
    status: BackfillStatus
    note: str = ""


@dataclass(frozen=True)
class BackfillResult:
    view: str
    target: str
    source: str
    partitions: tuple[BackfillPartition, ...]
    dry_run: bool
    cleaned_staging: tuple[str, ...] = ()  # staging tables an interrupted run left, dropped by this one
    swap: str = ""  # the ALTER form that swapped partitions in: "replace" or "drop-attach" (see backfill.swap)
