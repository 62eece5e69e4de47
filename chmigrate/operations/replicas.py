"""Each replica's own ledger, for `status` and `verify` with a cluster: one clusterAllReplicas query.

The target's state is what the node chmigrate connects to says (operations/clickhouse.status); each
replica's ledger is folded the same way and compared with it version by version. A replica whose ledger
lags (replication behind, a replica restored from an old backup) or has no ledger table disagrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chmigrate.connect import ClickHouseTarget
from chmigrate.errors import DatabaseError
from chmigrate.migrations.discovery import Migration
from chmigrate.migrations.ledger import BACKFILLED, Record, fold
from chmigrate.migrations.planner import statuses
from chmigrate.results import MigrationStatus, Replica, ReplicaDisagreement, ReplicaStatus
from chmigrate.schema.compare import ReplicaComparison
from chmigrate.schema.inspect import sql_string, system_table
from chmigrate.schema.replicas import read_replicas
from chmigrate.targets.clickhouse import ClickHouse, quote_ident

# The columns Ledger.records reads, in its order.
_RECORD_COLUMNS = ("version, name, checksum, event, statement_index, statement_count, cumulative_hash, "
                   "failed_statement, error, toString(recorded_at), run_id, seq, host, os_user")


def _record(r: Sequence[Any]) -> Record:
    return Record(version=str(r[0]), name=str(r[1]), checksum=str(r[2]), event=str(r[3]),
                  statement_index=int(r[4]), statement_count=int(r[5]), cumulative_hash=str(r[6]),
                  failed_statement=int(r[7]), error=str(r[8]), recorded_at=str(r[9]), run_id=str(r[10]),
                  seq=int(r[11]), host=str(r[12]), os_user=str(r[13]))


def replica_records(ch: ClickHouse, tgt: ClickHouseTarget, replicas: Sequence[Replica]) -> list[list[Record]]:
    """Each replica's ledger rows in order (empty where it has no ledger table): two queries."""
    cluster = tgt.cluster
    assert cluster is not None
    holding = read_replicas(ch, cluster, replicas,
                            f"SELECT _shard_num, 1 FROM {system_table('tables', cluster)} WHERE database = "
                            f"{sql_string(tgt.database)} AND name = {sql_string(tgt.ledger_table)}")
    if not any(holding):
        return [[] for _ in replicas]
    source = (f"clusterAllReplicas({sql_string(cluster)}, "
              f"{quote_ident(tgt.database)}.{quote_ident(tgt.ledger_table)})")
    sql = (f"SELECT _shard_num, {_RECORD_COLUMNS} FROM {source} WHERE event != '{BACKFILLED}' "
           "ORDER BY _shard_num, recorded_at, run_id, seq")
    if all(holding):
        return [[_record(r) for r in rows] for rows in read_replicas(ch, cluster, replicas, sql)]
    # Some replicas have no ledger table (they read as empty, so they disagree): the others are read with
    # the replicas that lack it skipped, which they were seen to lack one query ago.
    lacking = [r.label for r, rows in zip(replicas, holding) if not rows]
    try:
        rows = ch.query(sql, settings={"skip_unavailable_shards": 1})
    except DatabaseError as exc:
        raise DatabaseError(f"cluster {cluster}: replica {', '.join(lacking)} has no ledger table "
                            f"{tgt.database}.{tgt.ledger_table}, and the others' could not be read without it: "
                            f"{exc.message}", code=exc.code) from None
    out: list[list[Record]] = [[] for _ in replicas]
    for r in rows:
        if holding[int(r[0]) - 1]:
            out[int(r[0]) - 1].append(_record(r[1:]))
    return out


def replica_statuses(ch: ClickHouse, tgt: ClickHouseTarget, replicas: Sequence[Replica],
                     migrations: tuple[Migration, ...], target: Sequence[MigrationStatus]) -> tuple[ReplicaStatus, ...]:
    """Each replica's versions, and those whose state is not the target's (`target`: its statuses)."""
    want = {m.version: m.state for m in target}
    out = []
    for replica, records in zip(replicas, replica_records(ch, tgt, replicas)):
        rows = tuple(statuses(migrations, fold(records)))
        have = {m.version: m.state for m in rows}
        differs = tuple(v for v in sorted(want.keys() | have.keys(), key=_order) if want.get(v) != have.get(v))
        out.append(ReplicaStatus(replica, rows, differs))
    return tuple(out)


def _order(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (1 << 62, version)


def ledger_disagreements(replicas: Sequence[ReplicaStatus]) -> tuple[ReplicaDisagreement, ...]:
    """Versions whose state on a replica is not the one on the first replica."""
    if len(replicas) < 2:
        return ()
    ref = replicas[0]
    ref_states = {m.version: m.state for m in ref.migrations}
    out = []
    for r in replicas[1:]:
        states = {m.version: m.state for m in r.migrations}
        for v in sorted(ref_states.keys() | states.keys(), key=_order):
            if ref_states.get(v) != states.get(v):
                out.append(ReplicaDisagreement(r.replica.label, ref.replica.label, version=v,
                                               state=states.get(v) or "absent",
                                               reference_state=ref_states.get(v) or "absent"))
    return tuple(out)


def schema_disagreements(replicas: Sequence[ReplicaComparison]) -> tuple[ReplicaDisagreement, ...]:
    if not replicas:
        return ()
    ref = replicas[0].replica.label
    return tuple(ReplicaDisagreement(r.replica.label, ref, change=c) for r in replicas[1:] for c in r.disagreements)
