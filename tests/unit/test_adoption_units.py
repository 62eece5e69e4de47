"""Pure parts of adoption: where two SQL texts differ, and which objects a statement creates."""

from __future__ import annotations

import pytest

from chmigrate.operations.preflight import created_object
from chmigrate.schema.diff import Change, ChangeKind
from chmigrate.schema.reconcile import refusal
from chmigrate.schema.textdiff import differences


def pairs(a: str, b: str) -> list[tuple[str, str]]:
    return [(h.expected, h.found) for h in differences(a, b)]


def test_a_call_is_shown_whole_with_its_arguments() -> None:
    assert pairs("SELECT CAST(count(), 'Int64') AS n FROM t", "SELECT toInt64(count()) AS n FROM t") == [
        ("CAST(count(), 'Int64')", "toInt64(count())")]


def test_two_separate_places_are_two_hunks_with_shared_context() -> None:
    hunks = differences("SELECT f(a) AS x, b + 1 AS y, c FROM t", "SELECT g(a) AS x, b + 2 AS y, c FROM t")
    assert [(h.expected, h.found) for h in hunks] == [("f(a)", "g(a)"), ("1", "2")]
    assert hunks[1].before.endswith("b +") and hunks[1].after.startswith("AS y")


def test_equal_token_streams_have_no_difference() -> None:
    assert differences("sum(x)  AS  s", "sum(x) AS s") == []


@pytest.mark.parametrize(("sql", "expected"), [
    ("CREATE TABLE llm_usage (a Int8) ENGINE = Memory", ("db", "llm_usage", "table")),
    ("CREATE TABLE other.`t 1` (a Int8) ENGINE = Memory", ("other", "t 1", "table")),
    ("CREATE MATERIALIZED VIEW mv TO t AS SELECT 1", ("db", "mv", "materialized view")),
    ("create dictionary d (k UInt64) PRIMARY KEY k SOURCE(NULL()) LAYOUT(FLAT()) LIFETIME(0)",
     ("db", "d", "dictionary")),
    ("CREATE TABLE IF NOT EXISTS t (a Int8) ENGINE = Memory", None),
    ("CREATE OR REPLACE VIEW v AS SELECT 1", None),
    ("CREATE DATABASE x", None),
    ("ALTER TABLE t ADD COLUMN b Int8", None),
])
def test_created_object(sql: str, expected: tuple[str, str, str] | None) -> None:
    assert created_object(sql, "db") == expected


def test_reconcile_takes_comments_and_output_preserving_queries_only() -> None:
    comment = Change(ChangeKind.COLUMN_CHANGED, "db.t.c", "comment", "x", None, table="t")
    query = Change(ChangeKind.VIEW_QUERY_CHANGED, "db.v", "query", "a", "b", table="v", output_changed=False)
    reshaped = Change(ChangeKind.VIEW_QUERY_CHANGED, "db.v", "query", "a", "b", table="v", output_changed=True)
    retyped = Change(ChangeKind.COLUMN_CHANGED, "db.t.c", "type", "Int32", "Int64", destructive=True, table="t")
    assert refusal(comment) is None and refusal(query) is None
    assert refusal(reshaped) == "output_changes" and refusal(retyped) == "type_rewrite"
