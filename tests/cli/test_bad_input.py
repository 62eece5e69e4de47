"""Bad input gets one clear line, a stable exit code, bounded time, and nothing half-applied unrecorded.
Server-side cases run over HTTP against the test endpoint (or CHMIGRATE_TEST_CLICKHOUSE_URL)."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.cli.helpers import Run, chmigrate
from tests.conftest import SEED, Target


def one_error_line(r: Run) -> str:
    lines = [ln for ln in r.err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, r.all
    assert "Traceback" not in r.all
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    return tmp_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("0004_var.sql", "CREATE TABLE ${UNSET_NAME} (x Int8) ENGINE = Memory;", "unknown variable ${UNSET_NAME}"),
        ("0004_bytes.sql", b"SELECT '\xc3\x28';", "not valid UTF-8"),
        ("0003_dup.sql", "SELECT 1;", "duplicate version"),
        ("4_bad name.sql", "SELECT 1;", "file name does not follow"),
    ],
)
def test_bad_files_exit_2_naming_the_file(project: Path, name: str, content: str | bytes, needle: str) -> None:
    p = project / "clickhouse" / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    for cmd in (["up"], ["status"], ["plan"]):
        r = chmigrate(*cmd, cwd=project, env={"CHMIGRATE_ONLY": "clickhouse"})
        assert r.code == 2, (cmd, r.all)
        line = one_error_line(r)
        assert needle in line and name in line


def test_malformed_sql_names_file_statement_and_line_and_is_recorded(project: Path) -> None:
    (project / "clickhouse" / "0004_bad.sql").write_text(
        "CREATE TABLE IF NOT EXISTS ok4 (x Int8) ENGINE = MergeTree ORDER BY x;\n\n"
        "CREATE TABLE nope4 (x Int8 ENGINE = MergeTree ORDER BY x;\n")
    r = chmigrate("up", cwd=project, env={"CHMIGRATE_ONLY": "clickhouse"})
    assert r.code == 3
    line = one_error_line(r)
    assert "0004_bad.sql statement 2 (line 3) failed" in line and "SYNTAX_ERROR" in line
    s = json.loads(chmigrate("status", "--format", "json", cwd=project, env={"CHMIGRATE_ONLY": "clickhouse"}).out)
    row = s["clickhouse"]["migrations"][-1]
    assert row["state"] == "failed" and "statement 2" in row["detail"]


def test_version_below_an_applied_one_is_refused(project: Path) -> None:
    assert chmigrate("up", cwd=project, env={"CHMIGRATE_ONLY": "clickhouse"}).code == 0
    (project / "clickhouse" / "0000_forgotten.sql").write_text("SELECT 1;")
    r = chmigrate("up", cwd=project, env={"CHMIGRATE_ONLY": "clickhouse"})
    assert r.code == 1
    line = one_error_line(r)
    assert "0000_forgotten.sql" in line and "already applied" in line


def test_refused_connection_is_quick_and_clear(project: Path) -> None:
    url = f"http://default:pw-refused-42@127.0.0.1:{free_port()}/default"
    t0 = time.monotonic()
    r = chmigrate("up", "--clickhouse-url", url, cwd=project, env={"CHMIGRATE_ONLY": "clickhouse"})
    assert time.monotonic() - t0 < 30
    assert r.code == 3
    line = one_error_line(r)
    assert "connection refused" in line and "127.0.0.1" in line
    assert "pw-refused-42" not in r.all and "***" in line


def test_unknown_host(project: Path) -> None:
    r = chmigrate("status", "--clickhouse-url", "http://no-such-host.invalid:8123", cwd=project,
                  env={"CHMIGRATE_ONLY": "clickhouse", "CHMIGRATE_CONNECT_TIMEOUT": "3"})
    assert r.code == 3
    assert "no-such-host.invalid" in one_error_line(r)


def test_bad_setting_names_it(project: Path) -> None:
    r = chmigrate("up", cwd=project, env={"CHMIGRATE_ONLY": "mysql"})
    assert r.code == 2 and "CHMIGRATE_ONLY" in one_error_line(r)
    r = chmigrate("up", cwd=project, env={"CHMIGRATE_LOCK_TIMEOUT": "soon"})
    assert r.code == 2 and "CHMIGRATE_LOCK_TIMEOUT" in one_error_line(r)
    r = chmigrate("up", cwd=project, env={"CHMIGRATE_LOCK": "zookeeper"})
    assert r.code == 2 and "CHMIGRATE_LOCK" in one_error_line(r) and "auto, keeper, lease" in one_error_line(r)
    r = chmigrate("up", "--password-file", str(project / "missing.txt"), cwd=project,
                  env={"CHMIGRATE_ONLY": "clickhouse"})
    assert r.code == 2 and "password_file" in one_error_line(r)


@pytest.mark.server
def test_wrong_password_is_exit_3_and_never_printed(http_target: Target, project: Path) -> None:
    env = http_target.cli_env() | {"CLICKHOUSE_PASSWORD": "wrong-pass-7781"}
    r = chmigrate("up", cwd=project, env=env)
    assert r.code == 3
    line = one_error_line(r)
    assert "authentication failed" in line.lower()
    assert "wrong-pass-7781" not in r.all


@pytest.mark.server
def test_tls_to_a_plain_http_port_fails_cleanly(http_target: Target, project: Path) -> None:
    url = http_target.url.replace("http://", "https://")  # type: ignore[union-attr]
    env = http_target.cli_env() | {"CHMIGRATE_CLICKHOUSE_URL": url, "CHMIGRATE_CONNECT_TIMEOUT": "5"}
    r = chmigrate("status", cwd=project, env=env)
    assert r.code == 3
    assert "TLS" in one_error_line(r)


@pytest.mark.server
def test_missing_database_reads_as_all_pending_and_up_creates_it(http_target: Target, project: Path) -> None:
    env = http_target.cli_env()
    s = chmigrate("status", "--format", "json", cwd=project, env=env)
    assert s.code == 0, s.all
    assert {m["state"] for m in json.loads(s.out)["clickhouse"]["migrations"]} == {"pending"}
    with http_target.connect() as ch:  # status wrote nothing
        assert ch.query("SELECT count() FROM system.databases WHERE name = {d:String}",
                        {"d": http_target.database}) == [(0,)]
    assert chmigrate("up", cwd=project, env=env).code == 0


@pytest.mark.server
def test_http_500_mid_run_stops_with_a_record(http_target: Target, project: Path) -> None:
    ep = http_target.endpoint
    if ep is None:
        pytest.skip("fault injection needs the test endpoint")
    env = http_target.cli_env()
    ep.fault(status=500, match="CREATE TABLE llm_usage_daily", times=1)
    try:
        r = chmigrate("up", cwd=project, env=env)
    finally:
        ep.clear_fault()
    assert r.code == 3
    assert "0002_create_llm_usage_daily.sql statement 1" in one_error_line(r)
    s = json.loads(chmigrate("status", "--format", "json", cwd=project, env=env).out)
    states = [m["state"] for m in s["clickhouse"]["migrations"]]
    assert states[0] == "applied" and states[1] in ("failed", "dirty") and states[2] == "pending"


def test_version_gap_is_refused_naming_the_file(project: Path) -> None:
    (project / "clickhouse" / "0005_after_gap.sql").write_text("SELECT 1;")
    r = chmigrate("up", cwd=project, env={"CHMIGRATE_ONLY": "clickhouse"})
    assert r.code == 2
    line = one_error_line(r)
    assert "0005_after_gap.sql" in line and "expected version 4" in line
    ok = chmigrate("up", cwd=project, env={"CHMIGRATE_ONLY": "clickhouse", "CHMIGRATE_ALLOW_VERSION_GAPS": "1"})
    assert ok.code == 0, ok.all


def test_postgres_refused_connection_is_exit_3_without_the_password(project: Path) -> None:
    shutil.copytree(SEED.parent / "postgres", project / "postgres", ignore=shutil.ignore_patterns("__pycache__"))
    url = f"postgresql://crawbl:pg-secret-991@127.0.0.1:{free_port()}/crawbl"
    r = chmigrate("status", "--only", "postgres", "--postgres-url", url, cwd=project)
    assert r.code == 3
    line = one_error_line(r)
    assert "PostgreSQL" in line and "refused" in line
    assert "pg-secret-991" not in r.all


def test_identifiers_with_quotes_backticks_and_non_ascii_are_quoted(target: Target, tmp_path: Path) -> None:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    weird = "db `q'\"ü_" + target.database[-6:]
    env = target.cli_env() | {"CHMIGRATE_DATABASE": weird, "CHMIGRATE_LEDGER_TABLE": "ledger-ü"}
    r = chmigrate("up", cwd=tmp_path, env=env)
    assert r.code == 0, r.all
    s = json.loads(chmigrate("status", "--format", "json", cwd=tmp_path, env=env).out)
    assert {m["state"] for m in s["clickhouse"]["migrations"]} == {"applied"}
    with target.connect() as ch:
        names = {n for (n,) in ch.query("SELECT name FROM system.tables WHERE database = {d:String}", {"d": weird})}
        assert {"llm_usage", "llm_usage_daily", "llm_usage_daily_mv", "ledger-ü"} <= names
        ch.execute("DROP DATABASE IF EXISTS " + "`" + weird.replace("\\", "\\\\").replace("`", "\\`") + "`")


def test_a_scaffolded_file_is_pending_and_only_up_refuses_it(project: Path) -> None:
    env = {"CHMIGRATE_ONLY": "clickhouse"}
    assert chmigrate("up", cwd=project, env=env).code == 0
    made = chmigrate("new", "add_region", cwd=project, env=env)
    assert made.code == 0, made.all
    (path,) = (project / "clickhouse").glob("0004_*.sql")
    status = json.loads(chmigrate("status", "--format", "json", cwd=project, env=env).out)
    row = status["clickhouse"]["migrations"][-1]
    assert row["version"] == "0004" and row["state"] == "pending" and "no statement yet" in row["detail"]
    for cmd in (["plan"], ["diff"], ["up", "--dry-run"]):
        r = chmigrate(*cmd, cwd=project, env=env)
        assert r.code == (2 if cmd[0] == "up" else 0), (cmd, r.all)
    r = chmigrate("up", cwd=project, env=env)
    assert r.code == 2, r.all
    line = one_error_line(r)
    assert path.name in line and "no statement yet" in line
    after = json.loads(chmigrate("status", "--format", "json", cwd=project, env=env).out)
    assert after["clickhouse"]["migrations"][-1]["state"] == "pending"  # nothing recorded for it


def test_a_reader_that_goes_away_stops_the_command_quietly(project: Path) -> None:
    """`chmigrate plan | head -1`: the closed pipe ends the command as SIGPIPE ends a tool (exit 141), with
    no traceback and no 'unexpected' error on stderr."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CHMIGRATE_")} | {"CHMIGRATE_ONLY": "clickhouse"}
    p = subprocess.Popen([sys.executable, "-m", "chmigrate", "plan"], cwd=project, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # the reader is gone before the first line
    err = p.stderr.read()
    assert p.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "unexpected" not in err and "Exception ignored" not in err, err
