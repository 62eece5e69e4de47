"""Read the parts of a `create_table_query` that no system table exposes on every version.

`system.tables.create_table_query` is the engine's own formatting of the CREATE
statement, so a token scan at bracket depth 0 is enough: column TTL and column
SETTINGS, projections (24.8 has no `system.projections`), constraints, the `TO`
target of a materialized view (24.8 has no `target_table` column), its inner
ENGINE clause, SQL SECURITY, REFRESH and the query after AS. Also splits
`engine_full` into the engine, TTL and SETTINGS clauses. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from chmigrate.schema.objects import Constraint, Pairs, Projection
from chmigrate.schema.tokens import (
    IDENT,
    QIDENT,
    STRING,
    SYMBOL,
    Token,
    depths,
    join,
    matching_paren,
    split_top,
    strip_uuid_clauses,
    tokenize,
    unquote_ident,
)

_ENGINE_CLAUSES = ("PARTITION", "PRIMARY", "ORDER", "SAMPLE", "TTL", "SETTINGS", "COMMENT")


def _kw(tok: Token, *words: str) -> bool:
    """A keyword as the engine prints it: upper case, unquoted (an identifier `ttl` is not `TTL`)."""
    return tok.kind == IDENT and tok.text in words


def _find_kw(tokens: Sequence[Token], *words: str, start: int = 0) -> int:
    levels = depths(tokens)
    for i in range(start, len(tokens)):
        if levels[i] == 0 and _kw(tokens[i], *words):
            return i
    return -1


@dataclass(frozen=True)
class ColumnExtras:
    ttl: str = ""
    settings: Pairs = ()


@dataclass(frozen=True)
class CreateParts:
    kind: str = ""  # "TABLE", "VIEW", "MATERIALIZED VIEW", "DICTIONARY", ...
    columns: tuple[tuple[str, ColumnExtras], ...] = ()
    projections: tuple[Projection, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    target: str = ""  # `TO` table as written by the engine: "db.t"
    engine: str = ""  # the ENGINE clause (for an MV without TO: its inner engine)
    security: str = ""
    refresh: str = ""
    comment: str = ""
    query: str = ""


@dataclass(frozen=True)
class EngineParts:
    name: str
    args: str
    ttl: str
    settings: Pairs


def string_value(tok: Token) -> str:
    """The value of a string literal token."""
    if tok.kind != STRING:
        return tok.text
    return unquote_ident(tok.text) if tok.text.startswith("'") else tok.text


def _text(tokens: Sequence[Token]) -> str:
    return join(tokens)


def parse_settings(tokens: Sequence[Token]) -> Pairs:
    """`a = 1, b = 'x'` -> (("a", "1"), ("b", "'x'"))."""
    pairs: list[tuple[str, str]] = []
    for part in split_top(tokens):
        if len(part) >= 3 and part[1].kind == SYMBOL and part[1].text == "=":
            pairs.append((part[0].name, _text(part[2:])))
        elif part:
            pairs.append((part[0].name, _text(part[1:])))
    return tuple(pairs)


@lru_cache(maxsize=4096)
def split_engine(engine_full: str) -> EngineParts:
    """Split `system.tables.engine_full` (or an ENGINE clause) into name, args, TTL and SETTINGS."""
    tokens = tokenize(engine_full)
    if tokens and tokens[0].is_word("ENGINE"):
        tokens = tokens[2:] if len(tokens) > 1 and tokens[1].text == "=" else tokens[1:]
    if not tokens:
        return EngineParts("", "", "", ())
    name = tokens[0].name
    args = ""
    rest = tokens[1:]
    if rest and rest[0].kind == SYMBOL and rest[0].text == "(":
        end = matching_paren(rest, 0)
        args = _text(rest[1:end])
        rest = rest[end + 1 :]
    clauses = _clauses(rest, _ENGINE_CLAUSES)
    return EngineParts(
        name=name,
        args=args,
        ttl=_text(clauses.get("TTL", [])),
        settings=parse_settings(clauses.get("SETTINGS", [])),
    )


def _clauses(tokens: Sequence[Token], words: Sequence[str]) -> dict[str, list[Token]]:
    """Map each top-level clause keyword to its tokens (keyword and a following BY/KEY dropped)."""
    out: dict[str, list[Token]] = {}
    levels = depths(tokens)
    current: str | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if levels[i] == 0 and _kw(tok, *words):
            current = tok.text
            out[current] = []
            if i + 1 < len(tokens) and _kw(tokens[i + 1], "BY", "KEY"):
                i += 1
            i += 1
            continue
        if current is not None:
            out[current].append(tok)
        i += 1
    return out


def _skip_name(tokens: Sequence[Token], i: int) -> tuple[str, int]:
    """Read a possibly qualified name at `i`; returns its text ("db.t") and the next index."""
    parts: list[str] = []
    while i < len(tokens) and tokens[i].kind in (IDENT, QIDENT):
        parts.append(tokens[i].name)
        if i + 1 < len(tokens) and tokens[i + 1].kind == SYMBOL and tokens[i + 1].text == ".":
            i += 2
            continue
        i += 1
        break
    return ".".join(parts), i


def parse_create(text: str) -> CreateParts:
    """Pick apart a CREATE statement as formatted by the engine."""
    tokens = strip_uuid_clauses(tokenize(text))
    i = 0
    if i < len(tokens) and tokens[i].is_word("CREATE", "ATTACH"):
        i += 1
    while i < len(tokens) and tokens[i].is_word("OR", "REPLACE", "TEMPORARY"):
        i += 1
    kind_words: list[str] = []
    while i < len(tokens) and tokens[i].is_word(
        "TABLE", "VIEW", "MATERIALIZED", "LIVE", "WINDOW", "DICTIONARY"
    ):
        kind_words.append(tokens[i].upper)
        i += 1
    kind = " ".join(kind_words)
    if i + 2 < len(tokens) and tokens[i].is_word("IF"):
        i += 3
    _, i = _skip_name(tokens, i)
    if kind == "DICTIONARY":
        return CreateParts(kind=kind)
    return _parse_rest(kind, tokens, i)


def _parse_rest(kind: str, tokens: list[Token], i: int) -> CreateParts:
    target = engine = security = refresh = comment = query = ""
    columns: tuple[tuple[str, ColumnExtras], ...] = ()
    projections: tuple[Projection, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    stops = ("TO", "ENGINE", "DEFINER", "SQL", "AS", "COMMENT", "EMPTY", "POPULATE", "REFRESH")
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == SYMBOL and tok.text == "(":
            end = matching_paren(tokens, i)
            columns, projections, constraints = _elements(tokens[i + 1 : end])
            i = end + 1
        elif _kw(tok, "REFRESH"):
            j = _next_stop(
                tokens, i + 1, ("TO", "ENGINE", "DEFINER", "SQL", "AS", "COMMENT", "EMPTY"), paren=True
            )
            refresh = _text(tokens[i:j])
            i = j
        elif _kw(tok, "TO"):
            target, i = _skip_name(tokens, i + 1)
        elif _kw(tok, "ENGINE"):
            j = _next_stop(tokens, i + 1, ("DEFINER", "SQL", "AS", "COMMENT", "EMPTY", "POPULATE"))
            engine = _text(
                tokens[i + 2 : j] if i + 1 < len(tokens) and tokens[i + 1].text == "=" else tokens[i + 1 : j]
            )
            i = j
        elif _kw(tok, "DEFINER", "SQL"):
            j = _next_stop(tokens, i + 1, ("AS", "COMMENT", "EMPTY", "POPULATE", "ENGINE", "TO"))
            security = (security + " " + _text(tokens[i:j])).strip()
            i = j
        elif _kw(tok, "COMMENT") and i + 1 < len(tokens) and tokens[i + 1].kind == STRING:
            comment = string_value(tokens[i + 1])
            i += 2
        elif _kw(tok, "AS"):
            body = tokens[i + 1 :]
            if (
                len(body) >= 2
                and body[-2].is_word("COMMENT")
                and body[-1].kind == STRING
                and depths(body)[-2] == 0
            ):
                comment = string_value(body[-1])
                body = body[:-2]
            query = _text(body)
            break
        else:
            i = _next_stop(tokens, i + 1, stops, paren=True)
    return CreateParts(
        kind, columns, projections, constraints, target, engine, security, refresh, comment, query
    )


def _next_stop(tokens: Sequence[Token], start: int, words: Sequence[str], *, paren: bool = False) -> int:
    levels = depths(tokens)
    for j in range(start, len(tokens)):
        if levels[j] != 0:
            continue
        if _kw(tokens[j], *words) or paren and tokens[j].kind == SYMBOL and tokens[j].text == "(":
            return j
    return len(tokens)


def _elements(
    tokens: Sequence[Token],
) -> tuple[tuple[tuple[str, ColumnExtras], ...], tuple[Projection, ...], tuple[Constraint, ...]]:
    columns: list[tuple[str, ColumnExtras]] = []
    projections: list[Projection] = []
    constraints: list[Constraint] = []
    for part in split_top(tokens):
        head = part[0]
        if _kw(head, "INDEX") and len(part) > 1 and part[1].kind in (IDENT, QIDENT):
            continue  # system.data_skipping_indices has them
        if _kw(head, "PROJECTION") and len(part) > 2 and part[2].text == "(":
            end = matching_paren(part, 2)
            projections.append(Projection(part[1].name, _text(part[3:end])))
            continue
        if _kw(head, "CONSTRAINT") and len(part) > 3 and _kw(part[2], "CHECK", "ASSUME"):
            constraints.append(Constraint(part[1].name, part[2].upper, _text(part[3:])))
            continue
        if _kw(head, "PRIMARY") and len(part) > 1 and _kw(part[1], "KEY"):
            continue
        columns.append((head.name, _column_extras(part[1:])))
    return tuple(columns), tuple(projections), tuple(constraints)


def _column_extras(tokens: Sequence[Token]) -> ColumnExtras:
    """TTL and SETTINGS of one column definition (the rest comes from system.columns)."""
    ttl_at = _find_kw(tokens, "TTL")
    settings_at = _find_kw(tokens, "SETTINGS")
    ttl = ""
    if ttl_at >= 0:
        end = _find_kw(tokens, "SETTINGS", "COLLATE", start=ttl_at + 1)
        ttl = _text(tokens[ttl_at + 1 : end if end >= 0 else len(tokens)])
    settings: Pairs = ()
    if settings_at >= 0 and settings_at + 1 < len(tokens) and tokens[settings_at + 1].text == "(":
        end = matching_paren(tokens, settings_at + 1)
        settings = parse_settings(tokens[settings_at + 2 : end])
    return ColumnExtras(ttl=ttl, settings=settings)
