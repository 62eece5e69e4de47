"""Reading what each host did with an ON CLUSTER statement: the reply rows, a host's error, a wait that ran
out of time. The reply text is formatted by the real engine (TabSeparated, as the server sends it over HTTP),
the error messages with the format strings of ClickHouse's DDLOnClusterQueryStatusSource."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chmigrate.errors import DatabaseError
from chmigrate.migrations.cluster import ClusterDDL
from chmigrate.migrations.distributed import from_reply, host_error, streamed_error, timed_out
from chmigrate.migrations.ledger import Ledger
from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig


@pytest.fixture(scope="module")
def ch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    with ClickHouse.connect(ClickHouseConfig(local_dir=tmp_path_factory.mktemp("engine"))) as c:
        yield c


def _reply(ch: ClickHouse, rows: list[tuple[str, int, int, str]]) -> str:
    """The reply's body as the server sends it, through the same client call: the columns of an ON CLUSTER
    reply (host, port, status, error, hosts remaining, hosts active), TabSeparated."""
    values = ", ".join(f"('{h}', {p}, {s}, '{e}', {len(rows) - i - 1}, {len(rows)})"
                       for i, (h, p, s, e) in enumerate(rows))
    return ch.execute_reply("SELECT * FROM values('host String, port UInt16, status Int64, error String, "
                            f"num_hosts_remaining UInt64, num_hosts_active UInt64', {values})")


def test_each_host_confirmed_or_failed_is_read_from_the_reply(ch: ClickHouse) -> None:
    text = _reply(ch, [("chi-0-0", 9000, 0, ""), ("chi-0-1", 9000, 0, "")])
    outcome = from_reply(text)
    assert [h.host for h in outcome.hosts] == ["chi-0-0:9000", "chi-0-1:9000"]
    assert outcome.confirmed == 2 and outcome.tally() == "2/2" and not outcome.failed
    bad = from_reply(_reply(ch, [("chi-0-0", 9000, 0, ""), ("chi-0-1", 9000, 57, "Table x already\\nexists")]))
    assert bad.tally() == "1/2" and bad.failed[0].host == "chi-0-1:9000"
    assert bad.failed[0].error == "Table x already exists"


def test_a_reply_without_host_rows_confirms_nothing() -> None:
    assert from_reply("").hosts == ()
    assert from_reply("s1\tr1\tOK\t0\t0").hosts == ()  # a Replicated database's shard/replica rows


def test_a_host_error_names_the_host_and_a_timeout_the_queue_entry() -> None:
    msg = ("There was an error on [chi-0-1:9000]: Code: 57. DB::Exception: Table db.t already exists. "
           "(TABLE_ALREADY_EXISTS) (version 24.8.4.13)")
    assert host_error(msg) == ("chi-0-1:9000", "Code: 57. DB::Exception: Table db.t already exists. "
                               "(TABLE_ALREADY_EXISTS) (version 24.8.4.13)")
    assert host_error("Code: 62. Syntax error") is None
    late = DatabaseError("Distributed DDL task /clickhouse/task_queue/ddl/query-0000000012 is not finished on 1 "
                         "of 2 hosts (0 of them are currently executing the task, 1 are inactive). They are going "
                         "to execute the query in background. Was waiting for 5.004 seconds", code=159)
    assert timed_out(late) == "distributed DDL entry query-0000000012 is not finished on 1 of 2 hosts"
    assert timed_out(DatabaseError("Timeout exceeded: elapsed 5 seconds", code=159)) is None
    assert streamed_error("chi-0-0\t9000\t0\t\t1\t1\nCode: 57. DB::Exception: There was an error on [chi-0-1:9000]: x"
                          ) == (57, "There was an error on [chi-0-1:9000]: x")


def test_the_clusters_ledger_is_one_replicated_table_the_engine_parses(ch: ClickHouse) -> None:
    ledger = Ledger(ch, "analytics", "chmigrate_ledger")
    for cluster in (ClusterDDL("main"), ClusterDDL("main", replicated_database=True)):
        sql = ledger.create_sql(cluster)
        formatted = str(ch.query("SELECT formatQuery({q:String})", {"q": sql})[0][0])
        assert ("ON CLUSTER main" in formatted) is not cluster.replicated_database, formatted
        assert "ReplicatedMergeTree('/clickhouse/chmigrate/main/analytics.chmigrate_ledger', '{replica}')" in formatted
        assert "{shard}" not in formatted and "confirmed_hosts" in formatted
    assert "Replicated" not in ledger.create_sql()
