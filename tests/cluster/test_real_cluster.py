"""Against a real replicated cluster: the GitHub workflow's (.github/cluster/compose.yml: one Keeper, two
ClickHouse 24.8 replicas ch1 and ch2 of one shard, cluster `main`). CHMIGRATE_TEST_CLICKHOUSE_CLUSTER_URLS
names one URL per replica; CHMIGRATE_TEST_CLUSTER_COMPOSE the compose file, to stop and start ch2. No machine
here has a cluster: these tests skip there, with that reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chmigrate.migrations.distributed import queue_entry
from chmigrate.migrations.outcome import statement_id
from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig
from tests.cli.helpers import chmigrate
from tests.conftest import SEED

URLS = [u for u in os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_CLUSTER_URLS", "").split(",") if u]
NAME = os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_CLUSTER", "main")
PASSWORD = os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_PASSWORD", "")
COMPOSE = os.environ.get("CHMIGRATE_TEST_CLUSTER_COMPOSE", "")

pytestmark = [pytest.mark.cluster, pytest.mark.skipif(
    len(URLS) < 2, reason="no cluster here: set CHMIGRATE_TEST_CLICKHOUSE_CLUSTER_URLS to two replicas' URLs "
    "(the GitHub workflow's cluster job does)")]


def _ch(url: str) -> ClickHouse:
    return ClickHouse.connect(ClickHouseConfig(url=url, password=PASSWORD))


def _env(db: str, migrations: Path = SEED, **extra: str) -> dict[str, str]:
    return {"CHMIGRATE_CLICKHOUSE_URL": URLS[0], "CHMIGRATE_DATABASE": db, "CHMIGRATE_ONLY": "clickhouse",
            "CHMIGRATE_MIGRATIONS_DIR": str(migrations), "CHMIGRATE_CLUSTER": NAME,
            "CLICKHOUSE_PASSWORD": PASSWORD, **extra}


def _schema(url: str, db: str) -> list[tuple[Any, ...]]:
    with _ch(url) as ch:
        return ch.query("SELECT table, name, type, default_expression FROM system.columns WHERE database = "
                        "{d:String} ORDER BY table, position", {"d": db})


def _engines(url: str, db: str) -> dict[str, str]:
    with _ch(url) as ch:
        return {str(r[0]): str(r[1]) for r in
                ch.query("SELECT name, engine FROM system.tables WHERE database = {d:String}", {"d": db})}


def _ledger(url: str, db: str) -> list[tuple[Any, ...]]:
    with _ch(url) as ch:
        ch.execute(f"SYSTEM SYNC REPLICA `{db}`.chmigrate_ledger")
        return ch.query(f"SELECT version, event, statement_index, run_id, seq, confirmed_hosts FROM `{db}`."
                        "chmigrate_ledger ORDER BY recorded_at, run_id, seq",
                        settings={"select_sequential_consistency": 1})


def _compose(*args: str) -> None:
    if not COMPOSE:
        pytest.skip("CHMIGRATE_TEST_CLUSTER_COMPOSE names no compose file: replicas cannot be stopped")
    subprocess.run(["docker", "compose", "-f", COMPOSE, *args], check=True, timeout=300)


@pytest.fixture
def db() -> Iterator[str]:
    name = "t_cluster_" + uuid.uuid4().hex[:8]
    yield name
    with _ch(URLS[0]) as ch:
        ch.execute(f"DROP DATABASE IF EXISTS `{name}` ON CLUSTER `{NAME}` SYNC")


def test_up_applies_on_every_replica_with_one_ledger(db: str, tmp_path: Path) -> None:
    up = chmigrate("up", cwd=tmp_path, env=_env(db), timeout=600)
    assert up.code == 0, up.all
    for url in URLS:
        engines = _engines(url, db)
        assert engines["llm_usage"] == "ReplicatedMergeTree", (url, engines)
        assert engines["llm_usage_daily"] == "ReplicatedSummingMergeTree", (url, engines)
        assert engines["chmigrate_ledger"] == "ReplicatedMergeTree", (url, engines)
        assert engines["chmigrate_ledger_keeper_lock"] == "KeeperMap", (url, engines)
    assert _schema(URLS[0], db) == _schema(URLS[1], db)
    ledgers = [_ledger(url, db) for url in URLS]
    assert ledgers[0] == ledgers[1] and ledgers[0]
    applied = [r for r in ledgers[0] if r[1] == "applied"]
    assert [r[0] for r in applied] == ["0001", "0002", "0003"]
    assert all(r[5] and all(t.endswith(f"={len(URLS)}/{len(URLS)}") for t in r[5].split()) for r in applied), applied
    with _ch(URLS[1]) as ch:  # one Keeper path for the whole cluster
        paths = ch.query("SELECT zookeeper_path FROM system.replicas WHERE database = {d:String} AND "
                         "table = 'chmigrate_ledger'", {"d": db})
        assert paths == [(f"/clickhouse/chmigrate/{NAME}/{db}.chmigrate_ledger",)]
        found = queue_entry(ch, NAME, statement_id(applied[0][3], "0001", 1))
    if found is not None:  # the queue keeps entries for a while: every host finished the statement
        assert found.confirmed == len(URLS) and not found.pending, found
    again = chmigrate("up", cwd=tmp_path, env=_env(db), timeout=600)
    assert again.code == 0 and "nothing to apply" in again.all.lower(), again.all
    verify = chmigrate("verify", cwd=tmp_path, env=_env(db), timeout=600)
    assert verify.code == 0, verify.all


def test_verify_fails_when_one_replica_differs(db: str, tmp_path: Path) -> None:
    assert chmigrate("up", cwd=tmp_path, env=_env(db), timeout=600).code == 0
    with _ch(URLS[1]) as ch:  # on ch2 alone: not replicated, not in the files
        ch.execute(f"CREATE TABLE `{db}`.stray (a UInt8) ENGINE = MergeTree ORDER BY a")
    verify = chmigrate("verify", cwd=tmp_path, env=_env(db), timeout=600)
    assert verify.code == 1 and "stray" in verify.all, verify.all


def test_a_replica_stopped_during_up_catches_up(db: str, tmp_path: Path) -> None:
    mig = tmp_path / "mig"
    shutil.copytree(SEED, mig)
    (mig / "0004_many_columns.sql").write_text("".join(
        f"ALTER TABLE llm_usage ADD COLUMN IF NOT EXISTS extra_{i} UInt8 DEFAULT 0;\n" for i in range(40)))
    env = _env(db, mig, CHMIGRATE_DDL_TIMEOUT="5")
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHMIGRATE_") and k != "CLICKHOUSE_PASSWORD"}
    run = subprocess.Popen([sys.executable, "-m", "chmigrate", "up"], cwd=tmp_path, env=base | env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.stdout is not None
    for line in run.stdout:
        if "0004" in line:
            break
    _compose("stop", "ch2")
    try:
        out, err = run.communicate(timeout=600)
        assert run.returncode != 0 or "0004" in out, out + err  # it stopped loudly (or had finished)
        if run.returncode != 0:
            assert "ch2" in err or "not finished" in err or "ledger" in err, err
    finally:
        _compose("up", "-d", "--wait", "ch2")
    deadline = time.monotonic() + 120
    while True:  # the restarted replica runs the queued DDL and fetches the ledger's parts
        resumed = chmigrate("up", cwd=tmp_path, env=_env(db, mig), timeout=600)
        if resumed.code == 0 or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert resumed.code == 0, resumed.all
    assert _schema(URLS[0], db) == _schema(URLS[1], db)
    assert _ledger(URLS[0], db) == _ledger(URLS[1], db)
    assert chmigrate("verify", cwd=tmp_path, env=_env(db, mig), timeout=600).code == 0


def test_a_replicated_database_gets_no_on_cluster_and_holds_everything(db: str, tmp_path: Path) -> None:
    with _ch(URLS[0]) as ch:
        ch.execute(f"CREATE DATABASE `{db}` ON CLUSTER `{NAME}` ENGINE = Replicated('/clickhouse/databases/{db}', "
                   "'{shard}', '{replica}')")
    plan = chmigrate("plan", cwd=tmp_path, env=_env(db), timeout=600)
    assert plan.code == 0 and "ON CLUSTER" not in plan.out and "ReplicatedMergeTree" in plan.out, plan.all
    up = chmigrate("up", cwd=tmp_path, env=_env(db), timeout=600)
    assert up.code == 0, up.all
    for url in URLS:
        engines = _engines(url, db)
        assert engines["llm_usage"] == "ReplicatedMergeTree" and engines["chmigrate_ledger"] == "ReplicatedMergeTree"
    assert _ledger(URLS[0], db) == _ledger(URLS[1], db)
    again = chmigrate("up", cwd=tmp_path, env=_env(db), timeout=600)
    assert again.code == 0 and "nothing to apply" in again.all.lower(), again.all
