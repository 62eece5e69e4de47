"""Mutation tests: create the seed schema, change the target directly, and check that the diff reports
exactly that change (kind, object, attribute); for in-place kinds, the SQL renderer's statements applied
to the target bring the diff back to empty. Runs on the current engine and on ClickHouse 24.8
(production's version; the desired schema still comes from the 26.x scratch subprocess)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chmigrate.schema.compare import compare
from chmigrate.schema.diff import ChangeKind as K
from chmigrate.schema.render import reconcile_statements, render_sql, render_text
from chmigrate.targets.clickhouse import ClickHouse
from tests.schema import engine248
from tests.schema.helpers import FIXTURES, apply, seed_migrations, statements, use_fresh_database

MIGRATIONS = seed_migrations(FIXTURES / "seed_extra")
SEED_SQL = statements(MIGRATIONS)
DAILY_TABLE = MIGRATIONS[1].up[0].sql
DAILY_MV = MIGRATIONS[2].up[0].sql
MV_QUERY = re.split(r"^AS\s+", DAILY_MV, maxsplit=1, flags=re.M)[1]
DB = "app"

Expected = tuple[tuple[K, str, "str | None"], ...]


@dataclass(frozen=True)
class Mutation:
    name: str
    sql: tuple[str, ...]
    expected: Expected
    in_place: bool = True


def _m(name: str, sql: str | tuple[str, ...], expected: Expected, in_place: bool = True) -> Mutation:
    return Mutation(name, (sql,) if isinstance(sql, str) else sql, expected, in_place)


MUTATIONS = [
    _m(
        "column_added",
        "ALTER TABLE llm_usage ADD COLUMN extra_col String AFTER model",
        ((K.COLUMN_EXTRA, "llm_usage.extra_col", None),),
    ),
    _m(
        "column_dropped",
        "ALTER TABLE llm_usage DROP COLUMN session_id",
        ((K.COLUMN_MISSING, "llm_usage.session_id", None),),
    ),
    _m(
        "column_dropped_middle",
        "ALTER TABLE llm_usage DROP COLUMN provider",
        ((K.COLUMN_MISSING, "llm_usage.provider", None),),
    ),
    _m(
        "type_changed",
        "ALTER TABLE llm_usage MODIFY COLUMN prompt_tokens Int64",
        ((K.COLUMN_CHANGED, "llm_usage.prompt_tokens", "type"),),
    ),
    _m(
        "default_added",
        "ALTER TABLE llm_usage MODIFY COLUMN turn_id DEFAULT 'none'",
        ((K.COLUMN_CHANGED, "llm_usage.turn_id", "default"),),
    ),
    _m(
        "default_changed", "ALTER TABLE llm_usage MODIFY COLUMN event_id DEFAULT generateUUIDv4() ", ()
    ),  # same expression, other spelling: not drift
    _m(
        "default_replaced",
        "ALTER TABLE llm_usage MODIFY COLUMN event_id DEFAULT toUUID('00000000-0000-0000-0000-000000000000')",
        ((K.COLUMN_CHANGED, "llm_usage.event_id", "default"),),
    ),
    _m(
        "codec_changed",
        "ALTER TABLE llm_usage MODIFY COLUMN model CODEC(ZSTD(3))",
        ((K.COLUMN_CHANGED, "llm_usage.model", "codec"),),
    ),
    _m(
        "column_comment_changed",
        "ALTER TABLE llm_usage COMMENT COLUMN model 'something else'",
        ((K.COLUMN_CHANGED, "llm_usage.model", "comment"),),
    ),
    _m(
        "column_ttl_added",
        "ALTER TABLE llm_usage MODIFY COLUMN message_id String COMMENT 'message that triggered the call' "
        "TTL toDateTime(event_time) + INTERVAL 1 MONTH",
        ((K.COLUMN_CHANGED, "llm_usage.message_id", "ttl"),),
    ),
    _m(
        "column_moved",
        "ALTER TABLE llm_usage MODIFY COLUMN model String COMMENT 'e.g. gpt-4o, claude-3-sonnet' "
        "AFTER event_time",
        ((K.COLUMN_CHANGED, "llm_usage.model", "position"),),
    ),
    _m(
        "ttl_changed",
        "ALTER TABLE llm_usage MODIFY TTL toDateTime(event_time) + INTERVAL 12 MONTH",
        ((K.TTL_CHANGED, "llm_usage", "ttl"),),
    ),
    _m("ttl_removed", "ALTER TABLE llm_usage_daily REMOVE TTL", ((K.TTL_CHANGED, "llm_usage_daily", "ttl"),)),
    _m(
        "order_by_extended",
        "ALTER TABLE llm_usage ADD COLUMN region String, "
        "MODIFY ORDER BY (user_id, workspace_id, event_time, event_id, region)",
        ((K.KEY_CHANGED, "llm_usage", "order_key"), (K.COLUMN_EXTRA, "llm_usage.region", None)),
        in_place=False,
    ),
    _m(
        "setting_changed",
        "ALTER TABLE llm_usage MODIFY SETTING min_bytes_for_wide_part = 0",
        ((K.SETTING_CHANGED, "llm_usage", "min_bytes_for_wide_part"),),
    ),
    _m(
        "table_comment_changed",
        "ALTER TABLE llm_usage MODIFY COMMENT 'changed by hand'",
        ((K.COMMENT_CHANGED, "llm_usage", "comment"),),
    ),
    _m(
        "index_added",
        "ALTER TABLE llm_usage ADD INDEX idx_agent agent_id TYPE set(100) GRANULARITY 2",
        ((K.INDEX_EXTRA, "llm_usage.idx_agent", None),),
    ),
    _m(
        "index_dropped",
        "ALTER TABLE llm_usage DROP INDEX idx_model",
        ((K.INDEX_MISSING, "llm_usage.idx_model", None),),
    ),
    _m(
        "index_changed",
        (
            "ALTER TABLE llm_usage DROP INDEX idx_model",
            "ALTER TABLE llm_usage ADD INDEX idx_model model TYPE bloom_filter(0.05) GRANULARITY 4",
        ),
        ((K.INDEX_CHANGED, "llm_usage.idx_model", "definition"),),
    ),
    _m(
        "projection_dropped",
        "ALTER TABLE llm_usage DROP PROJECTION by_model",
        ((K.PROJECTION_MISSING, "llm_usage.by_model", None),),
    ),
    _m(
        "mv_query_changed",
        f"ALTER TABLE llm_usage_daily_mv MODIFY QUERY {MV_QUERY.replace('count()', 'count() + 1')}",
        ((K.VIEW_QUERY_CHANGED, "llm_usage_daily_mv", "query"),),
    ),
    _m(
        "view_changed",
        "CREATE OR REPLACE VIEW llm_usage_by_model AS SELECT model, sum(cost_usd) AS cost_usd, "
        "count() AS requests FROM llm_usage WHERE model != '' GROUP BY model",
        ((K.VIEW_QUERY_CHANGED, "llm_usage_by_model", "query"),),
    ),
    _m("view_dropped", "DROP VIEW llm_usage_daily_mv", ((K.VIEW_MISSING, "llm_usage_daily_mv", None),)),
    _m("view_extra", "CREATE VIEW stray_view AS SELECT 1 AS x", ((K.VIEW_EXTRA, "stray_view", None),)),
    _m("table_dropped", "DROP TABLE llm_usage_daily", ((K.TABLE_MISSING, "llm_usage_daily", None),)),
    _m(
        "table_extra",
        "CREATE TABLE stray (a UInt8) ENGINE = MergeTree ORDER BY a",
        ((K.TABLE_EXTRA, "stray", None),),
    ),
    _m(
        "mv_target_changed",
        (
            "CREATE TABLE llm_usage_daily_v2 AS llm_usage_daily",
            "DROP VIEW llm_usage_daily_mv",
            DAILY_MV.replace("TO llm_usage_daily", "TO llm_usage_daily_v2"),
        ),
        ((K.TABLE_EXTRA, "llm_usage_daily_v2", None), (K.MV_TARGET_CHANGED, "llm_usage_daily_mv", "target")),
    ),
    _m(
        "engine_changed",
        (
            "DROP VIEW llm_usage_daily_mv",
            "DROP TABLE llm_usage_daily",
            DAILY_TABLE.replace("SummingMergeTree", "ReplacingMergeTree"),
            DAILY_MV,
        ),
        ((K.ENGINE_CHANGED, "llm_usage_daily", "engine"),),
        in_place=False,
    ),
    _m(
        "partition_changed",
        (
            "DROP VIEW llm_usage_daily_mv",
            "DROP TABLE llm_usage_daily",
            DAILY_TABLE.replace("PARTITION BY toYYYYMM(day)", "PARTITION BY toYear(day)"),
            DAILY_MV,
        ),
        ((K.KEY_CHANGED, "llm_usage_daily", "partition_key"),),
        in_place=False,
    ),
]


def _found(changes: Any) -> set[tuple[K, str, str | None]]:
    return {(c.kind, c.object.split(".", 1)[1], c.attribute) for c in changes}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("desired-cache")


def _check(target: Any, mutation: Mutation, cache_dir: Path) -> None:
    result = compare(target, MIGRATIONS, database=DB, cache_dir=cache_dir)
    assert _found(result.changes) == set(mutation.expected), render_text(result.changes)
    sql = render_sql(result.changes, result.desired, database=DB, allow_destructive=True)
    fixes = reconcile_statements(result.changes, result.desired, database=DB, allow_destructive=True)
    if not mutation.in_place:
        assert "-- needs rebuild:" in sql
        assert any(c.needs_rebuild for c in result.changes)
        return
    assert "needs rebuild" not in sql
    for statement in fixes:
        target.execute(statement)
    after = compare(target, MIGRATIONS, database=DB, cache_dir=cache_dir)
    assert after.changes == (), sql + "\n" + render_text(after.changes)
    assert after.desired_cached


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_mutation(engine: ClickHouse, cache_dir: Path, mutation: Mutation) -> None:
    use_fresh_database(engine, DB)
    apply(engine, SEED_SQL)
    apply(engine, mutation.sql)
    _check(engine, mutation, cache_dir)


def test_mutation_kinds_cover_the_brief() -> None:
    kinds = {k for m in MUTATIONS for k, _, _ in m.expected}
    assert len([m for m in MUTATIONS if m.expected]) >= 15
    assert {
        K.COLUMN_EXTRA,
        K.COLUMN_MISSING,
        K.COLUMN_CHANGED,
        K.TTL_CHANGED,
        K.KEY_CHANGED,
        K.SETTING_CHANGED,
        K.INDEX_EXTRA,
        K.INDEX_MISSING,
        K.VIEW_QUERY_CHANGED,
        K.TABLE_MISSING,
        K.TABLE_EXTRA,
        K.VIEW_MISSING,
        K.VIEW_EXTRA,
        K.MV_TARGET_CHANGED,
        K.ENGINE_CHANGED,
    } <= kinds


# -- the same on ClickHouse 24.8 ---------------------------------------------------------------------------

_counter = itertools.count()


@pytest.fixture
def target248(tmp_path: Path) -> Iterator[engine248.Engine248]:
    ch = engine248.Engine248(tmp_path / "data", DB)
    try:
        yield ch
    finally:
        ch.close()


@pytest.mark.slow
@pytest.mark.skipif(not engine248.available(), reason=engine248.NO_248)
@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_mutation_on_248(target248: engine248.Engine248, cache_dir: Path, mutation: Mutation) -> None:
    errors = [e for e in target248.run_script([*SEED_SQL, *mutation.sql]) if e]
    assert not errors
    _check(target248, mutation, cache_dir)
