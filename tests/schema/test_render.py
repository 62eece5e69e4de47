"""Renderers: text, JSON, SQL and GitHub annotations (pure, no engine)."""

from __future__ import annotations

import json
from dataclasses import replace

from chmigrate.schema.ddl import create_table_sql, create_view_sql
from chmigrate.schema.diff import Change, diff
from chmigrate.schema.diff import ChangeKind as K
from chmigrate.schema.objects import Column, Index, Schema, Table, View
from chmigrate.schema.render import reconcile_statements, render_github, render_json, render_sql, render_text

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
        Column("model", "String", comment="it's the model"),
        Column("cost_usd", "Decimal(18, 6)", "DEFAULT", "0"),
    ),
    indices=(Index("idx_model", "model", "bloom_filter(0.01)", 4),),
)
DESIRED = Schema(
    "default",
    tables=(USAGE,),
    views=(View("daily_mv", "materialized_view", "SELECT 1 AS x FROM llm_usage", target="daily"),),
)


def _changes(actual: Schema) -> tuple[Change, ...]:
    return diff(DESIRED, actual)


def _actual(**changes: object) -> Schema:
    return replace(DESIRED, tables=(replace(USAGE, **changes),))  # type: ignore[arg-type]


def test_text_groups_by_object_and_summarises() -> None:
    cols = (
        USAGE.columns[0],
        USAGE.columns[1],
        Column("model", "LowCardinality(String)"),
        Column("extra", "UInt8"),
    )
    text = render_text(_changes(_actual(columns=cols, ttl="")))
    lines = text.splitlines()
    assert lines[0] == "default.llm_usage"
    assert any("column_missing" in line and "default.llm_usage.cost_usd" in line for line in lines)
    assert any("[destructive]" in line and "extra" in line for line in lines)
    assert lines[-1] == "5 differences in 1 object (2 destructive, 0 need a rebuild)"
    assert render_text(()) == "No differences: the database matches the migrations.\n"


def test_json_is_versioned_and_stable() -> None:
    changes = _changes(_actual(ttl=""))
    doc = json.loads(render_json(changes))
    assert list(doc) == ["version", "clickhouse"]
    assert doc["version"] == 1
    assert doc["clickhouse"]["changes"] == [
        {
            "kind": "ttl_changed",
            "object": "default.llm_usage",
            "attribute": "ttl",
            "expected": "toDateTime(event_time) + toIntervalMonth(13)",
            "actual": None,
            "destructive": False,
            "needs_rebuild": False,
        }
    ]
    with_pg = json.loads(render_json(changes, postgres={"changes": []}))
    assert list(with_pg) == ["version", "clickhouse", "postgres"]
    assert render_json(changes) == render_json(changes)
    assert json.loads(render_json(()))["clickhouse"]["changes"] == []


def test_sql_in_place_statements() -> None:
    actual = _actual(
        ttl="",
        comment="",
        settings=(("min_bytes_for_wide_part", "0"),),
        indices=(),
        columns=(USAGE.columns[0], USAGE.columns[1], Column("model", "String", comment="old")),
    )
    sql = render_sql(_changes(actual), DESIRED, database="default")
    assert (
        "ALTER TABLE default.llm_usage MODIFY TTL toDateTime(event_time) + toIntervalMonth(13) "
        "SETTINGS materialize_ttl_after_modify = 0;" in sql
    )
    assert "ALTER TABLE default.llm_usage RESET SETTING min_bytes_for_wide_part;" in sql
    assert "ALTER TABLE default.llm_usage MODIFY COMMENT 'raw events';" in sql
    assert "ALTER TABLE default.llm_usage ADD COLUMN cost_usd Decimal(18, 6) DEFAULT 0 AFTER model;" in sql
    assert "ALTER TABLE default.llm_usage COMMENT COLUMN model 'it\\'s the model';" in sql
    assert (
        "ALTER TABLE default.llm_usage ADD INDEX idx_model model TYPE bloom_filter(0.01) GRANULARITY 4;"
        in sql
    )
    assert "-- to index existing parts: ALTER TABLE default.llm_usage MATERIALIZE INDEX idx_model;" in sql
    assert sql.startswith("-- chmigrate: reconcile default with the migrations")


def test_sql_destructive_is_commented_unless_allowed() -> None:
    actual = replace(
        _actual(columns=(*USAGE.columns, Column("extra", "UInt8"))),
        tables=(replace(USAGE, columns=(*USAGE.columns, Column("extra", "UInt8"))), Table("stray", "Log")),
    )
    changes = _changes(actual)
    sql = render_sql(changes, DESIRED, database="default")
    assert "-- ALTER TABLE default.llm_usage DROP COLUMN extra;" in sql
    assert "-- DROP TABLE default.stray;" in sql
    assert not [s for s in reconcile_statements(changes, DESIRED, database="default") if "DROP" in s]
    live = reconcile_statements(changes, DESIRED, database="default", allow_destructive=True)
    assert "ALTER TABLE default.llm_usage DROP COLUMN extra" in live
    assert "DROP TABLE default.stray" in live


def test_sql_rebuilds_are_comments_only() -> None:
    changes = _changes(
        _actual(engine="ReplacingMergeTree", partition_key="toYear(event_time)", order_key="event_time")
    )
    sql = render_sql(changes, DESIRED, database="default", allow_destructive=True)
    assert reconcile_statements(changes, DESIRED, database="default", allow_destructive=True) == ()
    assert sql.count("-- needs rebuild:") == 3
    assert all(line.startswith("--") for line in sql.splitlines())


def test_sql_order_by_extension_rides_with_add_column() -> None:
    wanted = replace(
        USAGE,
        order_key="user_id, event_time, region",
        primary_key="user_id, event_time",
        columns=(*USAGE.columns, Column("region", "String")),
    )
    desired = replace(DESIRED, tables=(wanted,))
    changes = diff(desired, DESIRED)
    statements = reconcile_statements(changes, desired, database="default")
    assert statements == (
        "ALTER TABLE default.llm_usage ADD COLUMN region String AFTER cost_usd, "
        "MODIFY ORDER BY (user_id, event_time, region)",
    )


def test_sql_views() -> None:
    changes = diff(
        DESIRED, replace(DESIRED, views=(replace(DESIRED.views[0], query="SELECT 2 AS x FROM llm_usage"),))
    )
    assert reconcile_statements(changes, DESIRED, database="default") == (
        "ALTER TABLE default.daily_mv MODIFY QUERY SELECT 1 AS x FROM llm_usage",
    )
    missing = diff(DESIRED, replace(DESIRED, views=()))
    assert reconcile_statements(missing, DESIRED, database="default") == (
        "CREATE MATERIALIZED VIEW default.daily_mv\nTO default.daily\nAS SELECT 1 AS x FROM llm_usage",
    )
    plain = View(
        "v",
        "view",
        "SELECT 1 AS a",
        columns=(Column("a", "UInt8"),),
        security="SQL SECURITY INVOKER",
        comment="c",
    )
    assert create_view_sql("db", plain, replace=True) == (
        "CREATE OR REPLACE VIEW db.v (a UInt8)\nSQL SECURITY INVOKER\nCOMMENT 'c'\nAS SELECT 1 AS a"
    )


def test_create_table_sql() -> None:
    sql = create_table_sql("default", replace(USAGE, settings=(("index_granularity", "1024"),)))
    assert sql.splitlines()[:3] == ["CREATE TABLE default.llm_usage", "(", "    user_id UUID,"]
    assert "    INDEX idx_model model TYPE bloom_filter(0.01) GRANULARITY 4" in sql
    assert "ORDER BY (user_id, event_time)" in sql and "SETTINGS index_granularity = 1024" in sql
    assert sql.endswith("COMMENT 'raw events'")
    assert "ORDER BY" not in create_table_sql("d", Table("m", "Memory", columns=(Column("a", "UInt8"),)))
    assert "ORDER BY tuple()" in create_table_sql(
        "d", Table("m", "MergeTree", columns=(Column("a", "UInt8"),))
    )


def test_github_annotations() -> None:
    changes = _changes(_actual(ttl="", comment="a,b: 100%"))
    out = render_github(changes, {"llm_usage": "clickhouse/0001_create_llm_usage.sql"})
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        "::error file=clickhouse/0001_create_llm_usage.sql,title=schema drift%3A ttl_changed::"
    )
    assert "100%25" in lines[1]
    assert render_github(changes).startswith("::error title=")
    assert render_github(()) == ""
    assert K.TTL_CHANGED.value in lines[0]


def _read_annotation(line: str) -> tuple[str, dict[str, str], str]:
    """Parse one workflow command as GitHub's runner does: split at the first `::` after the command,
    properties at `,` and `=`, then unescape."""
    def data(t: str) -> str:
        return t.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")

    def prop(t: str) -> str:
        return data(t.replace("%3A", ":").replace("%2C", ","))

    assert line.startswith("::") and "\n" not in line and "\r" not in line
    head, message = line[2:].split("::", 1)
    command, _, rest = head.partition(" ")
    props = dict(p.split("=", 1) for p in rest.split(",")) if rest else {}
    return command, {k: prop(v) for k, v in props.items()}, data(message)


def test_github_annotations_survive_percent_colons_commas_and_newlines() -> None:
    from chmigrate.schema.render import github_annotation

    message = "column `a` differs: 100% of rows,\nsecond line ::error title=injected::boom\r"
    line = github_annotation(message, file="clickhouse/0001_a,b:c.sql", title="schema drift: a, b: c")
    command, props, text = _read_annotation(line)
    assert command == "error"
    assert props == {"file": "clickhouse/0001_a,b:c.sql", "title": "schema drift: a, b: c"}
    assert text == message
