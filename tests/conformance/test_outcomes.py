"""Statement outcomes come from the server's own record: errors raised while a statement runs leave its
outcome unknown (never "failed, no effect"), a lost answer is read back from system.query_log, and a failed
mutation fails its statement. Effects are proven from the server's tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import chmigrate
from tests.conftest import Target


def _has_query_log(target: Target) -> bool:
    """The server keeps system.query_log (after a flush, as chmigrate reads it)."""
    with target.connect() as ch:
        ch.execute("SYSTEM FLUSH LOGS")
        return bool(ch.query("SELECT count() FROM system.tables WHERE database = 'system' AND name = 'query_log'")
                    [0][0])


def _status(cwd: Path, env: dict[str, str]) -> list[dict[str, str]]:
    return json.loads(chmigrate("status", "--format", "json", cwd=cwd, env=env).out)["clickhouse"]["migrations"]


def _project(tmp_path: Path, target: Target, files: dict[str, str]) -> dict[str, str]:
    mig = tmp_path / "mig"
    mig.mkdir()
    for name, text in files.items():
        (mig / name).write_text(text)
    return target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(mig)}


def test_insert_select_stopped_by_a_timeout_stops_dirty_and_is_never_reinserted(target: Target,
                                                                                tmp_path: Path) -> None:
    env = _project(tmp_path, target, {"0001_big.sql": (
        "CREATE TABLE big (x UInt64) ENGINE = MergeTree ORDER BY x;\n"
        # blocks of 1,000 rows are inserted until max_execution_time stops the statement part-way
        "INSERT INTO big SELECT number FROM system.numbers LIMIT 100000000000"
        " SETTINGS max_execution_time = 1, max_block_size = 1000, min_insert_block_size_rows = 1000;\n")})
    first = chmigrate("up", cwd=tmp_path, env=env, timeout=60)
    assert first.code == 3 and "statement 2" in first.err and "outcome unknown" in first.err, first.all
    with target.connect() as ch:
        rows = ch.query(f"SELECT count() FROM `{target.database}`.big")[0][0]
    assert [m["state"] for m in _status(tmp_path, env)] == ["dirty"]
    for args in (("up",), ("up", "--retry")):  # neither a plain rerun nor --retry inserts those rows again
        again = chmigrate(*args, cwd=tmp_path, env=env)
        assert again.code == 1 and "outcome is unknown" in again.err, again.all
        with target.connect() as ch:
            assert ch.query(f"SELECT count() FROM `{target.database}`.big")[0][0] == rows


def test_a_failing_mutation_fails_its_statement_with_the_servers_reason(target: Target, tmp_path: Path) -> None:
    env = _project(tmp_path, target, {"0001_mut.sql": (
        "CREATE TABLE m (k UInt32, v UInt32) ENGINE = MergeTree ORDER BY k;\n"
        "INSERT INTO m VALUES (1, 1), (2, 2);\n"
        "ALTER TABLE m UPDATE v = throwIf(k = 2, 'no update for k = 2') WHERE 1;\n"
        "INSERT INTO m VALUES (3, 3);\n")})
    r = chmigrate("up", cwd=tmp_path, env=env, timeout=120)
    assert r.code == 3 and "statement 3" in r.err and "mutation failed" in r.err, r.all
    st = _status(tmp_path, env)[0]
    assert st["state"] == "failed" and "no update for k = 2" in st["detail"]
    with target.connect() as ch:
        # the failed mutation was killed (the server would retry it for ever) and statement 4 never ran
        assert ch.query("SELECT count() FROM system.mutations WHERE database = {d:String} AND table = 'm'"
                        " AND NOT is_done", {"d": target.database}) == [(0,)]
        assert ch.query(f"SELECT k FROM `{target.database}`.m ORDER BY k") == [(1,), (2,)]


def test_mutations_finish_before_the_run_goes_on(target: Target, tmp_path: Path) -> None:
    env = _project(tmp_path, target, {"0001_mut.sql": (
        "CREATE TABLE m (k UInt32, v UInt32) ENGINE = MergeTree ORDER BY k;\n"
        "INSERT INTO m VALUES (1, 1), (2, 2);\n"
        "ALTER TABLE m UPDATE v = v * 10 WHERE 1;\n"
        "CREATE TABLE m_copy ENGINE = MergeTree ORDER BY k AS SELECT * FROM m;\n")})
    r = chmigrate("up", cwd=tmp_path, env=env, timeout=120)
    assert r.code == 0, r.all
    with target.connect() as ch:  # the copy saw the mutated rows: the ALTER had finished
        assert ch.query(f"SELECT k, v FROM `{target.database}`.m_copy ORDER BY k") == [(1, 10), (2, 20)]


@pytest.mark.server
def test_a_lost_answer_is_read_back_from_the_servers_record(http_target: Target, tmp_path: Path) -> None:
    target = http_target
    if target.endpoint is None:
        pytest.skip("needs the test endpoint to drop a connection after the statement ran")
    env = _project(tmp_path, target, {"0001_ins.sql": (
        "CREATE TABLE e (x UInt32) ENGINE = MergeTree ORDER BY x;\n"
        "INSERT INTO e VALUES (1);\n"
        "INSERT INTO e VALUES (2);\n")})
    # the server runs the second statement, then the connection drops before its answer
    target.endpoint.fault(match=r"INSERT INTO e\b", phase="after", drop_connection=True, times=1)
    r = chmigrate("up", cwd=tmp_path, env=env, timeout=120)
    target.endpoint.clear_fault()
    assert any(e["fault"] and e["fault"]["drop_connection"] for e in target.endpoint.log())
    with target.connect() as ch:
        rows = ch.query(f"SELECT x FROM `{target.database}`.e ORDER BY x")
    if _has_query_log(target):  # the outcome is read from system.query_log: the run goes on, nothing twice
        assert r.code == 0, r.all
        assert rows == [(1,), (2,)]
        assert [m["state"] for m in _status(tmp_path, env)] == ["applied"]
    else:  # no record on this server: the run stops and names the statement, nothing is repeated
        assert r.code == 3 and "statement 2" in r.err and "outcome unknown" in r.err, r.all
        assert rows == [(1,)]
        again = chmigrate("up", cwd=tmp_path, env=env)
        assert again.code == 1 and "outcome is unknown" in again.err
        with target.connect() as ch:
            assert ch.query(f"SELECT x FROM `{target.database}`.e ORDER BY x") == [(1,)]


@pytest.mark.server
def test_an_error_before_the_statement_ran_is_no_effect_per_the_record(http_target: Target, tmp_path: Path) -> None:
    target = http_target
    if target.endpoint is None:
        pytest.skip("needs the test endpoint to fail a request before it runs")
    env = _project(tmp_path, target, {"0001_ins.sql": (
        "CREATE TABLE e (x UInt32) ENGINE = MergeTree ORDER BY x;\n"
        "INSERT INTO e VALUES (1);\n")})
    # an error code that can also come from a statement part-way: only the record tells it never ran
    target.endpoint.fault(match=r"INSERT INTO e\b", phase="before", status=500, code=241,
                          message="Memory limit (total) exceeded", times=1)
    r = chmigrate("up", cwd=tmp_path, env=env, timeout=120)
    target.endpoint.clear_fault()
    assert "Memory limit (total) exceeded" in r.err
    assert r.code == 3 and "statement 2" in r.err, r.all
    if _has_query_log(target):
        assert [m["state"] for m in _status(tmp_path, env)] == ["failed"]
        again = chmigrate("up", "--retry", cwd=tmp_path, env=env)
        assert again.code == 0, again.all
        with target.connect() as ch:
            assert ch.query(f"SELECT x FROM `{target.database}`.e") == [(1,)]
    else:
        assert [m["state"] for m in _status(tmp_path, env)] == ["dirty"]
