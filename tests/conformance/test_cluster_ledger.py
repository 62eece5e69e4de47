"""The ledger and the run lock of a cluster, as far as one engine can show them: the ledger is one
ReplicatedMergeTree table on one Keeper path for the whole cluster (chDB's test Keeper creates it, read-only),
read with sequential consistency; a ledger a single node made is refused, not silently split; the lease is
refused on a cluster. The multi-host behaviour (ON CLUSTER,
quorum writes, a replica down) runs in the GitHub workflow's cluster job."""

from __future__ import annotations

import pytest

from chmigrate import api
from chmigrate.errors import ConfigError
from chmigrate.migrations.cluster import ClusterDDL
from chmigrate.migrations.ledger import Ledger
from tests.cli.helpers import chmigrate
from tests.conftest import SEED, Target


@pytest.mark.server
def test_a_clusters_ledger_is_one_replicated_table_on_one_keeper_path(http_target: Target) -> None:
    if not http_target.keeper:
        pytest.skip("this ClickHouse has no Keeper, so it cannot create a Replicated* table")
    db = http_target.database
    with http_target.connect() as ch:
        ch.execute(f"CREATE DATABASE `{db}`")
        # as in a Replicated database (no ON CLUSTER, which this single engine cannot run)
        ledger = Ledger(ch, db, cluster=ClusterDDL("main", replicated_database=True))
        ledger.ensure()
        rows = ch.query("SELECT engine, zookeeper_path, replica_name FROM system.replicas "
                        "INNER JOIN system.tables USING (database, table) WHERE database = {d:String}", {"d": db})
        assert rows == [("ReplicatedMergeTree", f"/clickhouse/chmigrate/main/{db}.chmigrate_ledger", "r1")]
        assert ledger.records() == []  # read with select_sequential_consistency = 1
        again = Ledger(ch, db, cluster=ClusterDDL("main", replicated_database=True))
        again.ensure()  # the table is there: nothing to create
        assert again.hosts_column


@pytest.mark.server
def test_a_ledger_one_node_made_is_refused_when_a_cluster_is_set(http_target: Target) -> None:
    api.up(http_target.settings())  # a single node's ledger
    with http_target.connect() as ch:
        with pytest.raises(ConfigError, match="is a MergeTree table of one node"):
            Ledger(ch, http_target.database, cluster=ClusterDDL("main")).ensure()
        tables = {r[0] for r in ch.query("SELECT name FROM system.tables WHERE database = {d:String}",
                                         {"d": http_target.database})}
    assert "chmigrate_ledger" in tables  # left as it was


@pytest.mark.server
def test_the_lease_is_refused_on_a_cluster(http_target: Target, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = http_target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(SEED), "CHMIGRATE_CLUSTER": "main",
                                   "CHMIGRATE_LOCK": "lease"}
    r = chmigrate("up", cwd=tmp_path, env=env)
    assert r.code == 2 and "lease refused" in r.err and "main" in r.err, r.all
    assert len(r.err.strip().splitlines()) <= 2, r.err
    with http_target.connect() as ch:  # nothing was created
        assert ch.query("SELECT count() FROM system.databases WHERE name = {d:String}",
                        {"d": http_target.database}) == [(0,)]

