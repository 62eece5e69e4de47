"""A small ClickHouse SQL lexer and the pure-Python text canonicalisation built on it.

Everything here is pure. The lexer knows just enough of ClickHouse's grammar to
split text into identifiers, quoted identifiers, strings, numbers and symbols,
so that callers can find top-level clauses in `create_table_query` text and
canonicalise expressions without touching string literals.

`canonical()` is the fallback normaliser: it removes comments, unifies
whitespace, drops the schema's own database qualifier, rewrites
`INTERVAL n UNIT` to `toIntervalUnit(n)` and spells numeric literals the way
ClickHouse formats them. The engine's `formatQuerySingleLine` does the real
work for expressions whose canonical forms still differ (see normalize.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IDENT, QIDENT, STRING, NUMBER, SYMBOL, COMMENT, SPACE = (
    "ident",
    "qident",
    "string",
    "number",
    "symbol",
    "comment",
    "ws",
)

_PLAIN_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Words after which "(" opens a parenthesised operand rather than a call.
_KEYWORDS = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "IN",
        "AS",
        "FROM",
        "SELECT",
        "WHERE",
        "BY",
        "ON",
        "USING",
        "JOIN",
        "THEN",
        "ELSE",
        "WHEN",
        "CASE",
        "END",
        "IS",
        "LIKE",
        "ILIKE",
        "BETWEEN",
        "INTERVAL",
        "WITH",
        "HAVING",
        "LIMIT",
        "OFFSET",
        "UNION",
        "ALL",
        "DISTINCT",
        "ARRAY",
        "GLOBAL",
        "ANY",
        "PREWHERE",
        "QUALIFY",
        "SETTINGS",
        "FORMAT",
        "TTL",
        "DELETE",
        "TO",
        "VOLUME",
        "DISK",
        "SET",
        "GROUP",
        "ORDER",
        "PARTITION",
        "PRIMARY",
        "KEY",
        "SAMPLE",
        "ENGINE",
        "VALUES",
        "EXCEPT",
        "INTERSECT",
        "OVER",
        "WINDOW",
        "ROWS",
        "RANGE",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
    }
)
# Identifiers that must stay backquoted when they stand alone.
_RESERVED = frozenset({"NULL", "TRUE", "FALSE", "INF", "NAN"}) | _KEYWORDS

_INTERVAL_UNITS = {
    "NANOSECOND": "Nanosecond",
    "MICROSECOND": "Microsecond",
    "MILLISECOND": "Millisecond",
    "SECOND": "Second",
    "MINUTE": "Minute",
    "HOUR": "Hour",
    "DAY": "Day",
    "WEEK": "Week",
    "MONTH": "Month",
    "QUARTER": "Quarter",
    "YEAR": "Year",
}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == IDENT else ""

    def is_word(self, *words: str) -> bool:
        return self.kind == IDENT and self.text.upper() in words

    @property
    def name(self) -> str:
        """The identifier a (quoted) identifier token denotes."""
        if self.kind == QIDENT:
            return unquote_ident(self.text)
        return self.text


def unquote_ident(text: str) -> str:
    quote = text[0]
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
            continue
        if ch == quote and i + 1 < len(body) and body[i + 1] == quote:
            out.append(quote)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# `ident` is [A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]* written as the complements of those classes,
# the same characters (checked over every code point), which compile in 0.5 ms instead of 6 (start-up).
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<comment>--[^\n]*|\#![^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<string>'(?:[^'\\]|\\.|'')*(?:'|\Z))
    |(?P<qident>`(?:[^`\\]|\\.|``)*(?:`|\Z)|"(?:[^"\\]|\\.|"")*(?:"|\Z))
    |(?P<heredoc>\$(?P<tag>[A-Za-z_]*)\$.*?(?:\$(?P=tag)\$|\Z))
    |(?P<number>0[xX][0-9a-fA-F]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<ident>[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f\U00010000-\U0010ffff][^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f\U00010000-\U0010ffff]*)
    |(?P<symbol><=>|->|::|\|\||<=|>=|!=|<>|==|.)
    """,
    re.S | re.X,
)
_KINDS = {
    "ws": SPACE,
    "comment": COMMENT,
    "string": STRING,
    "heredoc": STRING,
    "qident": QIDENT,
    "number": NUMBER,
    "ident": IDENT,
    "symbol": SYMBOL,
}


def tokenize(text: str, *, keep_space: bool = False, limit: int | None = None) -> list[Token]:
    """Split SQL text into tokens; whitespace and comments are dropped unless `keep_space`. With `limit`,
    stop after that many significant tokens (a statement's head, without lexing its body)."""
    tokens: list[Token] = []
    last: Token | None = None  # last significant token
    for m in _TOKEN_RE.finditer(text):
        kind = _KINDS[m.lastgroup or "symbol"] if m.lastgroup != "tag" else STRING
        value = m.group()
        if kind in (SPACE, COMMENT):
            if keep_space:
                tokens.append(Token(kind, value))
            continue
        if kind == NUMBER and value[0] == "." and _ends_operand(last):
            # `t.1`: tuple element access, not the number .1
            tokens.append(Token(SYMBOL, "."))
            value = value[1:]
        last = Token(kind, value)
        tokens.append(last)
        if limit is not None and len(tokens) >= limit and not keep_space:
            break
    return tokens


def _last_significant(tokens: Sequence[Token]) -> Token | None:
    for tok in reversed(tokens):
        if tok.kind not in (SPACE, COMMENT):
            return tok
    return None


def _ends_operand(tok: Token | None) -> bool:
    if tok is None:
        return False
    if tok.kind in (QIDENT, STRING, NUMBER):
        return True
    if tok.kind == IDENT:
        return tok.upper not in _KEYWORDS
    return tok.text in (")", "]")


# -- structure helpers ----------------------------------------------------------------------------


def name_at(tokens: Sequence[Token], i: int, database: str) -> tuple[str, str, int] | None:
    """(database, name, next index) of the possibly qualified object name at tokens[i] (unqualified: in
    `database`); None when no name starts there."""
    if i >= len(tokens) or tokens[i].kind not in (IDENT, QIDENT):
        return None
    first = tokens[i].name
    if i + 2 < len(tokens) and tokens[i + 1].kind == SYMBOL and tokens[i + 1].text == "." \
            and tokens[i + 2].kind in (IDENT, QIDENT):
        return first, tokens[i + 2].name, i + 3
    return database, first, i + 1


def depths(tokens: Sequence[Token]) -> list[int]:
    """Bracket depth before each token (parentheses, brackets and braces)."""
    out: list[int] = []
    depth = 0
    for tok in tokens:
        if tok.kind == SYMBOL and tok.text in (")", "]", "}"):
            depth -= 1
        out.append(depth)
        if tok.kind == SYMBOL and tok.text in ("(", "[", "{"):
            depth += 1
    return out


def split_top(tokens: Sequence[Token], sep: str = ",") -> list[list[Token]]:
    """Split on `sep` at bracket depth 0."""
    parts: list[list[Token]] = [[]]
    for tok, depth in zip(tokens, depths(tokens)):
        if depth == 0 and tok.kind == SYMBOL and tok.text == sep:
            parts.append([])
        else:
            parts[-1].append(tok)
    return [p for p in parts if p] if any(parts) else []


def matching_paren(tokens: Sequence[Token], start: int) -> int:
    """Index of the bracket closing the one at `start`."""
    depth = 0
    for i in range(start, len(tokens)):
        tok = tokens[i]
        if tok.kind == SYMBOL and tok.text in ("(", "[", "{"):
            depth += 1
        elif tok.kind == SYMBOL and tok.text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return i
    return len(tokens) - 1


def find_top(tokens: Sequence[Token], *words: str, start: int = 0) -> int:
    """Index of the first top-level identifier among `words` (upper case) at or after `start`, or -1."""
    levels = depths(tokens)
    for i in range(start, len(tokens)):
        if levels[i] == 0 and tokens[i].is_word(*words):
            return i
    return -1


# -- canonical text ---------------------------------------------------------------------------------


def strip_qualifier(tokens: Sequence[Token], database: str) -> list[Token]:
    """Drop `database.` in front of a name (`db.t` -> `t`, `db.t.c` -> `t.c`); strings are untouched."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if (
            tok.kind in (IDENT, QIDENT)
            and tok.name == database
            and i + 2 < len(tokens)
            and tokens[i + 1].kind == SYMBOL
            and tokens[i + 1].text == "."
            and tokens[i + 2].kind in (IDENT, QIDENT)
            and not (out and out[-1].kind == SYMBOL and out[-1].text == ".")
        ):
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def _interval(tokens: list[Token]) -> list[Token]:
    """`INTERVAL 13 MONTH` / `INTERVAL '13 month'` -> `toIntervalMonth(13)` (simple literals only)."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.is_word("INTERVAL") and i + 1 < len(tokens):
            nxt = tokens[i + 1]
            if (
                nxt.kind == NUMBER
                and i + 2 < len(tokens)
                and tokens[i + 2].upper.rstrip("S") in _INTERVAL_UNITS
            ):
                unit = _INTERVAL_UNITS[tokens[i + 2].upper.rstrip("S")]
                out += [Token(IDENT, "toInterval" + unit), Token(SYMBOL, "("), nxt, Token(SYMBOL, ")")]
                i += 3
                continue
            if nxt.kind == STRING:
                m = re.fullmatch(r"'\s*(\d+)\s+([A-Za-z]+?)s?\s*'", nxt.text)
                if m and m.group(2).upper() in _INTERVAL_UNITS:
                    unit = _INTERVAL_UNITS[m.group(2).upper()]
                    out += [
                        Token(IDENT, "toInterval" + unit),
                        Token(SYMBOL, "("),
                        Token(NUMBER, m.group(1)),
                        Token(SYMBOL, ")"),
                    ]
                    i += 2
                    continue
        out.append(tok)
        i += 1
    return out


def _number(text: str) -> str:
    """Spell a numeric literal the way ClickHouse formats it (`1.0` -> `1.`, `0x10` -> `16`)."""
    low = text.lower()
    try:
        if low.startswith("0x"):
            return str(int(low, 16))
        if low.startswith("0b"):
            return str(int(low, 2))
        if "." in low or "e" in low:
            value = float(low)
            if value.is_integer() and abs(value) < 1e15:
                return f"{int(value)}."
            return repr(value)
        return str(int(low))
    except ValueError:
        return text


def _ident(tok: Token) -> Token:
    """Unquote a quoted identifier that does not need quotes."""
    if tok.kind == QIDENT:
        name = tok.name
        if _PLAIN_IDENT.match(name) and name.upper() not in _RESERVED:
            return Token(IDENT, name)
        return Token(QIDENT, quote_name(name))
    return tok


def quote_name(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def ident_sql(name: str) -> str:
    """An identifier as SQL: bare when safe, backquoted otherwise."""
    if _PLAIN_IDENT.match(name) and name.upper() not in _RESERVED:
        return name
    return quote_name(name)


def _string(text: str) -> str:
    """Re-spell a string literal with backslash escapes only (`'a''b'` -> `'a\\'b'`)."""
    if not text.startswith("'") or "''" not in text[1:-1]:
        return text
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(body[i : i + 2])
            i += 2
            continue
        if ch == "'" and i + 1 < len(body) and body[i + 1] == "'":
            out.append("\\'")
            i += 2
            continue
        out.append(ch)
        i += 1
    return "'" + "".join(out) + "'"


def join(tokens: Iterable[Token]) -> str:
    """Join tokens with one canonical spacing (deterministic, close to ClickHouse's own format)."""
    parts: list[str] = []
    prev: Token | None = None
    brace = 0
    for tok in tokens:
        text = tok.text
        if prev is not None and _space_between(prev, tok, brace):
            parts.append(" ")
        if tok.kind == SYMBOL and text == "{":
            brace += 1
        elif tok.kind == SYMBOL and text == "}":
            brace = max(0, brace - 1)
        parts.append(text)
        prev = tok
    return "".join(parts)


def _space_between(a: Token, b: Token, brace: int) -> bool:
    if brace > 0 and not (a.kind == SYMBOL and a.text == "," or b.kind == SYMBOL and b.text == "}"):
        return False
    if b.kind == SYMBOL and b.text in (",", ")", "]", "}", "."):
        return False
    if a.kind == SYMBOL and a.text in ("(", "[", "{", ".", "::"):
        return False
    if b.kind == SYMBOL and b.text == "::":
        return False
    if b.kind == SYMBOL and b.text == "(":
        if a.kind == IDENT:
            return a.upper in _KEYWORDS
        return not (a.kind == QIDENT or a.kind == SYMBOL and a.text in (")", "]"))
    if b.kind == SYMBOL and b.text == "[":
        return not (
            a.kind in (IDENT, QIDENT)
            and a.upper not in _KEYWORDS
            or a.kind == SYMBOL
            and a.text in (")", "]")
        )
    return True


def _unary_minus(tokens: list[Token]) -> list[Token]:
    """Fold `- 1` into `-1` where the minus is unary, as the formatter prints literals."""
    out: list[Token] = []
    for tok in tokens:
        prev = out[-1] if out else None
        before = out[-2] if len(out) > 1 else None
        if (
            tok.kind == NUMBER
            and prev is not None
            and prev.kind == SYMBOL
            and prev.text == "-"
            and not _ends_operand(before)
        ):
            out[-1] = Token(NUMBER, "-" + tok.text)
            continue
        out.append(tok)
    return out


def _tuple_calls(tokens: list[Token]) -> list[Token]:
    """`tuple(a, b)` -> `(a, b)` (26.x prints the former where 24.8 prints the latter)."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if (
            tok.kind == IDENT
            and tok.text == "tuple"
            and i + 1 < len(tokens)
            and tokens[i + 1].text == "("
            and not (out and out[-1].kind == SYMBOL and out[-1].text == ".")
        ):
            end = matching_paren(tokens, i + 1)
            if len(split_top(tokens[i + 2 : end])) >= 2:
                i += 1  # drop the name, keep the parenthesised list
                continue
        out.append(tok)
        i += 1
    return out


_SEGMENT_WORDS = ("WHERE", "DELETE", "TO", "GROUP", "RECOMPRESS", "SET")


def _unwrap(tokens: list[Token]) -> list[Token]:
    """Drop parentheses around a whole operand: `(a * b)` -> `a * b`, never a tuple or a subquery."""
    while (
        len(tokens) >= 2
        and tokens[0].kind == SYMBOL
        and tokens[0].text == "("
        and matching_paren(tokens, 0) == len(tokens) - 1
        and len(split_top(tokens[1:-1])) == 1
        and not tokens[1].is_word("SELECT", "WITH")
    ):
        tokens = tokens[1:-1]
    return tokens


def unwrap_elements(tokens: list[Token]) -> list[Token]:
    """Unwrap each top-level list element, and the expression before a TTL clause word."""
    parts = split_top(tokens)
    if not parts:
        return tokens
    out: list[Token] = []
    for n, part in enumerate(parts):
        if n:
            out.append(Token(SYMBOL, ","))
        cut = find_top(part, *_SEGMENT_WORDS)
        head, tail = (part, []) if cut <= 0 else (part[:cut], part[cut:])
        out += _unwrap(head) + tail
    return out


def canonical_tokens(text: str, database: str | None = None) -> list[Token]:
    tokens = tokenize(text)
    if database:
        tokens = strip_qualifier(tokens, database)
    tokens = _tuple_calls(_interval(tokens))
    tokens = [
        Token(NUMBER, _number(t.text))
        if t.kind == NUMBER
        else Token(STRING, _string(t.text))
        if t.kind == STRING
        else _ident(t)
        for t in tokens
    ]
    return _unary_minus(tokens)


def canonical(text: str, database: str | None = None, *, unwrap: bool = False) -> str:
    """The pure-Python canonical spelling of an expression, query or clause.

    `unwrap` (for expressions, key lists and TTL clauses, not queries) also drops parentheses
    around a whole list element, which some versions print and others do not.
    """
    if not text:
        return ""
    tokens = canonical_tokens(text, database)
    return join(unwrap_elements(tokens) if unwrap else tokens)


def strip_uuid_clauses(tokens: Sequence[Token]) -> list[Token]:
    """Remove `UUID '...'` (and `TO INNER UUID '...'`) from CREATE text tokens."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if (
            tok.is_word("UUID")
            and i + 1 < len(tokens)
            and tokens[i + 1].kind == STRING
            and (not out or not (out[-1].kind == SYMBOL and out[-1].text in ("(", ",")))
        ):
            if len(out) >= 2 and out[-1].is_word("INNER") and out[-2].is_word("TO"):
                del out[-2:]
            i += 2
            continue
        out.append(tok)
        i += 1
    return out
