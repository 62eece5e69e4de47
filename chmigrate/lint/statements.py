"""Statements as lint reads them: significant tokens with the file line of each, and the parts of CREATE
TABLE and ALTER TABLE the rules look at. Pure functions over the lexer (chmigrate.schema.tokens), so a
keyword inside a string literal or a comment is never mistaken for one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chmigrate.schema.tokens import (
    COMMENT,
    IDENT,
    QIDENT,
    SPACE,
    STRING,
    SYMBOL,
    Token,
    depths,
    join,
    matching_paren,
    name_at,
    split_top,
    tokenize,
)

# Words that end a column's type in its definition.
_TYPE_END = ("DEFAULT", "MATERIALIZED", "ALIAS", "EPHEMERAL", "CODEC", "TTL", "COMMENT", "NULL", "NOT",
             "SETTINGS", "STATISTICS", "PRIMARY", "AFTER", "FIRST", "COLLATE")
_TABLE_CLAUSES = ("ENGINE", "PARTITION", "PRIMARY", "ORDER", "SAMPLE", "TTL", "SETTINGS", "COMMENT", "AS",
                  "EMPTY")


@dataclass(frozen=True)
class Stmt:
    index: int
    line: int  # the statement's first line
    sql: str
    tokens: tuple[Token, ...]  # significant tokens only
    lines: tuple[int, ...]  # file line of each token
    comments: tuple[tuple[str, int], ...] = ()  # (comment text, line) inside the statement's text

    @property
    def verb(self) -> str:
        return self.tokens[0].upper if self.tokens else ""

    def line_at(self, i: int) -> int:
        return self.lines[i] if 0 <= i < len(self.lines) else self.line


def read(index: int, line: int, sql: str) -> Stmt:
    """Tokenise `sql` (a statement as the splitter gives it: with the comments before it) whose first code
    token is on `line`."""
    tokens: list[Token] = []
    lines: list[int] = []
    comments: list[tuple[str, int]] = []
    everything = tokenize(sql, keep_space=True)
    before = 0
    for tok in everything:
        if tok.kind not in (SPACE, COMMENT):
            break
        before += tok.text.count("\n")
    current = line - before
    for tok in everything:
        if tok.kind == COMMENT:
            comments.append((tok.text, current))
        elif tok.kind != SPACE:
            tokens.append(tok)
            lines.append(current)
        current += tok.text.count("\n")
    return Stmt(index, line, sql, tuple(tokens), tuple(lines), tuple(comments))


def at_word(tokens: Sequence[Token], i: int, *words: str) -> bool:
    return all(i + k < len(tokens) and tokens[i + k].is_word(w) for k, w in enumerate(words))


def find_seq(tokens: Sequence[Token], *words: str, start: int = 0) -> int:
    """Index of the first top-level run of `words`, or -1."""
    levels = depths(tokens)
    for i in range(start, len(tokens)):
        if levels[i] == 0 and at_word(tokens, i, *words):
            return i
    return -1


def skip_if(tokens: Sequence[Token], i: int) -> int:
    """Past `IF EXISTS` / `IF NOT EXISTS` at i."""
    if at_word(tokens, i, "IF", "NOT", "EXISTS"):
        return i + 3
    if at_word(tokens, i, "IF", "EXISTS"):
        return i + 2
    return i


def on_cluster(tokens: Sequence[Token]) -> int:
    """Index of a top-level `ON CLUSTER` in the statement's head (before any parenthesis), or -1."""
    for i in range(min(len(tokens), 16)):
        if tokens[i].kind == SYMBOL and tokens[i].text == "(":
            return -1
        if at_word(tokens, i, "ON", "CLUSTER"):
            return i
    return -1


def after_cluster(tokens: Sequence[Token], i: int) -> int:
    if at_word(tokens, i, "ON", "CLUSTER"):
        return i + 3
    return i


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: str  # canonical text of the type, "" when not given
    type_tokens: tuple[Token, ...]
    ttl: tuple[Token, ...]
    settings: tuple[Token, ...]
    at: int  # token index of the column name in the statement


@dataclass(frozen=True)
class IndexDef:
    name: str
    type: str  # the index type's name: "bloom_filter", "text", ...
    at: int


@dataclass
class TableDef:
    """A CREATE TABLE as written."""

    database: str
    name: str
    columns: list[ColumnDef] = field(default_factory=list)
    indices: list[IndexDef] = field(default_factory=list)
    engine: str = ""
    engine_args: tuple[Token, ...] = ()
    engine_at: int = -1
    clauses: dict[str, tuple[int, tuple[Token, ...]]] = field(default_factory=dict)  # word -> (at, tokens)


def column_def(part: Sequence[Token], offset: int) -> ColumnDef:
    """One column definition (`name Type DEFAULT ... TTL ... SETTINGS (...)`); `offset` is where `part`
    starts in the statement."""
    if not part:
        return ColumnDef("", "", (), (), (), offset)
    name = part[0].name
    levels = depths(part)
    end = len(part)
    for j in range(1, len(part)):
        if levels[j] == 0 and part[j].kind == IDENT and part[j].upper in _TYPE_END:
            end = j
            break
    type_tokens = tuple(part[1:end])
    ttl: tuple[Token, ...] = ()
    settings: tuple[Token, ...] = ()
    for j in range(end, len(part)):
        if levels[j] != 0:
            continue
        if part[j].is_word("TTL"):
            stop = next((k for k in range(j + 1, len(part)) if levels[k] == 0 and part[k].is_word(
                "SETTINGS", "COMMENT", "CODEC", "COLLATE")), len(part))
            ttl = tuple(part[j + 1:stop])
        if part[j].is_word("SETTINGS") and j + 1 < len(part) and part[j + 1].text == "(":
            settings = tuple(part[j + 2:matching_paren(part, j + 1)])
    return ColumnDef(name, join(type_tokens), type_tokens, ttl, settings, offset)


def index_def(part: Sequence[Token], offset: int) -> IndexDef:
    """`INDEX name expr TYPE t(args) GRANULARITY n` (part starts at INDEX, or at the name for ADD INDEX)."""
    i = 1 if part and part[0].is_word("INDEX") else 0
    i = skip_if(part, i)
    name = part[i].name if i < len(part) else ""
    levels = depths(part)
    kind = ""
    for j in range(i + 1, len(part) - 1):
        if levels[j] == 0 and part[j].is_word("TYPE"):
            kind = part[j + 1].text
            break
    return IndexDef(name, kind, offset)


def _offsets(tokens: Sequence[Token], parts: Sequence[Sequence[Token]], start: int) -> list[int]:
    """Where each top-level part of tokens[start:] begins."""
    out: list[int] = []
    i = start
    for part in parts:
        while i < len(tokens) and tokens[i] is not part[0]:
            i += 1
        out.append(i)
        i += len(part)
    return out


def create_table(st: Stmt, database: str) -> TableDef | None:
    """The parts of a `CREATE [OR REPLACE] TABLE` statement; None for anything else."""
    t = st.tokens
    if st.verb not in ("CREATE", "REPLACE", "ATTACH"):
        return None
    i = 1
    while i < len(t) and t[i].is_word("OR", "REPLACE", "TEMPORARY"):
        i += 1
    if not (i < len(t) and t[i].is_word("TABLE")):
        return None
    found = name_at(t, skip_if(t, i + 1), database)
    if found is None:
        return None
    db, name, i = found
    table = TableDef(db, name)
    i = after_cluster(t, i)
    while i < len(t) and t[i].is_word("UUID"):
        i += 2
    if i < len(t) and t[i].text == "(":
        end = matching_paren(t, i)
        parts = split_top(t[i + 1:end])
        for part, at in zip(parts, _offsets(t, parts, i + 1)):
            if part[0].is_word("INDEX"):
                table.indices.append(index_def(part, at))
            elif part[0].is_word("PROJECTION", "CONSTRAINT") or at_word(part, 0, "PRIMARY", "KEY"):
                continue
            elif part[0].kind in (IDENT, QIDENT):
                table.columns.append(column_def(part, at))
        i = end + 1
    _table_clauses(t, i, table)
    return table


def _table_clauses(t: Sequence[Token], i: int, table: TableDef) -> None:
    levels = depths(t)
    current: str | None = None
    start = i
    for j in range(i, len(t) + 1):
        word = t[j].upper if j < len(t) and levels[j] == 0 else ""
        if j == len(t) or (word in _TABLE_CLAUSES and t[j].kind == IDENT):
            if current is not None:
                body = tuple(t[start:j])
                if body and body[0].is_word("BY", "KEY"):
                    body = body[1:]
                if current == "ENGINE":
                    if body and body[0].text == "=":
                        body = body[1:]
                    if body:
                        table.engine = body[0].text
                        if len(body) > 1 and body[1].text == "(":
                            table.engine_args = tuple(body[2:matching_paren(body, 1)])
                else:
                    table.clauses[current] = (start - 1, body)
            if j == len(t) or word == "AS":
                if word == "AS":
                    return
                break
            current, start = word, j + 1
            if current == "ENGINE":
                table.engine_at = j


@dataclass(frozen=True)
class Alter:
    database: str
    name: str
    commands: tuple[tuple[int, tuple[Token, ...]], ...]  # (token index, tokens) of each command


def alter_table(st: Stmt, database: str) -> Alter | None:
    t = st.tokens
    if not (st.verb == "ALTER" and len(t) > 2 and t[1].is_word("TABLE")):
        return None
    found = name_at(t, skip_if(t, 2), database)
    if found is None:
        return None
    db, name, i = found
    i = after_cluster(t, i)
    parts = split_top(t[i:])
    return Alter(db, name, tuple(zip(_offsets(t, parts, i), (tuple(p) for p in parts))))


def key_elements(tokens: Sequence[Token]) -> list[str]:
    """The elements of a sorting key as canonical text: `(a, b)` and `tuple(a, b)` -> ["a", "b"];
    `tuple()` -> []."""
    toks = list(tokens)
    if toks and toks[0].is_word("TUPLE") and len(toks) > 1 and toks[1].text == "(":
        toks = toks[1:]
    if toks and toks[0].text == "(" and matching_paren(toks, 0) == len(toks) - 1:
        toks = toks[1:-1]
    return [join(p) for p in split_top(toks)]


def setting_names(tokens: Sequence[Token]) -> list[tuple[str, int]]:
    """(name, offset in tokens) of each `name = value` of a settings list."""
    out: list[tuple[str, int]] = []
    i = 0
    for part in split_top(tokens):
        if part and part[0].kind in (IDENT, QIDENT):
            while i < len(tokens) and tokens[i] is not part[0]:
                i += 1
            out.append((part[0].name, i))
    return out


def string_value(tok: Token) -> str:
    return tok.text[1:-1] if tok.kind == STRING and tok.text.startswith("'") else tok.text
