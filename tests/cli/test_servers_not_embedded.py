"""No silent local Postgres: the embedded engines serve only runs that name no server at all.

A run that names a ClickHouse server and would use the embedded PostgreSQL beside it (or the reverse) stops
before it opens anything, naming the missing setting and `--only`; with `--only clickhouse` every command
works against the server and no `.chmigrate/postgres` appears.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import Run, chmigrate
from tests.conftest import SEED, Target

# Every command, in an order in which each makes sense; (arguments, exit codes that mean "it worked").
COMMANDS: list[tuple[list[str], tuple[int, ...]]] = [
    (["status"], (0,)),
    (["plan"], (0,)),
    (["up", "--dry-run"], (0,)),
    (["up"], (0,)),
    (["status", "--format", "json"], (0,)),
    (["diff"], (0,)),
    (["verify"], (0,)),
    (["down", "--to", "0", "--dry-run"], (0,)),
    (["baseline", "--to", "3"], (1,)),  # 1: the ledger already records them, so there is nothing to adopt
    (["resolve", "3", "--applied"], (0, 1)),  # 1: the version is not dirty, so there is nothing to resolve
    (["unlock"], (0,)),
    (["new", "add_region"], (0,)),
]
# The commands that may use both engines: without --only they must not start the embedded PostgreSQL.
BOTH_ENGINES = {"status", "plan", "up", "diff", "verify", "down"}


def only_error_line(r: Run) -> str:
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.all
    assert "Traceback" not in r.all
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(SEED, tmp_path / "clickhouse")
    shutil.copytree(SEED.parent / "postgres", tmp_path / "postgres", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.mark.server
def test_every_command_with_only_a_clickhouse_server(http_target: Target, project: Path) -> None:
    local = Path(http_target.cli_env()["CHMIGRATE_LOCAL_DIR"])
    for args, ok in COMMANDS:  # --only clickhouse: the server alone, no local engine
        r = chmigrate(*args, cwd=project, env=http_target.cli_env())
        assert r.code in ok, (args, r.all)
        assert not (local / "postgres").exists(), args
        assert not (local / "clickhouse").exists(), args
        _drop_scaffold(project)
    for args, ok in COMMANDS:  # no --only: refused where the embedded PostgreSQL would run beside the server
        env = http_target.cli_env()
        del env["CHMIGRATE_ONLY"]
        r = chmigrate(*args, cwd=project, env=env)
        if args[0] in BOTH_ENGINES:
            assert r.code == 2, (args, r.all)
            line = only_error_line(r)
            assert line.startswith("error: CHMIGRATE_POSTGRES_URL: "), line
            assert "--postgres-url" in line and "--only clickhouse" in line, line
            assert "CHMIGRATE_CLICKHOUSE_URL" in line, line  # where the server came from
        else:  # a ClickHouse-only command never starts the embedded PostgreSQL
            assert r.code in ok + (0,), (args, r.all)
        assert not (local / "postgres").exists(), args
        _drop_scaffold(project)


def _drop_scaffold(project: Path) -> None:
    for path in (project / "clickhouse").glob("*_add_region.sql"):  # `new`'s file: empty, so not for `up`
        path.unlink()


@pytest.mark.server
def test_the_same_for_a_url_from_the_config_file_and_a_flag(http_target: Target, project: Path) -> None:
    env = http_target.cli_env()
    url = env.pop("CHMIGRATE_CLICKHOUSE_URL")
    del env["CHMIGRATE_ONLY"]
    (project / "chmigrate.toml").write_text(f'clickhouse_url = "{url}"\n')
    r = chmigrate("up", cwd=project, env=env)
    assert r.code == 2, r.all
    line = only_error_line(r)
    assert "CHMIGRATE_POSTGRES_URL" in line and "--only clickhouse" in line and "chmigrate.toml" in line, line
    (project / "chmigrate.toml").unlink()
    r = chmigrate("status", "--clickhouse-url", url, cwd=project, env=env)
    assert r.code == 2 and "--clickhouse-url" in only_error_line(r), r.all
    assert not (project / ".chmigrate" / "postgres").exists()
    r = chmigrate("status", "--clickhouse-url", url, "--only", "clickhouse", cwd=project, env=env)
    assert r.code == 0, r.all
    assert not (project / ".chmigrate" / "postgres").exists()


def test_only_a_postgres_server_is_refused_the_other_way(project: Path) -> None:
    url = "postgresql://app@127.0.0.1:1/app"  # never reached: the run stops before it connects
    for args in (["status"], ["up"], ["diff"], ["verify"], ["plan"]):
        r = chmigrate(*args, cwd=project, env={"CHMIGRATE_POSTGRES_URL": url})
        assert r.code == 2, (args, r.all)
        line = only_error_line(r)
        assert line.startswith("error: CHMIGRATE_CLICKHOUSE_URL: "), line
        assert "--clickhouse-url" in line and "--only postgres" in line, line
    assert not (project / ".chmigrate").exists()
