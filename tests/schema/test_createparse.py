"""Reading engine-formatted CREATE text and engine_full (pure)."""

from __future__ import annotations

from chmigrate.schema.createparse import parse_create, parse_settings, split_engine
from chmigrate.schema.objects import Constraint, Projection
from chmigrate.schema.tokens import tokenize


def test_split_engine_full() -> None:
    parts = split_engine(
        "ReplacingMergeTree(event_ts, is_deleted) PARTITION BY toYYYYMM(t) PRIMARY KEY (a, b) "
        "ORDER BY (a, b, c) TTL t + toIntervalMonth(1) WHERE a = 1 "
        "SETTINGS index_granularity = 8192, storage_policy = 'hot'"
    )
    assert parts.name == "ReplacingMergeTree"
    assert parts.args == "event_ts, is_deleted"
    assert parts.ttl == "t + toIntervalMonth(1) WHERE a = 1"
    assert parts.settings == (("index_granularity", "8192"), ("storage_policy", "'hot'"))


def test_split_engine_without_clauses() -> None:
    parts = split_engine("Join(ANY, LEFT, id) SETTINGS persistent = 1")
    assert (parts.name, parts.args, parts.ttl, parts.settings) == (
        "Join",
        "ANY, LEFT, id",
        "",
        (("persistent", "1"),),
    )
    assert split_engine("Memory").name == "Memory"


def test_column_ttl_and_settings_constraints_projections() -> None:
    create = parse_create(
        "CREATE TABLE db.t (`a` UInt32, `ttl` DateTime, `b` String DEFAULT ttl COMMENT 'x' CODEC(ZSTD(1)) "
        "TTL ttl + toIntervalDay(1), `c` String SETTINGS (max_compress_block_size = 1), "
        "INDEX i a TYPE minmax GRANULARITY 1, PROJECTION p (SELECT * ORDER BY b), CONSTRAINT ck CHECK a > 0) "
        "ENGINE = MergeTree ORDER BY a SETTINGS index_granularity = 8192 COMMENT 'tbl'"
    )
    extras = dict(create.columns)
    assert extras["ttl"].ttl == ""  # a column named ttl is not a TTL clause
    assert extras["b"].ttl == "ttl + toIntervalDay(1)"
    assert extras["c"].settings == (("max_compress_block_size", "1"),)
    assert create.projections == (Projection("p", "SELECT * ORDER BY b"),)
    assert create.constraints == (Constraint("ck", "CHECK", "a > 0"),)
    assert create.comment == "tbl"


def test_materialized_view_with_to_and_inner_engine() -> None:
    to = parse_create(
        "CREATE MATERIALIZED VIEW db.mv TO db.dst (`s` String, `x` String DEFAULT 'd') "
        "AS SELECT concat(tuple(*).1, 'mv2') AS s FROM db.src"
    )
    assert to.kind == "MATERIALIZED VIEW" and to.target == "db.dst" and to.engine == ""
    assert to.query == "SELECT concat(tuple(*).1, 'mv2') AS s FROM db.src"
    inner = parse_create(
        "CREATE MATERIALIZED VIEW db.mv UUID 'ab-cd' (`arr` Array(String)) ENGINE = MergeTree "
        "ORDER BY arr SETTINGS index_granularity = 8192 AS WITH (SELECT 1) AS c SELECT [c] AS arr"
    )
    assert inner.target == ""
    assert inner.engine == "MergeTree ORDER BY arr SETTINGS index_granularity = 8192"
    assert inner.query.startswith("WITH (SELECT 1) AS c")


def test_view_security_refresh_comment() -> None:
    view = parse_create("CREATE VIEW db.v SQL SECURITY INVOKER AS SELECT a FROM db.t WHERE p = {p:UUID}")
    assert view.security == "SQL SECURITY INVOKER"
    assert view.query == "SELECT a FROM db.t WHERE p = {p:UUID}"
    rmv = parse_create(
        "CREATE MATERIALIZED VIEW db.r REFRESH EVERY 1 HOUR TO db.c (`a` UInt8) "
        "DEFINER = default SQL SECURITY DEFINER COMMENT 'hi' AS SELECT 1 AS a"
    )
    assert rmv.refresh == "REFRESH EVERY 1 HOUR"
    assert rmv.security == "DEFINER = default SQL SECURITY DEFINER"
    assert rmv.comment == "hi"
    trailing = parse_create("CREATE VIEW db.v AS SELECT 1 COMMENT 'late'")
    assert trailing.comment == "late" and trailing.query == "SELECT 1"


def test_parse_settings_values_keep_quotes() -> None:
    assert parse_settings(tokenize("a = 1, b = 'x, y', c = 1.5")) == (
        ("a", "1"),
        ("b", "'x, y'"),
        ("c", "1.5"),
    )
