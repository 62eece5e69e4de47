"""Tampered history is refused; --allow-changed is recorded; down round-trips; resolve is recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from chmigrate.migrations.discovery import checksum
from tests.cli.helpers import chmigrate
from tests.conftest import SEED, Target


def setup(target: Target, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    mig = tmp_path / "mig"
    shutil.copytree(SEED, mig)
    env = target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(mig)}
    assert chmigrate("up", cwd=tmp_path, env=env).code == 0
    return mig, env


def states(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    doc = json.loads(chmigrate("status", "--format", "json", cwd=tmp_path, env=env).out)
    return {m["version"]: m["state"] for m in doc["clickhouse"]["migrations"]}


def test_edited_applied_file_is_shown_refused_then_accepted_on_record(target: Target, tmp_path: Path) -> None:
    mig, env = setup(target, tmp_path)
    f = mig / "0002_create_llm_usage_daily.sql"
    old = checksum(f.read_bytes())
    f.write_text(f.read_text().replace("Daily rollups", "Daily roll-ups"))
    new = checksum(f.read_bytes())
    assert states(tmp_path, env)["0002"] == "changed"
    assert chmigrate("status", "--exit-code", cwd=tmp_path, env=env).code == 1
    r = chmigrate("up", cwd=tmp_path, env=env)
    assert r.code == 1 and str(f) in r.err and old in r.err and new in r.err
    ok = chmigrate("up", "--allow-changed", "0002", cwd=tmp_path, env=env)
    assert ok.code == 0, ok.all
    assert states(tmp_path, env)["0002"] == "applied"
    with target.connect() as ch:
        rows = ch.query(f"SELECT event, checksum, error, os_user FROM `{target.database}`.chmigrate_ledger "
                        "WHERE version = '0002' AND event = 'accepted_change'")
        assert len(rows) == 1 and rows[0][1] == new and old in rows[0][2]


def test_removed_and_renamed_files_are_unknown_and_refused(target: Target, tmp_path: Path) -> None:
    mig, env = setup(target, tmp_path)
    (mig / "0003_create_llm_usage_daily_mv.sql").rename(mig / "0004_create_llm_usage_daily_mv.sql")
    gap = chmigrate("status", cwd=tmp_path, env=env)  # the renumbering leaves a gap: named at once
    assert gap.code == 2 and "0004_create_llm_usage_daily_mv.sql" in gap.err and "gap" in gap.err
    env["CHMIGRATE_ALLOW_VERSION_GAPS"] = "1"
    st = states(tmp_path, env)
    assert st["0003"] == "unknown" and st["0004"] == "pending"
    r = chmigrate("up", cwd=tmp_path, env=env)
    assert r.code == 1 and "0003" in r.err and "missing" in r.err


def test_down_round_trip_and_refusal_without_down_part(target: Target, tmp_path: Path) -> None:
    mig, env = setup(target, tmp_path)
    dry = chmigrate("down", "--to", "1", "--dry-run", cwd=tmp_path, env=env)
    assert dry.code == 0 and "DROP VIEW IF EXISTS llm_usage_daily_mv" in dry.out
    r = chmigrate("down", "--to", "1", cwd=tmp_path, env=env)
    assert r.code == 0, r.all
    with target.connect() as ch:
        names = {n for (n,) in ch.query("SELECT name FROM system.tables WHERE database = {d:String}",
                                        {"d": target.database})}
    assert "llm_usage" in names and "llm_usage_daily" not in names and "llm_usage_daily_mv" not in names
    assert states(tmp_path, env) == {"0001": "applied", "0002": "pending", "0003": "pending"}
    assert chmigrate("up", cwd=tmp_path, env=env).code == 0
    assert set(states(tmp_path, env).values()) == {"applied"}
    (mig / "0004_no_down.sql").write_text("CREATE TABLE IF NOT EXISTS nd (x Int8) ENGINE = MergeTree ORDER BY x;")
    assert chmigrate("up", cwd=tmp_path, env=env).code == 0
    refused = chmigrate("down", "--to", "2", cwd=tmp_path, env=env)
    assert refused.code == 1 and "0004_no_down.sql" in refused.err and "no down part" in refused.err
    assert states(tmp_path, env)["0004"] == "applied"


def test_resolve_marks_a_dirty_version_and_records_who(target: Target, tmp_path: Path) -> None:
    mig, env = setup(target, tmp_path)
    (mig / "0004_fails.sql").write_text("CREATE TABLE IF NOT EXISTS r1 (x Int8) ENGINE = MergeTree ORDER BY x;\n"
                                        "INSERT INTO r_missing VALUES (1);\n")
    assert chmigrate("up", cwd=tmp_path, env=env).code == 3
    assert states(tmp_path, env)["0004"] == "failed"
    bad = chmigrate("resolve", "3", "--applied", cwd=tmp_path, env=env)
    assert bad.code == 1 and "not dirty" in bad.err
    r = chmigrate("resolve", "4", "--rolled-back", cwd=tmp_path, env=env)
    assert r.code == 0, r.all
    assert states(tmp_path, env)["0004"] == "pending"
    with target.connect() as ch:
        rows = ch.query(f"SELECT os_user, host, error FROM `{target.database}`.chmigrate_ledger "
                        "WHERE event = 'resolved_rolled_back'")
        assert len(rows) == 1 and rows[0][0] and rows[0][1] and "resolved by hand" in rows[0][2]
