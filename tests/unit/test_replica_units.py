"""What `verify` and `status` say when replicas disagree, over hand-built schemas and ledgers (the engine here
cannot hold two replicas that differ; the real-cluster tests in tests/cli/test_cluster_cli.py do)."""

from __future__ import annotations

from chmigrate.cli.render import replica_status_lines
from chmigrate.cli.wording import problem_line
from chmigrate.operations.replicas import ledger_disagreements, schema_disagreements
from chmigrate.results import MigrationStatus, OnReplica, Replica, ReplicaStatus, TargetStatus
from chmigrate.schema.compare import ReplicaComparison
from chmigrate.schema.diff import diff
from chmigrate.schema.objects import Column, Schema, Table
from chmigrate.schema.replicas import without_replica_names

A = Replica("chi-0-0", "chi-0-0", 9000, 1, 1)
B = Replica("chi-1-0", "chi-1-0", 9000, 1, 2)


def _table(args: str, *columns: str) -> Table:
    return Table(name="llm_usage", engine="ReplicatedMergeTree", engine_args=args, order_key="a",
                 columns=tuple(Column(c, "UInt8") for c in columns))


def _schema(table: Table) -> Schema:
    return Schema("db", (table,))


def test_replicas_may_differ_in_their_replica_name_but_not_in_their_keeper_path() -> None:
    one = _schema(_table("'/clickhouse/tables/u1/{shard}', 'r1'", "a"))
    named = _schema(_table("'/clickhouse/tables/u1/{shard}', 'r2'", "a"))
    elsewhere = _schema(_table("'/clickhouse/tables/u2/{shard}', 'r2'", "a"))
    assert diff(without_replica_names(one), without_replica_names(named)) == ()
    found = diff(without_replica_names(one), without_replica_names(elsewhere))
    assert [c.kind.value for c in found] == ["engine_changed"]  # they do not replicate each other


def test_a_replica_that_lacks_a_column_is_named_in_both_checks() -> None:
    want = _schema(_table("'/p', '{replica}'", "a", "cost_usd"))
    have_a = want
    have_b = _schema(_table("'/p', '{replica}'", "a"))
    b_changes = diff(want, have_b)
    replicas = (ReplicaComparison(A, (), "24.8.4.1"),
                ReplicaComparison(B, b_changes, "24.8.4.1", diff(have_a, have_b)))
    drift = [problem_line(OnReplica(r.replica.label, c)) for r in replicas for c in r.changes]
    assert drift == ["replica chi-1-0: column missing: db.llm_usage.cost_usd: expected UInt8, found none"]
    lines = [problem_line(d) for d in schema_disagreements(replicas)]
    assert lines == ["replica chi-1-0 differs from replica chi-0-0: column missing: db.llm_usage.cost_usd: "
                     "expected UInt8, found none"]


def _status(*states: str) -> tuple[MigrationStatus, ...]:
    return tuple(MigrationStatus(f"000{i}", f"m{i}", s, "c") for i, s in enumerate(states, 1))  # type: ignore[arg-type]


def test_a_lagging_ledger_is_a_disagreement_and_status_flags_it() -> None:
    target = _status("applied", "applied", "applied")
    ledgers = (ReplicaStatus(A, target), ReplicaStatus(B, _status("applied", "applied", "pending"), ("0003",)))
    assert [problem_line(d) for d in ledger_disagreements(ledgers)] == [
        "replica chi-1-0 records version 0003 as pending, replica chi-0-0 as applied"]
    t = TargetStatus("clickhouse", "http://chi:8123", False, target, cluster="main", replicas=ledgers)
    assert not t.clean  # `status --exit-code` fails
    assert replica_status_lines(t) == ["  replica chi-0-0: 3 applied, as the target",
                                       "  replica chi-1-0: DISAGREES: 0003 pending (the target: applied)"]
    assert TargetStatus("clickhouse", "x", False, target, cluster="main", replicas=ledgers[:1]).clean
