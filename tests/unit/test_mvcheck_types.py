"""The view/target check accepts what ClickHouse converts on insert without loss, and names the rest."""

from pathlib import Path

import pytest

from chmigrate.operations.mvcheck import fits
from tests.cli.helpers import chmigrate


@pytest.mark.parametrize("source,target", [
    ("String", "String"),
    ("String", "LowCardinality(String)"),
    ("String", "Nullable(String)"),
    ("String", "LowCardinality(Nullable(String))"),
    ("Int64", "SimpleAggregateFunction(sum, Int64)"),
    ("Decimal(38, 6)", "SimpleAggregateFunction(sum, Decimal(38, 6))"),
    ("LowCardinality(String)", "String"),
    ("DateTime64(3, 'UTC')", "Nullable(DateTime64(3, 'UTC'))"),
])
def test_lossless_targets_fit(source: str, target: str) -> None:
    assert fits(source, target)


@pytest.mark.parametrize("source,target", [
    ("Int64", "Int32"),
    ("Nullable(String)", "String"),  # NULL would become ''
    ("Int64", "SimpleAggregateFunction(sum, Int32)"),
    ("String", "LowCardinality(Int8)"),
])
def test_lossy_targets_do_not_fit(source: str, target: str) -> None:
    assert not fits(source, target)


def _project(root: Path, count_type: str) -> Path:
    d = root / "clickhouse"
    d.mkdir(parents=True)
    (d / "0001_events.sql").write_text(
        "CREATE TABLE events (day Date, model String, tokens Int64) ENGINE = MergeTree ORDER BY day;\n")
    (d / "0002_rollup.sql").write_text(
        "CREATE TABLE rollup (day Date, model LowCardinality(String), tokens SimpleAggregateFunction(sum, Int64),"
        f" calls {count_type}) ENGINE = SummingMergeTree ORDER BY (day, model);\n"
        "CREATE MATERIALIZED VIEW rollup_mv TO rollup AS SELECT day, model, sum(tokens) AS tokens, "
        "toUInt64(count()) AS calls FROM events GROUP BY day, model;\n")
    return root


def test_verify_on_the_real_engine_accepts_lossless_targets_and_names_a_narrowing_one(tmp_path: Path) -> None:
    env = {"CHMIGRATE_ONLY": "clickhouse"}
    good = _project(tmp_path / "good", "Nullable(UInt64)")
    assert chmigrate("up", cwd=good, env=env).code == 0
    r = chmigrate("verify", cwd=good, env=env)
    assert r.code == 0, r.all
    bad = _project(tmp_path / "bad", "UInt32")
    assert chmigrate("up", cwd=bad, env=env).code == 0
    r = chmigrate("verify", cwd=bad, env=env)
    assert r.code == 1, r.all
    assert "rollup_mv: output column calls is UInt64 but default.rollup.calls is UInt32" in r.all
