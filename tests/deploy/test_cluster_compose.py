"""The GitHub workflow's cluster (.github/cluster/): the compose file, the replicas' and Keeper's configs
and the workflow job agree with each other, so that the cluster job starts what its tests expect: cluster
`main` lists exactly the compose file's ClickHouse services, each named by its REPLICA variable (its
{replica} macro and interserver host), all of them on ClickHouse 24.8 with the one Keeper service, and the
job's URLs are the ports the replicas publish. (Docker is not here: the cluster itself runs only there.)"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / ".github" / "cluster"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((CLUSTER / "compose.yml").read_text())


def test_cluster_main_lists_the_compose_replicas_each_named_by_its_replica_variable() -> None:
    services = _compose()["services"]
    servers = {n: s for n, s in services.items() if s["image"].startswith("clickhouse/clickhouse-server:")}
    assert len(servers) >= 2 and all(s["image"].endswith(":24.8-alpine") for s in servers.values())
    config = ET.parse(CLUSTER / "replica.xml").getroot()
    shards = config.findall("./remote_servers/main/shard")
    assert len(shards) == 1  # one shard: the ledger's single Keeper path serves the whole cluster
    hosts = [r.findtext("host") for r in shards[0].findall("replica")]
    assert sorted(hosts) == sorted(servers), (hosts, sorted(servers))
    for name, svc in servers.items():
        assert svc["environment"]["REPLICA"] == name == svc["hostname"]
        assert "./replica.xml:/etc/clickhouse-server/config.d/replica.xml:ro" in svc["volumes"]
        assert svc["environment"]["CLICKHOUSE_PASSWORD"] == shards[0].find(f"replica[host='{name}']/password").text
    assert config.find("./macros/replica").get("from_env") == "REPLICA"
    assert config.find("./interserver_http_host").get("from_env") == "REPLICA"
    assert config.findtext("./macros/shard")


def test_the_replicas_use_the_one_keeper_service() -> None:
    services = _compose()["services"]
    keeper = [n for n, s in services.items() if s["image"].startswith("clickhouse/clickhouse-keeper:")]
    assert keeper == ["keeper"]
    config = ET.parse(CLUSTER / "replica.xml").getroot()
    nodes = [(n.findtext("host"), n.findtext("port")) for n in config.findall("./zookeeper/node")]
    kconf = ET.parse(CLUSTER / "keeper.xml").getroot()
    assert nodes == [("keeper", kconf.findtext("./keeper_server/tcp_port"))]
    assert kconf.findtext("./keeper_server/raft_configuration/server/hostname") == "keeper"
    assert config.findtext("./keeper_map_path_prefix")  # the run lock's KeeperMap table
    assert config.findtext("./distributed_ddl/path")  # the ON CLUSTER queue


def test_the_workflow_job_reaches_each_replica_on_its_published_port() -> None:
    services = _compose()["services"]
    published = {int(p.split(":")[1]) for s in services.values() for p in s.get("ports", [])}
    job = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())["jobs"]["cluster"]
    urls = job["env"]["CHMIGRATE_TEST_CLICKHOUSE_CLUSTER_URLS"].split(",")
    assert {urlsplit(u).port for u in urls} == published and len(urls) == len(published)
    assert job["env"]["CHMIGRATE_TEST_CLUSTER_COMPOSE"] == ".github/cluster/compose.yml"
    runs = " ".join(str(step.get("run", "")) for step in job["steps"])
    assert "docker compose -f .github/cluster/compose.yml up -d --wait" in runs
    assert "tests/cluster" in runs and "-m cluster" in runs
