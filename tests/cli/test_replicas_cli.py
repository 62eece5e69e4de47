"""`status`, `verify` and `diff` with a cluster read every replica (clusterAllReplicas), through the real CLI
over HTTP. The test endpoint's clusters are made of local replicas (tests/support/endpoint.py: `main` is
localhost and 127.0.0.1, both this one engine, `one` localhost alone, `unreachable` adds 127.0.0.2:1 where
nothing listens), so here the replicas always agree; replicas that differ are in the real-cluster tests of
test_cluster_cli.py (run by the GitHub workflow's cluster job)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate
from tests.conftest import SEED, Target

pytestmark = pytest.mark.server


def _migrated(t: Target, tmp_path: Path) -> dict[str, str]:
    with t.connect() as ch:
        hosts = [str(r[0]) for r in ch.query("SELECT host_name FROM system.clusters WHERE cluster = 'main' "
                                             "ORDER BY shard_num, replica_num")]
    if hosts != ["localhost", "127.0.0.1"]:
        pytest.skip("not the test endpoint: its cluster `main` is two local replicas (a real cluster runs "
                    "tests/cli/test_cluster_cli.py)")
    env = t.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(SEED)}
    up = chmigrate("up", cwd=tmp_path, env=env)
    assert up.code == 0, up.all
    return env


def _queries(run_err: str) -> int:
    m = re.search(r"(\d+) queries sent to the target", run_err)
    assert m, run_err
    return int(m.group(1))


def test_every_replica_is_read_and_a_migrated_database_passes(http_target: Target, tmp_path: Path) -> None:
    env = _migrated(http_target, tmp_path)
    verify = chmigrate("verify", "--cluster", "main", cwd=tmp_path, env=env)
    assert verify.code == 0, verify.all
    assert "PASS  clickhouse: every replica of the cluster holds the same schema and ledger" in verify.out
    diff = chmigrate("diff", "--cluster", "main", cwd=tmp_path, env=env)
    assert diff.code == 0, diff.all
    assert "cluster main: 2 replica(s), each compared" in diff.out
    assert "replica localhost: no differences" in diff.out and "replica 127.0.0.1: no differences" in diff.out
    status = chmigrate("status", "--cluster", "main", cwd=tmp_path, env=env)
    assert status.code == 0, status.all
    assert "replica localhost: 3 applied, as the target" in status.out
    assert "replica 127.0.0.1: 3 applied, as the target" in status.out
    doc = json.loads(chmigrate("status", "--cluster", "main", "--format", "json", "--exit-code", cwd=tmp_path,
                               env=env).out)["clickhouse"]
    assert doc["cluster"] == "main"
    assert [(r["replica"], r["port"], r["agrees"]) for r in doc["replicas"]] == [("localhost", 9000, True),
                                                                                ("127.0.0.1", 9000, True)]
    assert [m["state"] for m in doc["replicas"][1]["migrations"]] == ["applied"] * 3
    # without a cluster nothing of it is said, and the inspection sends what it always sent
    plain = chmigrate("diff", cwd=tmp_path, env=env)
    assert "replica" not in plain.out and plain.code == 0, plain.all
    assert "replicas" not in json.loads(chmigrate("status", "--format", "json", cwd=tmp_path, env=env).out)[
        "clickhouse"]
    checks = json.loads(chmigrate("verify", "--format", "json", cwd=tmp_path, env=env).out)["checks"]
    assert [c["code"] for c in checks] == ["clickhouse.migrations", "clickhouse.drift", "clickhouse.views"]
    assert not any("replicas" in c for c in checks)
    # one query per system table, whatever the number of replicas
    one = chmigrate("diff", "--cluster", "one", cwd=tmp_path, env=env)
    assert "cluster one: 1 replica(s)" in one.out, one.all
    assert _queries(one.err) == _queries(diff.err) == _queries(plain.err) + 1


def test_a_column_dropped_by_hand_is_drift_on_each_replica(http_target: Target, tmp_path: Path) -> None:
    env = _migrated(http_target, tmp_path)
    db = http_target.database
    with http_target.connect() as ch:
        ch.execute(f"ALTER TABLE `{db}`.llm_usage DROP COLUMN turn_id")
    verify = chmigrate("verify", "--cluster", "main", cwd=tmp_path, env=env)
    assert verify.code == 1, verify.all
    assert "FAIL  clickhouse: schema matches the migrations (no drift)" in verify.out
    lines = [line.strip() for line in verify.out.splitlines()]
    for replica in ("localhost", "127.0.0.1"):
        assert any(line.startswith(f"replica {replica}: ") and f"{db}.llm_usage.turn_id" in line
                   for line in lines), verify.out
    # the same on both: the replicas agree with each other
    assert "PASS  clickhouse: every replica of the cluster holds the same schema and ledger" in verify.out
    doc = json.loads(chmigrate("verify", "--cluster", "main", "--format", "json", cwd=tmp_path, env=env).out)
    drift = next(c for c in doc["checks"] if c["code"] == "clickhouse.drift")
    assert any(d.startswith("replica 127.0.0.1: ") and "turn_id" in d for d in drift["details"]), drift
    assert drift["replicas"] == ["localhost", "127.0.0.1"], drift  # the replica of each detail
    diff = json.loads(chmigrate("diff", "--cluster", "main", "--format", "json", cwd=tmp_path, env=env).out)
    ch_doc = diff["clickhouse"]
    missing = [c for c in ch_doc["changes"] if c["object"] == f"{db}.llm_usage.turn_id"]
    assert len(missing) == 1 and missing[0]["replicas"] == ["localhost", "127.0.0.1"], ch_doc["changes"]
    assert all(any(c["object"] == f"{db}.llm_usage.turn_id" for c in r["changes"]) for r in ch_doc["replicas"])
    text = chmigrate("diff", "--cluster", "main", cwd=tmp_path, env=env).out
    assert "  replica localhost:\n" in text and "  replica 127.0.0.1:\n" in text, text


def test_a_replica_that_cannot_be_read_fails_loudly_naming_it(http_target: Target, tmp_path: Path) -> None:
    env = _migrated(http_target, tmp_path)
    for command in ("verify", "diff", "status"):
        r = chmigrate(command, "--cluster", "unreachable", cwd=tmp_path, env=env)
        assert r.code == 3, r.all
        first = r.err.strip().splitlines()[0]
        assert first.startswith("error: cluster unreachable: replica 127.0.0.2 (127.0.0.2:1) cannot be read: "), \
            r.all
        assert "localhost" not in first  # the replica that answered is not blamed
    r = chmigrate("verify", "--cluster", "nope", cwd=tmp_path, env=env)
    assert r.code == 2 and r.err.startswith("error: cluster: 'nope' is not a cluster of this server"), r.all
