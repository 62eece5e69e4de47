"""Every rule: one real statement that triggers it (asserted by code, file and line) and a near miss that
does not. Pure: the statements are analysed with hand-built schemas (the replay is tested in
test_lint_cli.py)."""

from __future__ import annotations

from typing import Any

import pytest

from chmigrate.schema.objects import View
from tests.lint.helpers import FILE, hits, lint_text, schema, table, view

EVENTS = table("events", ("id", "UInt64"), ("ts", "DateTime64(3)"), ("v", "String"), ("n", "UInt32"),
               order="id", ttl="toDateTime(ts) + toIntervalMonth(13)")
BEFORE = schema(EVENTS, table("daily", ("id", "UInt64"), ("cnt", "UInt64"), engine="SummingMergeTree"))
V248: dict[str, Any] = {"target": "24.8"}

# code, trigger (text, line of the finding), near miss, keyword arguments of lint_text
CASES: list[tuple[str, str, int, str, dict[str, Any]]] = [
    ("CH001", "-- chmigrate:lint-ignore CH101\nDROP TABLE old;", 1,
     "-- chmigrate:lint-ignore CH101 replaced by events_v2 in 0001\nDROP TABLE old;", {}),
    ("CH003", "-- chmigrate:lint-ignore CH999 no such rule\nSELECT 1;", 1,
     "-- chmigrate:lint-ignore CH101 a real code\nSELECT 1;", {}),
    ("CH101", "SELECT 1;\nDROP TABLE IF EXISTS events;", 2, "SELECT 'DROP TABLE events';\n-- DROP TABLE events", {}),
    ("CH102", "ALTER TABLE events\n    DROP COLUMN n;", 2, "ALTER TABLE events ADD COLUMN drop_column UInt8;", {}),
    ("CH103", "TRUNCATE TABLE events;", 1, "SELECT count() FROM events AS truncate;", {}),
    ("CH104", "DETACH TABLE events PERMANENTLY;", 1, "DETACH TABLE events;", {}),
    ("CH105", "ALTER TABLE events DROP PARTITION 202412;", 1, "ALTER TABLE events DETACH PARTITION 202412;", {}),
    ("CH106", "ALTER TABLE events MODIFY TTL toDateTime(ts) + INTERVAL 1 MONTH\n"
     "SETTINGS materialize_ttl_after_modify = 0;", 1,
     "ALTER TABLE events MODIFY TTL toDateTime(ts) + INTERVAL 24 MONTH SETTINGS materialize_ttl_after_modify = 0;",
     {"before": BEFORE}),
    ("CH107", "ALTER TABLE events MODIFY TTL toDateTime(ts) + INTERVAL 24 MONTH;", 1,
     "ALTER TABLE events MODIFY TTL toDateTime(ts) + INTERVAL 24 MONTH SETTINGS materialize_ttl_after_modify = 0;",
     {"before": BEFORE}),
    ("CH201", "ALTER TABLE events DELETE WHERE id = 0;", 1, "DELETE FROM events_log_update WHERE 0 = 1 AND 'ALTER';",
     {}),
    ("CH202", "ALTER TABLE events MODIFY COLUMN n UInt64;", 1, "ALTER TABLE events MODIFY COLUMN n Nullable(UInt32);",
     {"before": BEFORE}),
    ("CH203", "ALTER TABLE events MATERIALIZE INDEX idx_v;", 1, "ALTER TABLE events ADD INDEX idx_v v TYPE "
     "bloom_filter GRANULARITY 1;", {}),
    ("CH204", "ALTER TABLE events DELETE WHERE id = 0;\nALTER TABLE events\nUPDATE v = '' WHERE id = 1;", 2,
     "ALTER TABLE events DELETE WHERE id = 0, UPDATE v = '' WHERE id = 1;", {}),
    ("CH301", "ALTER TABLE events ADD COLUMN region String, MODIFY ORDER BY (region, id);", 1,
     "ALTER TABLE events ADD COLUMN region String, MODIFY ORDER BY (id, region);", {"before": BEFORE}),
    ("CH302", "DROP TABLE events;\nCREATE TABLE events (id UInt64, ts DateTime64(3)) ENGINE = ReplacingMergeTree "
     "ORDER BY id;", 2, "DROP TABLE events;\nCREATE TABLE events (id UInt64, ts DateTime64(3)) ENGINE = MergeTree "
     "ORDER BY id;", {"before": BEFORE}),
    ("CH401", "CREATE MATERIALIZED VIEW mv TO daily\nPOPULATE AS SELECT id, count() AS cnt FROM events GROUP BY id;",
     2, "CREATE MATERIALIZED VIEW mv TO daily AS SELECT id, count() AS populate FROM events GROUP BY id;",
     {"before": BEFORE}),
    ("CH402", "CREATE MATERIALIZED VIEW mv TO daily AS SELECT id, count() AS cont FROM events GROUP BY id;", 1,
     "CREATE MATERIALIZED VIEW mv TO daily AS SELECT id, count() AS cnt FROM events GROUP BY id;",
     {"before": BEFORE, "after": "mv"}),
    ("CH403", "CREATE MATERIALIZED VIEW mv ENGINE = MergeTree ORDER BY id AS SELECT id FROM events;", 1,
     "CREATE MATERIALIZED VIEW mv TO daily AS SELECT id FROM events;", {"before": BEFORE}),
    ("CH404", "CREATE MATERIALIZED VIEW mv TO hourly AS SELECT id FROM events;", 1,
     "CREATE TABLE hourly (id UInt64) ENGINE = MergeTree ORDER BY id;\n"
     "CREATE MATERIALIZED VIEW mv TO hourly AS SELECT id FROM events;", {"before": BEFORE}),
    ("CH501", "CREATE TABLE t (id UInt64,\n  ts DateTime64(3)) ENGINE = MergeTree ORDER BY id\n"
     "TTL ts + INTERVAL 13 MONTH;", 3, "CREATE TABLE t (id UInt64, ts DateTime64(3)) ENGINE = MergeTree ORDER BY id "
     "TTL toDateTime(ts) + INTERVAL 13 MONTH;", V248),
    ("CH502", "CREATE TABLE t (id UInt64) ENGINE = MergeTree ORDER BY id\nSETTINGS enable_full_text_index = 1;", 2,
     "CREATE TABLE t (id UInt64) ENGINE = MergeTree ORDER BY id SETTINGS index_granularity = 8192;", V248),
    ("CH601", "CREATE TABLE a ON CLUSTER main (id UInt64) ENGINE = MergeTree ORDER BY id;\n"
     "CREATE TABLE b (id UInt64) ENGINE = MergeTree ORDER BY id;", 2,
     "CREATE TABLE a ON CLUSTER main (id UInt64) ENGINE = MergeTree ORDER BY id;\n"
     "CREATE TABLE b ON CLUSTER main (id UInt64) ENGINE = MergeTree ORDER BY id;", {}),
    ("CH602", "CREATE TABLE rdb.t ON CLUSTER main (id UInt64) ENGINE = MergeTree ORDER BY id;", 1,
     "CREATE TABLE other.t ON CLUSTER main (id UInt64) ENGINE = MergeTree ORDER BY id;",
     {"replicated": frozenset({"rdb"})}),
    ("CH603", "CREATE TABLE t ON CLUSTER c (id UInt64)\nENGINE = ReplicatedMergeTree('/ch/tables/t', '{replica}') "
     "ORDER BY id;", 2, "CREATE TABLE t ON CLUSTER c (id UInt64) ENGINE = ReplicatedMergeTree("
     "'/ch/tables/{shard}/t', '{replica}') ORDER BY id;", {}),
    ("CH604", "CREATE TABLE t (id UInt64) ENGINE = ReplicatedMergeTree ORDER BY id;", 1,
     "CREATE TABLE t ON CLUSTER main (id UInt64) ENGINE = ReplicatedMergeTree ORDER BY id;", {"cluster": True}),
    ("CH701", "SELECT 1;\nSET max_threads = 1;", 2, "SELECT 1 SETTINGS max_threads = 1;", {}),
    ("CH702", "CREATE TABLE IF NOT EXISTS a (id UInt64) ENGINE = MergeTree ORDER BY id;\n"
     "INSERT INTO a SELECT 1;", 2, "INSERT INTO a SELECT 1;", {}),
    ("CH801", "CREATE TABLE t (id UInt64, v Nullable(String))\nENGINE = MergeTree ORDER BY (id, v)\n"
     "SETTINGS allow_nullable_key = 1;", 2, "CREATE TABLE t (id UInt64, v Nullable(String)) ENGINE = MergeTree "
     "ORDER BY (id, ifNull(v, ''));", {}),
    ("CH802", "CREATE TABLE t (id UInt64) ENGINE = MergeTree ORDER BY tuple();", 1,
     "CREATE TABLE t (id UInt64) ENGINE = Memory;", {}),
    ("CH803", "CREATE TABLE t (id UInt64, n LowCardinality(UInt32)) ENGINE = MergeTree ORDER BY id;", 1,
     "CREATE TABLE t (id UInt64, n LowCardinality(String)) ENGINE = MergeTree ORDER BY id;", {}),
    ("CH804", "SELECT 1;", 1, "SELECT 1;", {"has_down": False}),
]


def _after(kwargs: dict[str, Any], sql: str) -> dict[str, Any]:
    """CH402 needs the schema after the file: the view's output columns as the engine computes them."""
    out = dict(kwargs)
    if out.get("after") == "mv":
        alias = "cont" if " AS cont " in sql else "cnt"
        out["after"] = schema(*BEFORE.tables, view("mv", "daily", ("id", "UInt64"), (alias, "UInt64")))
    return out


@pytest.mark.parametrize(("code", "trigger", "line", "near_miss", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_rule_triggers_and_near_miss_does_not(code: str, trigger: str, line: int, near_miss: str,
                                              kwargs: dict[str, Any]) -> None:
    near_kwargs = {k: v for k, v in kwargs.items() if k != "has_down"}
    assert (code, FILE, line) in hits(lint_text(trigger, **_after(kwargs, trigger)), code)
    assert hits(lint_text(near_miss, **_after(near_kwargs, near_miss)), code) == []


def test_every_rule_has_a_case() -> None:
    from chmigrate.lint.rules import RULES

    covered = {c[0] for c in CASES} | {"CH002", "CH901", "CH902"}  # replay and history: test_lint_cli.py
    assert covered == set(RULES)


def test_ignore_with_reason_suppresses_only_its_statement() -> None:
    sql = ("-- chmigrate:lint-ignore CH101 the table moved to events_v2 (0007)\nDROP TABLE old;\n"
           "DROP TABLE older;")
    assert hits(lint_text(sql), "CH101") == [("CH101", FILE, 3)]
    assert hits(lint_text(sql), "CH001") == []


def test_nullable_wrap_and_comment_change_are_not_type_changes() -> None:
    sql = "ALTER TABLE events MODIFY COLUMN v Nullable(String), MODIFY COLUMN n UInt32 COMMENT 'count';"
    assert hits(lint_text(sql, before=BEFORE), "CH202") == []


def test_version_rules_only_with_a_target_version() -> None:
    sql = "CREATE TABLE t (id UInt64, j JSON) ENGINE = MergeTree ORDER BY id;"
    assert hits(lint_text(sql, target="24.8"), "CH501") == [("CH501", FILE, 1)]
    assert hits(lint_text(sql, target="26.1"), "CH501") == []
    assert hits(lint_text(sql), "CH501") == []


def test_dropping_what_is_not_there_or_a_plain_view_loses_nothing() -> None:
    before = schema(EVENTS, View(name="plain", kind="view", query="SELECT 1"))
    assert hits(lint_text("DROP TABLE IF EXISTS gone;\nDROP VIEW plain;", before=before), "CH101") == []
    assert hits(lint_text("DROP TABLE IF EXISTS events;", before=before), "CH101") == [("CH101", FILE, 1)]


def test_unfinished_statements_never_crash_the_rules() -> None:
    from chmigrate.migrations.splitter import SplitError

    for _, trigger, _, near_miss, _ in CASES:
        for text in (trigger, near_miss):
            for cut in range(1, len(text)):
                try:
                    lint_text(text[:cut] + ";", before=BEFORE, after=BEFORE, target="24.8", cluster=True,
                              replicated=frozenset({"default"}))
                except SplitError:
                    continue  # an unterminated literal: discovery reports it (exit 2)


def test_recreating_with_another_primary_key_is_a_rebuild() -> None:
    sql = ("DROP TABLE events;\nCREATE TABLE events (id UInt64, ts DateTime64(3)) ENGINE = MergeTree "
           "PRIMARY KEY id ORDER BY (id, ts);")
    before = schema(table("events", ("id", "UInt64"), ("ts", "DateTime64(3)"), order="(id, ts)"))
    assert hits(lint_text(sql, before=before), "CH302") == [("CH302", FILE, 2)]
    same = sql.replace("PRIMARY KEY id ", "")
    assert hits(lint_text(same, before=before), "CH302") == []
