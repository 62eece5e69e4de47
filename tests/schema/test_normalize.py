"""Normalisation: what must never show as drift (pure part, then the engine's formatting pass)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chmigrate.schema.diff import diff
from chmigrate.schema.normalize import (
    canonicalize,
    differing_expressions,
    format_on_engine,
    normalize_pair,
    normalize_type,
)
from chmigrate.schema.objects import Column, Index, Schema, Table, View
from chmigrate.targets.clickhouse import ClickHouse

T = Table("t", "MergeTree", order_key="a, b", columns=(Column("a", "UInt32"), Column("b", "String")))


def _pair(
    desired: Table | View, actual: Table | View, *, db_desired: str = "default", db_actual: str = "default"
) -> tuple[Schema, Schema]:
    def schema(obj: Table | View, db: str) -> Schema:
        if isinstance(obj, Table):
            return Schema(db, tables=(obj,))
        return Schema(db, views=(obj,))

    return schema(desired, db_desired), schema(actual, db_actual)


@pytest.mark.parametrize(
    ("desired", "actual"),
    [
        (replace(T, ttl="d + INTERVAL 13 MONTH"), replace(T, ttl="d + toIntervalMonth(13)")),
        (
            replace(T, columns=(Column("c", "Decimal64(6)"),)),
            replace(T, columns=(Column("c", "Decimal(18, 6)"),)),
        ),
        (replace(T, settings=(("index_granularity", "8192"),)), T),
        (replace(T, primary_key="a, b"), T),
        (replace(T, primary_key="a, b"), replace(T, primary_key="")),
        (
            replace(T, columns=(Column("c", "Float64", "DEFAULT", "1.0"),)),
            replace(T, columns=(Column("c", "Float64", "DEFAULT", "1."),)),
        ),
        (replace(T, order_key="cityHash64(a,b)"), replace(T, order_key="cityHash64(a, b)")),
        (replace(T, partition_key="toYYYYMM(`d`)"), replace(T, partition_key="toYYYYMM(d)")),
        (
            replace(T, engine="SummingMergeTree", engine_args="(event_count)"),
            replace(T, engine="SummingMergeTree", engine_args="event_count"),
        ),
        (
            replace(T, columns=(Column("c", "String", codec="CODEC(ZSTD(1))"),)),
            replace(T, columns=(Column("c", "String", codec="CODEC(ZSTD( 1 ))"),)),
        ),
        (
            replace(T, columns=(Column("c", "String", "default", "''"),)),
            replace(T, columns=(Column("c", "String", "DEFAULT", "''"),)),
        ),
    ],
)
def test_pure_normalisation_equates(desired: Table, actual: Table) -> None:
    d, a = _pair(desired, actual)
    assert diff(canonicalize(d), canonicalize(a)) == ()


def test_database_qualifier_of_each_side_is_dropped() -> None:
    mv = View("mv", "materialized_view", "SELECT a FROM dev.src JOIN other.x USING a", target="dev.dst")
    d, a = _pair(
        mv,
        replace(mv, query="SELECT a FROM src JOIN other.x USING a", target="dst"),
        db_desired="dev",
        db_actual="default",
    )
    assert diff(*normalize_pair(d, a)) == ()
    # another database's name is kept
    d2, a2 = _pair(mv, replace(mv, query="SELECT a FROM src JOIN x USING a", target="dst"), db_desired="dev")
    assert len(diff(*normalize_pair(d2, a2))) == 1


def test_dictionary_uuid_and_qualifier() -> None:
    one = View(
        "d",
        "dictionary",
        "CREATE DICTIONARY db1.d UUID '1234' (k UInt64) PRIMARY KEY k "
        "SOURCE(CLICKHOUSE(TABLE 'src')) LIFETIME(0) LAYOUT(FLAT())",
    )
    two = replace(one, query=one.query.replace("db1.d UUID '1234'", "db2.d"))
    assert diff(*normalize_pair(*_pair(one, two, db_desired="db1", db_actual="db2"))) == ()


def test_normalize_type() -> None:
    assert normalize_type("Nullable(Decimal128( 6 ))") == "Nullable(Decimal(38, 6))"
    assert normalize_type("Map(String,Array(Decimal32(2)))") == "Map(String, Array(Decimal(9, 2)))"
    assert normalize_type("Decimal256(10)") == "Decimal(76, 10)"


def test_canonicalize_is_idempotent_and_sorts() -> None:
    schema = Schema(
        "db",
        tables=(
            replace(T, name="z", indices=(Index("b", "x", "minmax"), Index("a", "y", "minmax"))),
            replace(T, name="a"),
        ),
    )
    once = canonicalize(schema)
    assert canonicalize(once) == once
    assert [t.name for t in once.tables] == ["a", "z"]
    assert [i.name for i in once.tables[1].indices] == ["a", "b"]


def test_only_differing_expressions_are_sent() -> None:
    d, a = _pair(
        replace(
            T,
            ttl="(d + toIntervalMonth(1)) WHERE c = 1",
            order_key="a || b",
            partition_key="CASE WHEN a THEN 1 ELSE 2 END",
        ),
        replace(
            T,
            ttl="d + toIntervalMonth(1) WHERE c = 1",
            order_key="concat(a, b)",
            partition_key="multiIf(a, 1, 2)",
        ),
    )
    items = differing_expressions(canonicalize(d), canonicalize(a))
    assert ("expr", "a || b") in items and ("expr", "concat(a, b)") in items
    assert len(items) == 4  # the TTL pair is already equal after the pure pass
    assert differing_expressions(canonicalize(d), canonicalize(d)) == []


# -- on the engine ------------------------------------------------------------------------------------


def test_engine_formatting_equates_version_spellings(engine: ClickHouse) -> None:
    mv = View(
        "mv",
        "materialized_view",
        "SELECT dictGet('d', 'c', tuple(a, b)), CASE WHEN x THEN 1 ELSE 2 END, a || b FROM src",
        target="dst",
    )
    d, a = _pair(
        replace(
            T,
            ttl="(d + toIntervalMonth(1)) WHERE c = 1",
            order_key="(u64 * i32)",
            indices=(Index("i", "(u64 * i32)", "minmax"),),
        ),
        replace(
            T,
            ttl="d + INTERVAL 1 MONTH DELETE WHERE c=1",
            order_key="u64 * i32",
            indices=(Index("i", "u64 * i32", "minmax"),),
        ),
    )
    before = engine.requests
    assert diff(*normalize_pair(d, a, engine)) == ()
    assert engine.requests - before == 1  # one formatting query for everything
    mv_d, mv_a = _pair(
        mv, replace(mv, query="SELECT dictGet('d', 'c', (a, b)), multiIf(x, 1, 2), concat(a, b) FROM src")
    )
    assert diff(*normalize_pair(mv_d, mv_a, engine)) == ()


def test_engine_keeps_real_differences(engine: ClickHouse) -> None:
    d, a = _pair(replace(T, ttl="d + toIntervalMonth(13)"), replace(T, ttl="d + toIntervalMonth(12)"))
    changes = diff(*normalize_pair(d, a, engine))
    assert [(c.attribute, c.expected, c.actual) for c in changes] == [
        ("ttl", "d + toIntervalMonth(13)", "d + toIntervalMonth(12)")
    ]


def test_no_query_when_nothing_differs(engine: ClickHouse) -> None:
    d, a = _pair(T, replace(T, order_key="a,b"))
    before = engine.requests
    normalize_pair(d, a, engine)
    assert engine.requests == before


def test_format_on_engine_skips_unparseable(engine: ClickHouse) -> None:
    out = format_on_engine(engine, [("expr", "a +"), ("expr", "cityHash64(a,b)"), ("query", "SELECT 1.0")])
    assert out == {("expr", "cityHash64(a,b)"): "cityHash64(a, b)", ("query", "SELECT 1.0"): "SELECT 1."}


def test_format_on_engine_large_batch(engine: ClickHouse) -> None:
    items = [("expr", f"plus(col_{i},{i})") for i in range(20_000)]  # > max_query_size by default
    out = format_on_engine(engine, items)
    assert len(out) == len(items) and out[("expr", "plus(col_7,7)")] == "plus(col_7, 7)"
