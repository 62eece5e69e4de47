"""The committed schema snapshot: a drift check on a fresh runner (no cache) reads it instead of replaying,
verify and `snapshot --check` fail when the migrations changed since it was written, `new` leaves it
current and `up` on the local engine brings it up to date."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate
from tests.conftest import Target


def _project(target: Target, seed_copy: Path) -> dict[str, str]:
    return target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(seed_copy)}


def test_a_fresh_runner_reads_the_snapshot_and_a_stale_one_fails(target: Target, seed_copy: Path,
                                                                 tmp_path: Path) -> None:
    env = _project(target, seed_copy)
    assert chmigrate("up", cwd=tmp_path, env=env).code == 0
    missing = chmigrate("snapshot", "--check", cwd=tmp_path, env=env)
    assert missing.code == 1 and "schema.snapshot.json is missing" in missing.err, missing.all
    wrote = chmigrate("snapshot", cwd=tmp_path, env=env)
    assert wrote.code == 0 and "2 tables, 1 views" in wrote.out, wrote.all
    snap = json.loads((seed_copy / "schema.snapshot.json").read_text())
    assert {t["name"] for t in snap["canonical"]["tables"]} == {"llm_usage", "llm_usage_daily"}

    shutil.rmtree(tmp_path / ".chmigrate" / "cache")  # a fresh CI runner: nothing cached
    diff = chmigrate("diff", "--exit-code", cwd=tmp_path, env=env)
    assert diff.code == 0 and "desired schema from the committed snapshot" in diff.err, diff.all
    assert not list((tmp_path / ".chmigrate" / "cache").glob("desired-*"))  # nothing replayed, nothing cached
    assert chmigrate("verify", cwd=tmp_path, env=env).code == 0

    (seed_copy / "0004_region.sql").write_text(
        "ALTER TABLE llm_usage ADD COLUMN region LowCardinality(String) DEFAULT '';\n")
    stale = chmigrate("snapshot", "--check", cwd=tmp_path, env=env)
    assert stale.code == 1 and "is stale" in stale.err, stale.all
    verify = chmigrate("verify", "--format", "json", cwd=tmp_path, env=env)
    checks = {c["code"]: c["passed"] for c in json.loads(verify.out)["checks"]}
    assert verify.code == 1 and checks["clickhouse.snapshot"] is False, verify.all
    # a stale snapshot is never used: the diff replays and sees the new column missing from the target
    diff = chmigrate("diff", "--exit-code", cwd=tmp_path, env=env)
    assert diff.code == 1 and "region" in diff.out and "snapshot is stale" in diff.err, diff.all


def test_new_keeps_it_current_and_up_on_the_local_engine_rewrites_it(seed_copy: Path, tmp_path: Path) -> None:
    env = Target("embedded", tmp_path, "default").cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(seed_copy)}
    assert chmigrate("snapshot", cwd=tmp_path, env=env).code == 0
    assert chmigrate("new", "add_region", cwd=tmp_path, env=env).code == 0
    assert chmigrate("snapshot", "--check", cwd=tmp_path, env=env).code == 0  # an empty file changes nothing
    (new,) = seed_copy.glob("0004_*.sql")
    new.write_text("ALTER TABLE llm_usage ADD COLUMN region LowCardinality(String) DEFAULT '';\n")
    up = chmigrate("up", cwd=tmp_path, env=env)
    assert up.code == 0 and "schema.snapshot.json was stale, rewritten" in up.all, up.all
    assert chmigrate("snapshot", "--check", cwd=tmp_path, env=env).code == 0
    snap = json.loads((seed_copy / "schema.snapshot.json").read_text())
    usage = next(t for t in snap["canonical"]["tables"] if t["name"] == "llm_usage")
    assert "region" in {c["name"] for c in usage["columns"]}


@pytest.mark.server
def test_up_against_a_server_leaves_a_stale_snapshot_stale(http_target: Target, seed_copy: Path,
                                                           tmp_path: Path) -> None:
    env = _project(http_target, seed_copy)
    assert chmigrate("snapshot", cwd=tmp_path, env=env).code == 0
    (seed_copy / "0004_region.sql").write_text(
        "ALTER TABLE llm_usage ADD COLUMN region LowCardinality(String) DEFAULT '';\n")
    up = chmigrate("up", cwd=tmp_path, env=env)
    assert up.code == 0 and "rewritten" not in up.all, up.all
    assert chmigrate("snapshot", "--check", cwd=tmp_path, env=env).code == 1  # CI still sees it fail


def test_a_damaged_snapshot_is_an_error_naming_the_file(seed_copy: Path, tmp_path: Path) -> None:
    env = Target("embedded", tmp_path, "default").cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(seed_copy)}
    (seed_copy / "schema.snapshot.json").write_text("<<<<<<< HEAD\n{}\n")
    r = chmigrate("diff", cwd=tmp_path, env=env)
    assert r.code == 2 and "schema.snapshot.json is not a chmigrate schema snapshot" in r.err, r.all
