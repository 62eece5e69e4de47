"""The desired schema: replay in a subprocess, the cache, failing statements, the dev-database mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from chmigrate.errors import ConfigError, MigrationFileError, StatementFailed
from chmigrate.schema.compare import compare
from chmigrate.schema.desired import build_desired, check_dev_statement, rewrite_for_dev
from chmigrate.schema.diff import diff
from chmigrate.schema.inspect import inspect
from chmigrate.schema.normalize import normalize_pair
from chmigrate.schema.render import render_text
from chmigrate.schema.sources import source_files
from chmigrate.targets.clickhouse import ClickHouse
from tests.schema.helpers import apply, seed_migrations, statements, use_fresh_database

SEED = seed_migrations()


def test_second_build_replays_nothing(tmp_path: Path) -> None:
    first = build_desired(SEED, database="app", cache_dir=tmp_path)
    assert not first.cached
    assert {t.name for t in first.schema.tables} == {"llm_usage", "llm_usage_daily"}
    assert [v.name for v in first.schema.views] == ["llm_usage_daily_mv"]
    # A replay would have to start this interpreter: it does not exist, so only the cache can answer.
    second = build_desired(SEED, database="app", cache_dir=tmp_path, python="/nonexistent/python")
    assert second.cached and second.schema == first.schema and second.cache_key == first.cache_key


def test_cache_key_follows_statements_database_and_exclusions(tmp_path: Path) -> None:
    base = build_desired(SEED, database="app", cache_dir=tmp_path)
    changed = source_files(
        [(m.path, [s.sql for s in m.up]) for m in SEED]
        + [(Path("0004_more.sql"), ["ALTER TABLE llm_usage ADD COLUMN x UInt8"])]
    )
    other = build_desired(changed, database="app", cache_dir=tmp_path)
    assert not other.cached and other.cache_key != base.cache_key
    assert other.schema.table("llm_usage").column("x") is not None  # type: ignore[union-attr]
    assert build_desired(SEED, database="app2", cache_dir=tmp_path).cache_key != base.cache_key
    assert build_desired(SEED, database="app", exclude={"t"}, cache_dir=tmp_path).cache_key != base.cache_key


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    first = build_desired(SEED, database="app", cache_dir=tmp_path)
    for entry in tmp_path.glob("desired-*.json"):
        entry.write_text("{not json")
    again = build_desired(SEED, database="app", cache_dir=tmp_path)
    assert not again.cached and again.schema == first.schema


def test_failing_statement_names_file_and_statement() -> None:
    files = source_files(
        [
            (Path("0001_ok.sql"), ["CREATE TABLE a (x UInt8) ENGINE = MergeTree ORDER BY x"]),
            (
                Path("0002_bad.sql"),
                ["ALTER TABLE a ADD COLUMN y UInt8", "ALTER TABLE missing ADD COLUMN z UInt8"],
            ),
        ]
    )
    with pytest.raises(StatementFailed) as info:
        build_desired(files, database="app")
    err = info.value
    assert (err.path, err.statement) == ("0002_bad.sql", 2)
    assert "missing" in err.error and "0002_bad.sql statement 2" in str(err)


def test_exclusions_apply_to_both_sides(engine: ClickHouse, tmp_path: Path) -> None:
    use_fresh_database(engine, "app")
    apply(engine, statements(SEED))
    engine.execute("CREATE TABLE chmigrate_ledger (v String) ENGINE = MergeTree ORDER BY v")
    engine.execute("CREATE TABLE chmigrate_ledger_lock (v String) ENGINE = MergeTree ORDER BY v")
    result = compare(engine, SEED, database="app", cache_dir=tmp_path)
    assert result.changes == (), render_text(result.changes)
    assert result.target_queries == 5


# -- dev database ------------------------------------------------------------------------------------------


def test_dev_database_replay_matches_and_cleans_up(engine: ClickHouse) -> None:
    use_fresh_database(engine, "app")
    apply(engine, statements(SEED))
    desired = build_desired(SEED, database="app", dev_database="chmigrate_dev", target=engine)
    assert desired.schema.database == "chmigrate_dev" and not desired.cached
    assert engine.query("SELECT currentDatabase()")[0][0] == "app"  # restored
    assert engine.query("SELECT count() FROM system.databases WHERE name = 'chmigrate_dev'")[0][0] == 0
    actual = inspect(engine, "app")
    assert diff(*normalize_pair(desired.schema, actual, engine)) == ()


def test_dev_database_rewrites_the_real_database_and_refuses_others(engine: ClickHouse) -> None:
    use_fresh_database(engine, "app")
    files = source_files(
        [(Path("0001_q.sql"), ["CREATE TABLE app.t (x UInt8) ENGINE = MergeTree ORDER BY x"])]
    )
    desired = build_desired(files, database="app", dev_database="chmigrate_dev", target=engine)
    assert [t.name for t in desired.schema.tables] == ["t"]
    assert engine.query("SELECT count() FROM system.tables WHERE database = 'app'")[0][0] == 0
    other = source_files([(Path("0001_o.sql"), ["CREATE TABLE elsewhere.t (x UInt8) ENGINE = Memory"])])
    with pytest.raises(MigrationFileError, match="elsewhere.t"):
        build_desired(other, database="app", dev_database="chmigrate_dev", target=engine)


def test_dev_database_refuses_a_foreign_database(engine: ClickHouse) -> None:
    engine.execute("CREATE DATABASE IF NOT EXISTS precious")
    with pytest.raises(ConfigError, match="not created by chmigrate"):
        build_desired(SEED, database="app", dev_database="precious", target=engine)
    assert engine.query("SELECT count() FROM system.databases WHERE name = 'precious'")[0][0] == 1
    with pytest.raises(ConfigError):
        build_desired(SEED, database="app", dev_database="app", target=engine)


def test_rewrite_and_check_for_dev() -> None:
    sql = "CREATE MATERIALIZED VIEW app.mv TO `app`.dst AS SELECT 'app.x' AS s FROM app.src -- app.y"
    assert rewrite_for_dev(sql, database="app", dev_database="dev") == (
        "CREATE MATERIALIZED VIEW `dev`.mv TO `dev`.dst AS SELECT 'app.x' AS s FROM `dev`.src -- app.y"
    )
    assert check_dev_statement("USE app", dev_database="dev") is not None
    assert check_dev_statement("CREATE DATABASE x", dev_database="dev") is not None
    assert check_dev_statement("DROP TABLE other.t", dev_database="dev") is not None
    assert check_dev_statement("RENAME TABLE t TO other.t", dev_database="dev") is not None
    assert check_dev_statement("ALTER TABLE `dev`.t ADD COLUMN x UInt8", dev_database="dev") is None
    assert (
        check_dev_statement("INSERT INTO t SELECT * FROM system.numbers LIMIT 1", dev_database="dev") is None
    )
