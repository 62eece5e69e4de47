"""The lexer and the pure-Python canonical spelling (no engine)."""

from __future__ import annotations

import pytest

from chmigrate.schema.tokens import (
    NUMBER,
    QIDENT,
    STRING,
    canonical,
    find_top,
    split_top,
    strip_uuid_clauses,
    tokenize,
)


def test_tokenize_keeps_strings_and_quoted_identifiers_whole() -> None:
    toks = tokenize("SELECT 'a;b''c', `we ird`, \"x\" -- c\n/* d */ FROM t")
    kinds = [(t.kind, t.text) for t in toks]
    assert (STRING, "'a;b''c'") in kinds
    assert (QIDENT, "`we ird`") in kinds
    assert (QIDENT, '"x"') in kinds
    assert all(t.text != "c" for t in toks)  # comments dropped


def test_tuple_access_is_not_a_float() -> None:
    toks = tokenize("t.1 + .5")
    assert [t.text for t in toks] == ["t", ".", "1", "+", ".5"]
    assert toks[-1].kind == NUMBER


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("x + INTERVAL 13 MONTH", "x + toIntervalMonth(13)"),
        ("now() - INTERVAL '1 day'", "now() - toIntervalDay(1)"),
        ("d + interval 2 days", "d + toIntervalDay(2)"),
        ("cityHash64(a,b)", "cityHash64(a, b)"),
        ("1.0", "1."),
        ("1.50", "1.5"),
        ("0x10", "16"),
        ("1e3", "1000."),
        ("- 1", "-1"),
        ("`user_id`", "user_id"),
        ("f( a ,  b )", "f(a, b)"),
        ("default.t", "t"),
        ("`default`.`t`.c", "t.c"),
        ("'a''b'", "'a\\'b'"),
        ("x -- trailing comment\n + 1", "x + 1"),
        ("{project_id:UUID}", "{ project_id : UUID }"),
    ],
)
def test_canonical_equates(left: str, right: str) -> None:
    assert canonical(left, "default") == canonical(right, "default")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("a + 1", "a + 2"),
        ("'default.t'", "'t'"),  # strings are never rewritten
        ("other.t", "t"),
        ("`from`", "from_"),
        ("a - 1", "a + 1"),
    ],
)
def test_canonical_keeps_real_differences(left: str, right: str) -> None:
    assert canonical(left, "default") != canonical(right, "default")


def test_canonical_is_idempotent_and_keeps_needed_quotes() -> None:
    text = "SELECT `sum(x)`, `from`, a.b FROM default.t WHERE x IN (1,2) AND y = -3"
    once = canonical(text, "default")
    assert canonical(once, "default") == once
    assert "`sum(x)`" in once and "`from`" in once
    assert "FROM t" in once and "IN (1, 2)" in once


def test_qualifier_only_for_the_schema_database() -> None:
    assert (
        canonical("SELECT * FROM corpus.src JOIN other.x ON 1", "corpus")
        == "SELECT * FROM src JOIN other.x ON 1"
    )
    # a column named like the database, behind a table qualifier, stays
    assert canonical("t.corpus.x", "corpus") == "t.corpus.x"


def test_split_top_and_find_top() -> None:
    toks = tokenize("a, f(b, c), (d, e) TTL x")
    assert len(split_top(toks[: find_top(toks, "TTL")])) == 3
    assert find_top(tokenize("f(TTL) TTL"), "TTL") == 4


def test_strip_uuid_clauses() -> None:
    text = "CREATE MATERIALIZED VIEW db.mv UUID '1-2' TO INNER UUID '3-4' (`a` UUID) AS SELECT 1"
    assert "UUID '" not in " ".join(t.text for t in strip_uuid_clauses(tokenize(text)))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("dictGet('d', 'c', tuple(a, b))", "dictGet('d', 'c', (a, b))"),
        ("(u64 * i32)", "u64 * i32"),
        ("(d + toIntervalMonth(1)) WHERE c = 1", "d + toIntervalMonth(1) WHERE c = 1"),
        ("a, (b + 1)", "a, b + 1"),
    ],
)
def test_unwrap_equates(left: str, right: str) -> None:
    assert canonical(left, unwrap=True) == canonical(right, unwrap=True)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("(a, b)", "a, b"),  # a tuple is not a list
        ("tuple(a)", "(a)"),  # a one-element tuple is not a parenthesised operand
        ("(SELECT 1)", "SELECT 1"),  # nor is a subquery
    ],
)
def test_unwrap_keeps(left: str, right: str) -> None:
    assert canonical(left, unwrap=True) != canonical(right, unwrap=True)
