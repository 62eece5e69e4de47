"""The differ: a pure function over hand-built schemas (no engine)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from chmigrate.schema.diff import ChangeKind as K
from chmigrate.schema.diff import diff, moved_columns, order_key_extends
from chmigrate.schema.objects import Column, Constraint, Index, Projection, Schema, Table, View

USAGE = Table(
    name="llm_usage",
    engine="MergeTree",
    partition_key="toYYYYMM(event_time)",
    order_key="user_id, event_time",
    ttl="toDateTime(event_time) + toIntervalMonth(13)",
    comment="raw events",
    columns=(
        Column("user_id", "UUID"),
        Column("event_time", "DateTime64(3, 'UTC')"),
        Column("model", "String", comment="model name"),
        Column("cost_usd", "Decimal(18, 6)", "DEFAULT", "0"),
    ),
    indices=(Index("idx_model", "model", "bloom_filter(0.01)", 4),),
    projections=(Projection("by_model", "SELECT model, sum(cost_usd) GROUP BY model"),),
    constraints=(Constraint("positive", "CHECK", "cost_usd >= 0"),),
)
MV = View(
    "daily_mv",
    "materialized_view",
    "SELECT 1 AS x FROM llm_usage",
    target="daily",
    columns=(Column("x", "UInt8"),),
)
BASE = Schema("default", tables=(USAGE,), views=(MV,))


def _with_table(**changes: object) -> Schema:
    return replace(BASE, tables=(replace(USAGE, **changes),))  # type: ignore[arg-type]


def _kinds(schema: Schema) -> list[tuple[K, str, str | None]]:
    return [(c.kind, c.object, c.attribute) for c in diff(BASE, schema)]


def test_identical_schemas_have_no_changes() -> None:
    assert diff(BASE, BASE) == ()


def test_table_level_changes() -> None:
    got = _kinds(
        _with_table(
            engine="ReplacingMergeTree",
            ttl="",
            comment="other",
            settings=(("min_bytes_for_wide_part", "0"),),
            partition_key="toYear(event_time)",
        )
    )
    assert got == [
        (K.ENGINE_CHANGED, "default.llm_usage", "engine"),
        (K.KEY_CHANGED, "default.llm_usage", "partition_key"),
        (K.TTL_CHANGED, "default.llm_usage", "ttl"),
        (K.SETTING_CHANGED, "default.llm_usage", "min_bytes_for_wide_part"),
        (K.COMMENT_CHANGED, "default.llm_usage", "comment"),
    ]
    changes = diff(BASE, _with_table(engine="ReplacingMergeTree"))
    assert changes[0].needs_rebuild and not changes[0].destructive
    ttl = diff(BASE, _with_table(ttl=""))[0]
    assert (ttl.expected, ttl.actual) == ("toDateTime(event_time) + toIntervalMonth(13)", None)
    setting = diff(BASE, _with_table(settings=(("min_bytes_for_wide_part", "0"),)))[0]
    assert (setting.expected, setting.actual, setting.needs_rebuild) == (None, "0", False)
    fixed = diff(BASE, _with_table(settings=(("index_granularity", "1024"),)))[0]
    assert fixed.needs_rebuild


def test_column_changes() -> None:
    cols = list(USAGE.columns)
    cols[2] = Column("model", "LowCardinality(String)", codec="CODEC(ZSTD(3))", comment="", ttl="x")
    cols[3] = Column("cost_usd", "Decimal(18, 6)")
    cols.append(Column("extra", "UInt8"))
    del cols[0]
    got = diff(BASE, _with_table(columns=tuple(cols)))
    assert [(c.kind, c.object, c.attribute) for c in got] == [
        (K.COLUMN_MISSING, "default.llm_usage.user_id", None),
        (K.COLUMN_CHANGED, "default.llm_usage.model", "type"),
        (K.COLUMN_CHANGED, "default.llm_usage.model", "codec"),
        (K.COLUMN_CHANGED, "default.llm_usage.model", "ttl"),
        (K.COLUMN_CHANGED, "default.llm_usage.model", "comment"),
        (K.COLUMN_CHANGED, "default.llm_usage.cost_usd", "default"),
        (K.COLUMN_EXTRA, "default.llm_usage.extra", None),
    ]
    by_attr = {c.attribute: c for c in got}
    assert by_attr["type"].destructive and not by_attr["codec"].destructive
    assert by_attr["default"].expected == "DEFAULT 0" and by_attr["default"].actual is None
    assert got[0].expected == "UUID" and got[-1].destructive


def test_column_position() -> None:
    cols = USAGE.columns
    moved = (cols[0], cols[2], cols[1], cols[3])
    got = diff(BASE, _with_table(columns=moved))
    assert [(c.kind, c.object, c.attribute, c.expected, c.actual) for c in got] == [
        (K.COLUMN_CHANGED, "default.llm_usage.event_time", "position", "AFTER user_id", "AFTER model"),
    ]


def test_moved_columns_is_minimal() -> None:
    assert moved_columns(list("abcd"), list("abcd")) == set()
    assert moved_columns(list("abcd"), list("bcda")) == {"a"}
    assert moved_columns(list("abcd"), list("abxd")) == set()  # a missing column is not a move


def test_elements() -> None:
    got = _kinds(
        _with_table(
            indices=(
                Index("idx_model", "model", "bloom_filter(0.05)", 4),
                Index("idx_new", "user_id", "minmax", 1),
            ),
            projections=(),
            constraints=(Constraint("positive", "ASSUME", "cost_usd >= 0"),),
        )
    )
    assert got == [
        (K.INDEX_CHANGED, "default.llm_usage.idx_model", "definition"),
        (K.INDEX_EXTRA, "default.llm_usage.idx_new", None),
        (K.PROJECTION_MISSING, "default.llm_usage.by_model", None),
        (K.CONSTRAINT_CHANGED, "default.llm_usage.positive", "definition"),
    ]


def test_keys_and_rebuilds() -> None:
    extended = replace(
        USAGE,
        order_key="user_id, event_time, region",
        primary_key="user_id, event_time",
        columns=(*USAGE.columns, Column("region", "String")),
    )
    assert order_key_extends(extended, USAGE)  # appending a new column: in place
    assert not order_key_extends(replace(USAGE, order_key="event_time, user_id"), USAGE)
    assert not order_key_extends(replace(extended, primary_key=""), USAGE)  # primary key would change
    changes = diff(replace(BASE, tables=(extended,)), BASE)
    order = next(c for c in changes if c.attribute == "order_key")
    assert not order.needs_rebuild
    # primary key equal to the order key written explicitly on one side is the same table
    assert diff(BASE, _with_table(primary_key="")) == ()
    sample = diff(BASE, _with_table(sample_key="cityHash64(user_id)"))[0]
    assert (sample.attribute, sample.needs_rebuild) == ("sample_key", False)  # REMOVE SAMPLE BY


def test_tables_and_views_missing_and_extra_in_name_order() -> None:
    other = Table("aaa", "Memory")
    actual = Schema("default", tables=(other,), views=(View("v2", "view", "SELECT 1"),))
    got = [(c.kind, c.object, c.destructive) for c in diff(BASE, actual)]
    assert got == [
        (K.TABLE_EXTRA, "default.aaa", True),
        (K.TABLE_MISSING, "default.llm_usage", False),
        (K.VIEW_MISSING, "default.daily_mv", False),
        (K.VIEW_EXTRA, "default.v2", True),
    ]


def test_view_changes() -> None:
    def with_view(**changes: object) -> Schema:
        return replace(BASE, views=(replace(MV, **changes),))  # type: ignore[arg-type]

    assert [
        (c.kind, c.attribute) for c in diff(BASE, with_view(query="SELECT 2 AS x FROM llm_usage", columns=()))
    ] == [(K.VIEW_QUERY_CHANGED, "query")]  # columns follow the query: not reported twice
    assert [(c.kind, c.attribute) for c in diff(BASE, with_view(columns=()))] == [(K.VIEW_CHANGED, "columns")]
    target = diff(BASE, with_view(target="other"))[0]
    assert (target.kind, target.needs_rebuild) == (K.MV_TARGET_CHANGED, False)
    inner = diff(BASE, with_view(target="", inner_engine="MergeTree ORDER BY x"))
    assert {c.kind for c in inner} == {K.MV_TARGET_CHANGED, K.VIEW_CHANGED}
    assert [(c.kind, c.attribute) for c in diff(BASE, with_view(kind="view"))] == [(K.VIEW_CHANGED, "kind")]
    assert [
        (c.kind, c.attribute) for c in diff(BASE, with_view(comment="c", security="SQL SECURITY INVOKER"))
    ] == [(K.VIEW_CHANGED, "security"), (K.COMMENT_CHANGED, "comment")]


def test_object_names_use_the_actual_database() -> None:
    desired = replace(BASE, database="chmigrate_dev")
    actual = replace(_with_table(comment="x"), database="prod")
    assert diff(desired, actual)[0].object == "prod.llm_usage"


names = st.lists(st.sampled_from(list("abcdefgh")), unique=True, max_size=8)


@given(names, names)
def test_diff_is_deterministic_and_symmetric_in_count(a: list[str], b: list[str]) -> None:
    def schema(cols: list[str]) -> Schema:
        return Schema("d", tables=(Table("t", "Memory", columns=tuple(Column(c, "UInt8") for c in cols)),))

    first, second = diff(schema(a), schema(b)), diff(schema(a), schema(b))
    assert first == second
    missing = {c.object for c in first if c.kind is K.COLUMN_MISSING}
    extra = {c.object for c in first if c.kind is K.COLUMN_EXTRA}
    assert missing == {f"d.t.{n}" for n in set(a) - set(b)}
    assert extra == {f"d.t.{n}" for n in set(b) - set(a)}
    assert len(diff(schema(a), schema(a))) == 0
