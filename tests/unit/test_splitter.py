"""The statement splitter: a `;` inside quotes, backticks or comments never splits, and
splitting never loses, duplicates or reorders text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chmigrate.migrations.splitter import SplitError, split_segments, split_statements

plain_chars = st.characters(blacklist_characters="'\"`;-/#$\\*\n", blacklist_categories=("Cs",))
plain = st.text(plain_chars, min_size=1, max_size=12).filter(lambda s: s.strip())
inner = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def single_quoted(draw: st.DrawFn) -> str:
    body = draw(inner).replace("\\", "\\\\").replace("'", draw(st.sampled_from(["''", "\\'"])))
    return f"'{body}'"


@st.composite
def backquoted(draw: st.DrawFn) -> str:
    return "`" + draw(inner).replace("\\", "\\\\").replace("`", "``") + "`"


@st.composite
def double_quoted(draw: st.DrawFn) -> str:
    return '"' + draw(inner).replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def line_comment(draw: st.DrawFn) -> str:
    return "-- " + draw(inner).replace("\n", " ").replace("\r", " ") + "\n"


@st.composite
def block_comment(draw: st.DrawFn) -> str:
    return "/* " + draw(inner).replace("*/", "* /").replace("/*", "/ *") + " */"


@st.composite
def heredoc(draw: st.DrawFn) -> str:
    return "$$" + draw(inner).replace("$$", "$ $") + "$$"


piece = st.one_of(plain, single_quoted(), backquoted(), double_quoted(), line_comment(), block_comment(),
                  heredoc(), st.sampled_from([" ", "\n", "(", ")", ",", "\t"]))
# Pieces are separated by a space, as tokens are in real SQL (`a$$` would be one identifier).
statement = st.lists(piece, min_size=1, max_size=8).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(statement, min_size=1, max_size=6))
def test_split_then_join_is_identity_and_never_splits_inside_literals(stmts: list[str]) -> None:
    text = ";".join(stmts)
    segments = split_segments(text)
    assert ";".join(s.text for s in segments) == text
    assert [s.text for s in segments] == stmts


@settings(max_examples=200, deadline=None)
@given(st.lists(statement, min_size=1, max_size=6))
def test_segments_cover_text_in_order_without_overlap(stmts: list[str]) -> None:
    text = ";\n".join(stmts) + ";"
    segments = split_segments(text)
    pos = 0
    for seg in segments:
        assert seg.start == pos
        assert text[seg.start:seg.end] == seg.text
        pos = seg.end + 1
    assert pos == len(text) + 1


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'a;b'",
        "SELECT 'it''s; fine'",
        "SELECT 'back\\'; slash'",
        "SELECT `we;ird`",
        'SELECT "we;ird"',
        "SELECT 1 -- trailing; comment\n",
        "SELECT 1 # hash; comment\n",
        "SELECT /* a; /* nested; */ still; */ 1",
        "SELECT $$here;doc$$",
        "SELECT $tag$x;y$tag$",
    ],
)
def test_semicolon_inside_literals_and_comments_does_not_split(sql: str) -> None:
    stmts = split_statements(sql + ";\nSELECT 2;")
    assert len(stmts) == 2
    assert stmts[0].sql == sql.strip()
    assert stmts[1].sql == "SELECT 2"


def test_comment_only_pieces_are_not_statements_and_lines_point_at_code() -> None:
    text = "-- header\n\nCREATE TABLE a (x Int8) ENGINE = Memory;\n-- between\n\n/* c */ DROP TABLE a;\n-- end\n"
    stmts = split_statements(text)
    assert [s.index for s in stmts] == [1, 2]
    assert [s.line for s in stmts] == [3, 6]


@pytest.mark.parametrize("sql,line", [("SELECT 1;\nSELECT 'open", 2), ("SELECT 1; /* never\nclosed", 1),
                                      ("\n\nSELECT `x", 3), ("SELECT $$a", 1)])
def test_unterminated_literal_reports_its_line(sql: str, line: int) -> None:
    with pytest.raises(SplitError) as err:
        split_statements(sql)
    assert err.value.line == line


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
dollar_piece = st.one_of(
    names.map(lambda n: f"$${{{n}}}"),  # the escape of a literal ${NAME}
    st.just("$"), st.just("x$y"), st.just("$ $"),
    names.map(lambda n: f"'$${{{n}}}'"),  # the escape inside a literal
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(piece, dollar_piece), min_size=1, max_size=8).map(" ".join).filter(
    lambda s: s.strip()), min_size=1, max_size=6))
def test_escaped_references_and_lone_dollars_never_start_a_heredoc(stmts: list[str]) -> None:
    text = ";\n".join(stmts)
    assert [s.text.strip() for s in split_segments(text)] == [s.strip() for s in stmts]


def test_escaped_reference_is_a_literal_reference_anywhere_and_splits_nowhere() -> None:
    from chmigrate.migrations.variables import substitute

    text = "SELECT 1 AS x COMMENT '$${A}';\nSELECT $${B} FROM t;\nSELECT $$a;b$$"
    stmts = split_statements(text)
    assert len(stmts) == 3
    assert [substitute(s.sql, {}) for s in stmts] == ["SELECT 1 AS x COMMENT '${A}'", "SELECT ${B} FROM t",
                                                      "SELECT $$a;b$$"]
