"""CLI scenarios on the embedded default, run as a newcomer runs them (subprocess, fresh folder)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate
from tests.conftest import SEED

CH_ONLY = {"CHMIGRATE_ONLY": "clickhouse"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    return tmp_path


def test_up_on_embedded_default_then_status_json(project: Path) -> None:
    r = chmigrate("up", cwd=project, env=CH_ONLY)
    assert r.code == 0, r.all
    assert "local embedded engine" in r.out
    assert (project / ".chmigrate" / "clickhouse").is_dir()
    s = chmigrate("status", "--format", "json", "--exit-code", cwd=project, env=CH_ONLY)
    assert s.code == 0, s.all
    doc = json.loads(s.out)  # stdout holds exactly one JSON document
    migs = doc["clickhouse"]["migrations"]
    assert [(m["version"], m["state"]) for m in migs] == [("0001", "applied"), ("0002", "applied"),
                                                         ("0003", "applied")]
    assert all(len(m["checksum"]) == 64 for m in migs)
    again = chmigrate("up", cwd=project, env=CH_ONLY)
    assert again.code == 0 and "nothing to apply" in again.out


def test_status_exit_code_and_plan_before_up(project: Path) -> None:
    s = chmigrate("status", "--exit-code", cwd=project, env=CH_ONLY)
    assert s.code == 1
    assert s.out.count("pending") == 3
    p = chmigrate("plan", cwd=project, env=CH_ONLY)
    assert p.code == 0, p.all
    for name in ("0001_create_llm_usage.sql", "0002_create_llm_usage_daily.sql",
                 "0003_create_llm_usage_daily_mv.sql"):
        assert name in p.out
    assert p.out.count("CREATE TABLE llm_usage\n") == 1 and "CREATE MATERIALIZED VIEW llm_usage_daily_mv" in p.out
    # plan changed nothing
    assert chmigrate("status", "--exit-code", cwd=project, env=CH_ONLY).code == 1


def test_new_scaffolds_the_next_version(project: Path) -> None:
    r = chmigrate("new", "Add region", cwd=project, env=CH_ONLY)
    assert r.code == 0, r.all
    created = project / "clickhouse" / "0004_add_region.sql"
    assert created.exists() and str(created) in r.out
    assert "'Add region'" in r.err and "'add_region'" in r.err  # it says what it made of the name


def test_bad_migration_file_is_one_line_exit_2_and_nothing_applied(project: Path) -> None:
    (project / "clickhouse" / "0004_bad.sql").write_text("SELECT 1;\nSELECT 'unterminated;\n")
    r = chmigrate("up", cwd=project, env=CH_ONLY)
    assert r.code == 2
    assert "0004_bad.sql" in r.err and "unterminated string literal" in r.err and "line 2" in r.err
    assert "Traceback" not in r.all
    assert not (project / ".chmigrate").exists()  # failed before touching any database


def test_failing_statement_exit_3_names_file_statement_and_is_recorded(project: Path) -> None:
    (project / "clickhouse" / "0004_broken.sql").write_text(
        "CREATE TABLE IF NOT EXISTS t4 (x Int8) ENGINE = MergeTree ORDER BY x;\nCREATE TABLE broken (;\n")
    r = chmigrate("up", cwd=project, env=CH_ONLY)
    assert r.code == 3, r.all
    assert "0004_broken.sql statement 2 (line 2) failed" in r.err and "SYNTAX_ERROR" in r.err
    s = chmigrate("status", "--format", "json", cwd=project, env=CH_ONLY)
    states = {m["version"]: m["state"] for m in json.loads(s.out)["clickhouse"]["migrations"]}
    assert states == {"0001": "applied", "0002": "applied", "0003": "applied", "0004": "failed"}
    again = chmigrate("up", cwd=project, env=CH_ONLY)
    assert again.code == 1 and "dirty" in again.err and "statement 2" in again.err


def test_native_url_gets_a_hint(project: Path) -> None:
    r = chmigrate("status", "--clickhouse-url", "clickhouse://default:pw@localhost:9000", cwd=project,
                  env=CH_ONLY)
    assert r.code == 2
    assert "native protocol" in r.err and "http://" in r.err
    assert "pw" not in r.all.replace("pwd", "")


@pytest.mark.postgres
def test_readme_first_command_provisions_both_embedded_databases(project: Path) -> None:
    shutil.copytree(SEED.parent / "postgres", project / "postgres",
                    ignore=shutil.ignore_patterns("__pycache__"))
    r = chmigrate("up", cwd=project)
    assert r.code == 0, r.all
    assert "ClickHouse: local embedded engine" in r.out and "PostgreSQL: local embedded server" in r.out
    doc = json.loads(chmigrate("status", "--format", "json", cwd=project).out)
    assert {m["state"] for m in doc["clickhouse"]["migrations"]} == {"applied"}
    assert [(m["version"], m["state"]) for m in doc["postgres"]["migrations"]] == [("0001", "applied")]
    p = chmigrate("plan", cwd=project)
    assert p.code == 0 and "nothing to apply" in p.out
    only = chmigrate("status", "--only", "postgres", "--format", "json", cwd=project)
    assert set(json.loads(only.out)) == {"version", "postgres"}
    # the server was stopped when the command ended
    assert (project / ".chmigrate" / "postgres" / "data" / "PG_VERSION").exists()
    assert not (project / ".chmigrate" / "postgres" / "data" / "postmaster.pid").exists()
