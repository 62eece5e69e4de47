"""The `cluster` setting end to end, through the real CLI: `plan` shows (and `plan --format json` lists) the
statements exactly as `up` sends them to a cluster; the embedded engine refuses to apply them; a Replicated
database gets Replicated* engines without ON CLUSTER. A real multi-node cluster runs only in the GitHub
workflow (tests marked `cluster`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate
from tests.conftest import SEED, Target


def _project(tmp_path: Path, config: str = "") -> Path:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    (tmp_path / "chmigrate.toml").write_text('only = "clickhouse"\n' + config)
    return tmp_path


def test_plan_json_lists_each_migrations_statements_as_sent(tmp_path: Path) -> None:
    project = _project(tmp_path)
    r = chmigrate("plan", "--cluster", "main", "--format", "json", cwd=project)
    assert r.code == 0, r.all
    doc = json.loads(r.out)["clickhouse"]
    migrations = doc["migrations"]
    assert [m["version"] for m in migrations] == ["0001", "0002", "0003"]
    assert [m["file"] for m in migrations] == [s["path"] for s in doc["statements"]]
    sent = [s for s in doc["script"] if s["kind"] == "statement"]
    assert [st for m in migrations for st in m["statements"]] == [s["sql"] for s in sent]  # exactly as sent
    first, rollup, view = (m["statements"][0] for m in migrations)
    assert "CREATE TABLE llm_usage ON CLUSTER main\n(" in first and "ENGINE = ReplicatedMergeTree\n" in first
    assert "-- Raw LLM usage events" in first  # comments inside the statement are sent as written
    assert "ENGINE = ReplicatedSummingMergeTree" in rollup
    assert "CREATE MATERIALIZED VIEW llm_usage_daily_mv ON CLUSTER main TO llm_usage_daily" in view
    for s in sent:
        settings = dict(s["settings"])
        assert settings["distributed_ddl_output_mode"] == "throw" and settings["distributed_ddl_task_timeout"] == "600"
    # without a cluster: the statements as written, and no distributed DDL settings
    plain = json.loads(chmigrate("plan", "--format", "json", cwd=project).out)["clickhouse"]
    assert "ON CLUSTER" not in json.dumps(plain["migrations"])
    assert all("distributed_ddl_output_mode" not in dict(s["settings"]) for s in plain["script"])


def test_plan_text_shows_the_rewrite_and_the_embedded_engine_refuses_to_apply_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    env = {"CHMIGRATE_CLUSTER": "main", "CHMIGRATE_DDL_TIMEOUT": "90",
           "CHMIGRATE_REPLICA_PATH": "/clickhouse/tables/{uuid}/{shard}"}
    plan = chmigrate("plan", cwd=project, env=env)
    assert plan.code == 0, plan.all
    assert "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')" in plan.out
    assert "distributed_ddl_task_timeout = 90" in plan.out
    up = chmigrate("up", cwd=project, env=env)
    assert up.code == 2, up.all
    assert up.err.startswith("error: cluster: 'main' is set, but the embedded engine is a single node")
    status = json.loads(chmigrate("status", "--format", "json", cwd=project).out)
    assert all(m["state"] == "pending" for m in status["clickhouse"]["migrations"])  # nothing was sent


def test_environment_cluster_is_the_setting_and_still_the_variable(tmp_path: Path) -> None:
    project = _project(tmp_path, '[environments.prod]\ncluster = "prod_cluster"\n')
    (project / "clickhouse" / "0004_comment.sql").write_text(
        "ALTER TABLE llm_usage ON CLUSTER ${cluster} MODIFY COMMENT 'x';\nALTER TABLE llm_usage_daily "
        "MODIFY COMMENT 'y';\n")
    r = chmigrate("plan", "--env", "prod", "--format", "json", cwd=project)
    assert r.code == 0, r.all
    last = json.loads(r.out)["clickhouse"]["migrations"][-1]["statements"]
    # written ON CLUSTER ${cluster}: left as written (substituted); the other one gets the setting's cluster
    assert last == ["ALTER TABLE llm_usage ON CLUSTER prod_cluster MODIFY COMMENT 'x'",
                    "ALTER TABLE llm_usage_daily ON CLUSTER prod_cluster MODIFY COMMENT 'y'"]
    flag = json.loads(chmigrate("plan", "--env", "prod", "--cluster", "other", "--format", "json",
                                cwd=project).out)["clickhouse"]["migrations"][-1]["statements"]
    assert flag[1].endswith("ON CLUSTER other MODIFY COMMENT 'y'")  # the flag over the environment


def test_bad_cluster_settings_are_one_line_exit_2(tmp_path: Path) -> None:
    project = _project(tmp_path)
    r = chmigrate("plan", "--cluster", "ma`in", cwd=project)
    assert r.code == 2 and r.err.startswith("error: --cluster: invalid value 'ma`in'"), r.all
    r = chmigrate("plan", cwd=project, env={"CHMIGRATE_REPLICA_NAME": "{replica}"})
    assert r.code == 2 and r.err.startswith("error: CHMIGRATE_REPLICA_NAME: a replica name goes with a replica path")
    r = chmigrate("plan", cwd=project, env={"CHMIGRATE_DDL_TIMEOUT": "0"})
    assert r.code == 2 and "CHMIGRATE_DDL_TIMEOUT" in r.err.splitlines()[0]


def test_lint_cluster_defaults_to_the_setting(tmp_path: Path) -> None:
    project = tmp_path
    (project / "clickhouse").mkdir()
    (project / "clickhouse" / "0001_t.sql").write_text(
        "CREATE TABLE t (a UInt8) ENGINE = ReplicatedMergeTree ORDER BY a;\n")
    (project / "chmigrate.toml").write_text('only = "clickhouse"\n')
    assert "CH604" not in chmigrate("lint", cwd=project).all
    assert "CH604" in chmigrate("lint", "--cluster", "main", cwd=project).all


@pytest.mark.server
def test_plan_over_http_reads_the_database_engine_and_keeps_on_cluster(http_target: Target, tmp_path: Path) -> None:
    with http_target.connect() as ch:
        ch.execute(f"CREATE DATABASE `{http_target.database}`")  # Atomic: not a Replicated database
    env = http_target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(SEED), "CHMIGRATE_CLUSTER": "main"}
    r = chmigrate("plan", "--format", "json", cwd=tmp_path, env=env)
    assert r.code == 0, r.all
    statements = [st for m in json.loads(r.out)["clickhouse"]["migrations"] for st in m["statements"]]
    assert len(statements) == 3 and all(" ON CLUSTER main" in st for st in statements)


@pytest.mark.server
def test_replicated_database_gets_replicated_engines_without_on_cluster(http_target: Target,
                                                                         tmp_path: Path) -> None:
    if not http_target.keeper:
        pytest.skip("this ClickHouse has no Keeper, so it cannot hold a Replicated database")
    db = http_target.database
    with http_target.connect() as ch:
        try:
            ch.execute(f"CREATE DATABASE `{db}` ENGINE = Replicated('/chmigrate-test/{db}', 's1', 'r1')")
        except Exception as exc:  # chDB's test Keeper: the real behaviour runs in the GitHub workflow
            pytest.skip(f"this engine cannot create a Replicated database: {str(exc).splitlines()[0][:200]}")
    env = http_target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(SEED), "CHMIGRATE_CLUSTER": "main"}
    plan = json.loads(chmigrate("plan", "--format", "json", cwd=tmp_path, env=env).out)["clickhouse"]
    text = json.dumps(plan["migrations"])
    assert "ON CLUSTER" not in text and "ReplicatedMergeTree" in text
    sent = [s for s in plan["script"] if s["kind"] == "statement"]
    assert all(dict(s["settings"])["distributed_ddl_output_mode"] == "null_status_on_timeout" for s in sent)


@pytest.mark.cluster
def test_up_on_a_real_cluster(tmp_path: Path) -> None:
    """Against the workflow's cluster (CHMIGRATE_TEST_CLICKHOUSE_CLUSTER_URLS: one URL per replica)."""
    urls = [u for u in os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_CLUSTER_URLS", "").split(",") if u]
    if not urls:
        pytest.skip("no cluster here: set CHMIGRATE_TEST_CLICKHOUSE_CLUSTER_URLS (the GitHub workflow's "
                    "cluster job does)")
    from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig

    name = os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_CLUSTER", "main")
    password = os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_PASSWORD", "")
    db = "t_cluster_" + os.urandom(4).hex()
    with ClickHouse.connect(ClickHouseConfig(url=urls[0], password=password)) as ch:
        ch.execute(f"CREATE DATABASE `{db}` ON CLUSTER `{name}`")
    env = {"CHMIGRATE_CLICKHOUSE_URL": urls[0], "CHMIGRATE_DATABASE": db, "CHMIGRATE_ONLY": "clickhouse",
           "CHMIGRATE_MIGRATIONS_DIR": str(SEED), "CHMIGRATE_CLUSTER": name, "CLICKHOUSE_PASSWORD": password}
    up = chmigrate("up", cwd=tmp_path, env=env, timeout=600)
    assert up.code == 0, up.all
    for url in urls:  # every replica holds the tables, replicated
        with ClickHouse.connect(ClickHouseConfig(url=url, password=password)) as ch:
            engines = dict(ch.query("SELECT name, engine FROM system.tables WHERE database = {d:String}",
                                    {"d": db}))
        assert engines["llm_usage"] == "ReplicatedMergeTree", (url, engines)
        assert engines["llm_usage_daily"] == "ReplicatedSummingMergeTree", (url, engines)
        assert engines["llm_usage_daily_mv"] == "MaterializedView", (url, engines)
    again = chmigrate("up", cwd=tmp_path, env=env, timeout=600)
    assert again.code == 0 and "nothing to apply" in again.all.lower(), again.all


@pytest.mark.cluster
def test_verify_status_and_diff_read_every_replica_of_a_real_cluster(tmp_path: Path) -> None:
    """Each replica is read (clusterAllReplicas) and named; with two replicas or more, a table made by hand on
    one replica only is drift on that replica alone, and the replicas disagree."""
    urls = [u for u in os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_CLUSTER_URLS", "").split(",") if u]
    if not urls:
        pytest.skip("no cluster here: set CHMIGRATE_TEST_CLICKHOUSE_CLUSTER_URLS (the GitHub workflow's "
                    "cluster job does); tests/cli/test_replicas_cli.py runs on local replicas")
    from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig

    name = os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_CLUSTER", "main")
    password = os.environ.get("CHMIGRATE_TEST_CLICKHOUSE_PASSWORD", "")
    db = "t_replicas_" + os.urandom(4).hex()
    with ClickHouse.connect(ClickHouseConfig(url=urls[0], password=password)) as ch:
        ch.execute(f"CREATE DATABASE `{db}` ON CLUSTER `{name}`")
        hosts = [str(r[0]) for r in ch.query("SELECT host_name FROM system.clusters WHERE cluster = {c:String} "
                                             "ORDER BY shard_num, replica_num", {"c": name})]
    env = {"CHMIGRATE_CLICKHOUSE_URL": urls[0], "CHMIGRATE_DATABASE": db, "CHMIGRATE_ONLY": "clickhouse",
           "CHMIGRATE_MIGRATIONS_DIR": str(SEED), "CHMIGRATE_CLUSTER": name, "CLICKHOUSE_PASSWORD": password}
    assert chmigrate("up", cwd=tmp_path, env=env, timeout=600).code == 0
    verify = chmigrate("verify", cwd=tmp_path, env=env, timeout=600)
    assert verify.code == 0, verify.all
    assert "PASS  clickhouse: every replica of the cluster holds the same schema and ledger" in verify.out
    status = json.loads(chmigrate("status", "--format", "json", cwd=tmp_path, env=env).out)["clickhouse"]
    assert [r["host"] for r in status["replicas"]] == hosts and all(r["agrees"] for r in status["replicas"])
    diff = chmigrate("diff", cwd=tmp_path, env=env, timeout=600)
    assert all(f"replica {r['replica']}: no differences" in diff.out for r in status["replicas"]), diff.all
    if len(urls) < 2:
        return
    # by hand on the last replica only: no ON CLUSTER and a plain engine, so nothing replicates it
    with ClickHouse.connect(ClickHouseConfig(url=urls[-1], password=password)) as ch:
        ch.execute(f"CREATE TABLE `{db}`.stray (a UInt8) ENGINE = MergeTree ORDER BY a")
    verify = chmigrate("verify", cwd=tmp_path, env=env, timeout=600)
    assert verify.code == 1, verify.all
    drift = [line.strip() for line in verify.out.splitlines() if f"{db}.stray" in line]
    on_replica = [line for line in drift if " differs from replica " not in line]
    assert len(on_replica) == 1 and on_replica[0].startswith("replica "), verify.out  # one replica has it
    assert "FAIL  clickhouse: every replica of the cluster holds the same schema and ledger" in verify.out
    assert any(" differs from replica " in line for line in drift), verify.out
    doc = json.loads(chmigrate("diff", "--format", "json", cwd=tmp_path, env=env, timeout=600).out)["clickhouse"]
    stray = [c for c in doc["changes"] if c["object"] == f"{db}.stray"]
    assert len(stray) == 1 and len(stray[0]["replicas"]) == 1 and stray[0]["replicas"][0] in [
        r["replica"] for r in doc["replicas"]], doc


@pytest.mark.server
def test_diff_takes_a_replicated_table_for_the_plain_engine_in_the_files(http_target: Target, tmp_path: Path) -> None:
    """chDB with the in-memory test Keeper creates Replicated* tables (read-only: no interserver port), which
    is enough to inspect them: the engine the rewrite sends is no drift; other engine arguments are."""
    if not http_target.keeper:
        pytest.skip("this ClickHouse has no Keeper, so it cannot create a Replicated* table")
    db = http_target.database
    files = tmp_path / "migrations"
    files.mkdir()
    (files / "0001_t.sql").write_text("CREATE TABLE t (a UInt8, v UInt8) ENGINE = ReplacingMergeTree(v) ORDER BY a;\n"
                                      "CREATE TABLE u (a UInt8, v UInt8) ENGINE = ReplacingMergeTree(v) ORDER BY a;\n")
    with http_target.connect() as ch:
        ch.execute(f"CREATE DATABASE `{db}`")
        ch.execute(f"CREATE TABLE `{db}`.t (a UInt8, v UInt8) ENGINE = ReplicatedReplacingMergeTree("
                   f"'/clickhouse/tables/{db}/t', 'r1', v) ORDER BY a")
        ch.execute(f"CREATE TABLE `{db}`.u (a UInt8, v UInt8) ENGINE = ReplicatedReplacingMergeTree("
                   f"'/clickhouse/tables/{db}/u', 'r1') ORDER BY a")  # no version column: a real difference
    env = http_target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(files)}
    r = chmigrate("diff", "--format", "json", "--cluster", "main", cwd=tmp_path, env=env)
    changes = json.dumps(json.loads(r.out)["clickhouse"])
    assert f"{db}.u" in changes and f"{db}.t" not in changes, r.all
    # without a cluster the migrations were not sent with Replicated* engines: converting one is drift
    r = chmigrate("diff", "--format", "json", cwd=tmp_path, env=env)
    changes = json.dumps(json.loads(r.out)["clickhouse"])
    assert f"{db}.u" in changes and f"{db}.t" in changes, r.all


def test_down_dry_run_shows_the_rewrite_and_down_is_refused_on_the_embedded_engine(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert chmigrate("up", cwd=project).code == 0
    dry = chmigrate("down", "--to", "0002", "--dry-run", "--cluster", "main", cwd=project)
    assert dry.code == 0, dry.all
    assert "DROP VIEW IF EXISTS llm_usage_daily_mv ON CLUSTER main" in dry.out
    down = chmigrate("down", "--to", "0002", "--yes", "--cluster", "main", cwd=project)
    assert down.code == 2 and "embedded engine is a single node" in down.err, down.all
    status = json.loads(chmigrate("status", "--format", "json", cwd=project).out)
    assert all(m["state"] == "applied" for m in status["clickhouse"]["migrations"])
