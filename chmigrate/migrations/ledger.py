"""The ClickHouse ledger: an append-only table that records every step of every run.

Rows are never updated or deleted; the state of each version is derived by
folding its events in order (server time, then the run's sequence number), as
golang-migrate's ClickHouse driver does ("latest row wins"), but with
per-statement progress so that a half-applied file can be resumed exactly.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from chmigrate import __version__
from chmigrate.errors import ConfigError, DatabaseError
from chmigrate.migrations.cluster import ClusterDDL
from chmigrate.targets.clickhouse import ClickHouse, quote_ident, quote_string

DEFAULT_TABLE = "chmigrate_ledger"

Event = Literal[
    "started",  # a run began applying statements of this version (statement_index = statements already done)
    "progress",  # statement_index statements are done (cumulative_hash covers them)
    "applied",  # all statements done: the version is applied
    "failed",  # statement failed_statement failed with a server error; statements before it are done
    "failed_unknown",  # statement failed_statement was sent but its outcome is unknown (connection lost)
    "stopped",  # this run lost its lock and stopped before statement statement_index + 1, which it never sent
    "recovered",  # a later run read the server's record: statement_index statements are done and the next
    #              one took no effect (error says what the record showed)
    "resolved_applied",  # a person marked a dirty version applied
    "resolved_rolled_back",  # a person marked a dirty version as not applied
    "accepted_change",  # a person accepted an edited, already applied file (new checksum)
    "baselined",  # recorded as applied because the live schema already matched
    "down_started",
    "down_progress",
    "rolled_back",  # the down part completed: the version is no longer applied
    "down_failed",
    "backfilled",  # not a version's event: `backfill` rebuilt one partition of a view's target (version
    #               'backfill', name 'db.view partition_id', checksum the view's SELECT's sha256,
    #               statement_index source rows, statement_count rows written, cumulative_hash the partition)
]
BACKFILLED = "backfilled"

COLUMNS: tuple[tuple[str, str], ...] = (
    ("version", "String"),
    ("name", "String"),
    ("checksum", "String"),
    ("event", "LowCardinality(String)"),
    ("statement_index", "UInt32"),
    ("statement_count", "UInt32"),
    ("cumulative_hash", "String"),
    ("failed_statement", "UInt32"),
    ("error", "String"),
    ("started_at", "DateTime64(3, 'UTC')"),
    ("duration_ms", "UInt64"),
    ("run_id", "String"),
    ("seq", "UInt32"),
    ("host", "String"),
    ("os_user", "String"),
    ("db_user", "String"),
    ("chmigrate_version", "String"),
)
_NAMES = tuple(n for n, _ in COLUMNS)
# Added after the first release: a ledger made by an older chmigrate gets them (ADD COLUMN IF NOT EXISTS)
# the first time a run records consent; rows written without them read as '' and 0. An older chmigrate
# names its columns in every INSERT, so it keeps writing to a ledger that has them.
CONSENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("consented_by", "String"),  # os_user@host of the person who consented to destroying data
    ("consent", "LowCardinality(String)"),  # "asked" (answered yes) or "in advance" (--yes)
    ("destroyed_rows", "UInt64"),  # rows the version's statements destroyed (read before they were sent)
    ("destroyed_bytes", "UInt64"),
    ("destroyed", "String"),  # each statement: object, rows, bytes
)

# On a cluster only: per ON CLUSTER statement of the row's version, how many hosts confirmed it, as
# "index=confirmed/hosts" separated by spaces ("1=2/2 3=2/2").
HOSTS_COLUMN = ("confirmed_hosts", "String")
# A cluster's ledger is one ReplicatedMergeTree table for the whole cluster: one Keeper path (no {shard}),
# each replica named by the server's {replica} macro. Its rows are written with a quorum of the replicas and
# read with sequential consistency, so that no replica answers with a ledger that misses a recorded row.
CLUSTER_READ = {"select_sequential_consistency": 1}
CLUSTER_WRITE: dict[str, int | str] = {"insert_quorum": "auto", "insert_quorum_parallel": 0}

EMPTY_HASH = hashlib.sha256(b"").hexdigest()

# Deferred rows wait at most this long: it bounds how much harmless work a crash can make the next run redo.
MAX_DEFER_SECONDS = 2.0


def cumulative_hash(statements: Iterable[str], start: str = EMPTY_HASH) -> str:
    """h_0 = sha256(''); h_i = sha256(h_{i-1} + sha256(statement_i))."""
    h = start
    for sql in statements:
        h = hashlib.sha256((h + hashlib.sha256(sql.encode()).hexdigest()).encode()).hexdigest()
    return h


@dataclass(frozen=True)
class Subject:
    """The version a ledger row is about."""

    version: str
    name: str
    checksum: str
    statement_count: int


@dataclass(frozen=True)
class ConsentNote:
    """Carried by the row that starts a version whose statements destroy data."""

    how: str  # "asked" | "in advance"
    rows: int
    bytes: int
    destroyed: str


@dataclass(frozen=True)
class Record:
    version: str
    name: str
    checksum: str
    event: str
    statement_index: int
    statement_count: int
    cumulative_hash: str
    failed_statement: int
    error: str
    recorded_at: str
    run_id: str
    seq: int
    host: str = ""
    os_user: str = ""


@dataclass(frozen=True)
class VersionState:
    """What the ledger says of one version after folding its events."""

    version: str
    name: str
    checksum: str
    applied: bool
    # in_flight: a run started (or a down run) and never recorded its end: crashed, failed or still running
    in_flight: Literal["up", "down"] | None
    done: int  # statements completed (of the part in flight, or of up when applied)
    cumulative_hash: str
    statement_count: int
    failed_statement: int  # 0 when the last attempt did not record a failure
    error: str
    outcome_unknown: bool  # the failed statement may or may not have taken effect
    last_event: str
    recorded_at: str
    run_id: str
    history: tuple[Record, ...] = field(default=(), repr=False)
    next_unsent: bool = False  # the server's record shows that statement done + 1 took no effect


def fold(records: Sequence[Record]) -> dict[str, VersionState]:
    """Derive each version's state from its records (already in order)."""
    states: dict[str, VersionState] = {}
    for r in records:
        prev = states.get(r.version)
        applied = prev.applied if prev else False
        in_flight: Literal["up", "down"] | None = prev.in_flight if prev else None
        checksum = prev.checksum if prev else r.checksum
        failed = 0
        error = ""
        unknown = False
        unsent = False
        if r.event == "stopped":
            # honoured only when no other run wrote about this version since this run's own last row
            if not (prev and prev.in_flight == "up" and prev.run_id == r.run_id and prev.done == r.statement_index):
                continue
            in_flight, unsent = "up", True
        elif r.event == "recovered":
            in_flight, unsent = "up", True
        elif r.event in ("started", "progress"):
            in_flight = "up"
            checksum = r.checksum
        elif r.event in ("applied", "resolved_applied", "baselined", "accepted_change"):
            applied, in_flight, checksum = True, None, r.checksum
        elif r.event in ("failed", "failed_unknown"):
            in_flight, failed, error = "up", r.failed_statement, r.error
            unknown = r.event == "failed_unknown"
            checksum = r.checksum
        elif r.event in ("down_started", "down_progress"):
            in_flight = "down"
        elif r.event == "down_failed":
            in_flight, failed, error = "down", r.failed_statement, r.error
        elif r.event in ("rolled_back", "resolved_rolled_back"):
            applied, in_flight = False, None
        states[r.version] = VersionState(
            version=r.version, name=r.name, checksum=checksum, applied=applied, in_flight=in_flight,
            done=r.statement_index, cumulative_hash=r.cumulative_hash, statement_count=r.statement_count,
            failed_statement=failed, error=error, outcome_unknown=unknown, last_event=r.event,
            recorded_at=r.recorded_at,
            run_id=r.run_id, history=(prev.history if prev else ()) + (r,), next_unsent=unsent,
        )
    return states


class Ledger:
    """Reads and appends ledger rows in `database.table` on a ClickHouse target."""

    def __init__(self, ch: ClickHouse, database: str, table: str = DEFAULT_TABLE, db_user: str = "",
                 cluster: ClusterDDL | None = None) -> None:
        self.ch = ch
        self.cluster = cluster  # a replicated target: the ledger is replicated (see ensure)
        self.hosts_column = False  # the table is known to have HOSTS_COLUMN
        self.database = database
        self.table = table
        self.qualified = f"{quote_ident(database)}.{quote_ident(table)}"
        self.run_id = str(uuid.uuid4())
        self._seq = 0
        self._deferred: list[str] = []  # rows (VALUES tuples) to send with the next write
        self._deferred_since = 0.0
        self.max_defer_seconds = MAX_DEFER_SECONDS
        self.host = socket.gethostname()
        self.os_user = _os_user()
        self.db_user = db_user
        self.consent_columns = False  # the table is known to have CONSENT_COLUMNS (see add_consent_columns)

    # -- schema -----------------------------------------------------------------------
    def exists(self) -> bool:
        return self.ch.table_exists(self.database, self.table)

    def ensure(self) -> None:
        """Create the target database and the ledger table when missing (on a cluster: on every host, one
        replicated table)."""
        if self.cluster is not None:
            self._ensure_replicated(self.cluster)
            return
        self.ch.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(self.database)}")
        self.ch.execute(self.create_sql())

    def create_sql(self, cluster: ClusterDDL | None = None) -> str:
        """The ledger's CREATE TABLE (for `cluster`: ON CLUSTER, replicated, with HOSTS_COLUMN)."""
        extra = (HOSTS_COLUMN,) if cluster is not None else ()
        cols = ",\n  ".join(f"{quote_ident(n)} {t}" for n, t in COLUMNS + CONSENT_COLUMNS + extra)
        engine = "MergeTree"
        if cluster is not None:
            engine = f"ReplicatedMergeTree({quote_string(self.replica_path(cluster))}, '{{replica}}')"
        return (
            f"CREATE TABLE IF NOT EXISTS {self.qualified}{cluster.clause() if cluster else ''} (\n  {cols},\n"
            "  `recorded_at` DateTime64(6, 'UTC') DEFAULT now64(6, 'UTC')\n)"
            f" ENGINE = {engine} ORDER BY (version, recorded_at, run_id, seq)"
            " COMMENT 'chmigrate ledger: append-only history of migration runs'"
        )

    def replica_path(self, cluster: ClusterDDL) -> str:
        """The ledger's one Keeper path for the whole cluster."""
        from chmigrate.migrations.keeper_lock import keeper_path

        return f"/clickhouse/chmigrate/{cluster.cluster}{keeper_path(self.database, self.table)[len('/chmigrate'):]}"

    def _ensure_replicated(self, cluster: ClusterDDL) -> None:
        rows = self.ch.query(
            "SELECT engine, (SELECT count() FROM system.columns WHERE database = {d:String} AND table = {t:String}"
            " AND name = {c:String}) FROM system.tables WHERE database = {d:String} AND name = {t:String}",
            {"d": self.database, "t": self.table, "c": HOSTS_COLUMN[0]})
        if rows and not str(rows[0][0]).startswith("Replicated"):
            raise ConfigError("cluster", f"{cluster.cluster!r} is set, but the ledger {self.database}.{self.table} "
                              f"is a {rows[0][0]} table of one node: its history would not be on the other replicas",
                              hint="copy it into a replicated ledger first: see the README, \"Moving to a cluster\"")
        settings = cluster.own_settings()
        if not rows:
            if not cluster.replicated_database:
                self.ch.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(self.database)}{cluster.clause()}",
                                settings=settings)
            else:  # an explicit Keeper path in a Replicated database (24.8 allows it by default)
                settings = settings | {"database_replicated_allow_replicated_engine_arguments": 1}
            self.ch.execute(self.create_sql(cluster), settings=settings)
        elif not int(rows[0][1]):
            self.ch.execute(f"ALTER TABLE {self.qualified}{cluster.clause()} ADD COLUMN IF NOT EXISTS "
                            f"{quote_ident(HOSTS_COLUMN[0])} {HOSTS_COLUMN[1]}", settings=settings)
        self.hosts_column = True

    def add_consent_columns(self) -> None:
        """Give a ledger made before consent was recorded its columns (one request; harmless to repeat)."""
        self.flush()
        adds = ", ".join(f"ADD COLUMN IF NOT EXISTS {quote_ident(n)} {t}" for n, t in CONSENT_COLUMNS)
        self.ch.execute(f"ALTER TABLE {self.qualified} {adds}")
        self.consent_columns = True

    # -- reading ------------------------------------------------------------------------
    def records(self) -> list[Record]:
        if not self.exists():
            return []
        rows = self.ch.query(
            "SELECT version, name, checksum, event, statement_index, statement_count, cumulative_hash,"
            " failed_statement, error, toString(recorded_at), run_id, seq, host, os_user"
            f" FROM {self.qualified} WHERE event != '{BACKFILLED}' ORDER BY recorded_at, run_id, seq",
            settings=CLUSTER_READ if self.cluster is not None else None,
        )
        return [
            Record(version=str(r[0]), name=str(r[1]), checksum=str(r[2]), event=str(r[3]),
                   statement_index=int(r[4]), statement_count=int(r[5]), cumulative_hash=str(r[6]),
                   failed_statement=int(r[7]), error=str(r[8]), recorded_at=str(r[9]), run_id=str(r[10]),
                   seq=int(r[11]), host=str(r[12]), os_user=str(r[13]))
            for r in rows
        ]

    def states(self) -> dict[str, VersionState]:
        return fold(self.records())

    # -- writing ------------------------------------------------------------------------
    def record(
        self,
        subject: Subject,
        *,
        event: Event,
        statement_index: int,
        cumulative_hash: str,
        failed_statement: int = 0,
        error: str = "",
        started_at: float = 0.0,
        duration_ms: int = 0,
        defer: bool = False,
        consent: ConsentNote | None = None,
        hosts: str = "",
    ) -> None:
        """Append one row; the server stamps recorded_at. With `defer`, the row rides along with the next
        write (or `flush`) instead of costing a request of its own: the executor sends a migration's
        `applied` row together with the next migration's `started` row."""
        self._seq += 1
        values: dict[str, str | int | float] = {
            "version": subject.version, "name": subject.name, "checksum": subject.checksum, "event": event,
            "statement_index": statement_index, "statement_count": subject.statement_count,
            "cumulative_hash": cumulative_hash, "failed_statement": failed_statement,
            "error": error[:4000], "started_at": started_at, "duration_ms": duration_ms,
            "run_id": self.run_id, "seq": self._seq, "host": self.host, "os_user": self.os_user,
            "db_user": self.db_user, "chmigrate_version": __version__,
        }
        literals = []
        for col, _ in COLUMNS:
            v = values[col]
            if col == "started_at":  # a plain literal keeps VALUES on ClickHouse's fast streaming parser
                stamp = datetime.fromtimestamp(float(started_at), tz=timezone.utc)
                literals.append(quote_string(stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"))
            elif isinstance(v, int):
                literals.append(str(int(v)))
            else:
                literals.append(quote_string(str(v)))
        if self.consent_columns:
            c = consent or ConsentNote("", 0, 0, "")
            literals += [quote_string(f"{self.os_user}@{self.host}" if consent else ""), quote_string(c.how),
                         str(int(c.rows)), str(int(c.bytes)), quote_string(c.destroyed[:4000])]
        if self.hosts_column:
            literals.append(quote_string(hosts))
        if not self._deferred:
            self._deferred_since = time.monotonic()
        self._deferred.append("(" + ", ".join(literals) + ")")
        if not defer or time.monotonic() - self._deferred_since >= self.max_defer_seconds:
            self.flush()

    def flush(self) -> None:
        """Send deferred rows (one request); a no-op when there are none."""
        if not self._deferred:
            return
        rows, self._deferred = self._deferred, []
        # async_insert = 0 in the query itself: the row must be durable before the next statement is sent.
        names = _NAMES + (tuple(n for n, _ in CONSENT_COLUMNS) if self.consent_columns else ())
        names += (HOSTS_COLUMN[0],) if self.hosts_column else ()
        quorum = "".join(f", {k} = {v!r}" if isinstance(v, str) else f", {k} = {v}"
                         for k, v in CLUSTER_WRITE.items()) if self.cluster is not None else ""
        sql = (f"INSERT INTO {self.qualified} ({', '.join(quote_ident(n) for n in names)})"
               f" SETTINGS async_insert = 0{quorum} VALUES " + ", ".join(rows))
        try:
            self.ch.execute(sql)
        except DatabaseError as exc:
            raise DatabaseError(f"could not write the ledger {self.database}.{self.table}: {exc.message}",
                                code=exc.code) from None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid()) if hasattr(os, "getuid") else ""
