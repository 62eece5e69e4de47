"""Split ClickHouse SQL text into statements with a small lexer.

The lexer knows everything that can hide a `;`: single-quoted strings (with
backslash escapes and doubled quotes), double-quoted and backquoted
identifiers, `--` and `#` line comments, nested `/* */` comments and
`$tag$ ... $tag$` heredocs. A `;` inside any of them never splits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEREDOC = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
# `$${NAME}`, the documented escape of a literal `${NAME}` (see variables.py): plain text, never a heredoc.
_ESCAPED_REF = re.compile(r"\$\$\{[A-Za-z_][A-Za-z0-9_]*\}")


class SplitError(ValueError):
    """Unterminated literal or comment; carries the 1-based line where it starts."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Segment:
    """A piece of the text between two top-level `;` (the `;` itself excluded)."""

    start: int
    end: int
    text: str
    line: int  # line of the first character of the statement's first token (or of the segment)

    @property
    def is_blank(self) -> bool:
        return not strip_comments(self.text).strip()


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


_QUOTE_STOPS = {q: re.compile(r"[\\" + q + "]") for q in "'\"`"}


def _skip_quoted(text: str, i: int, quote: str) -> int:
    """Return the index just past the closing quote of the literal opening at i."""
    n = len(text)
    stop = _QUOTE_STOPS[quote]
    j = i + 1
    while (m := stop.search(text, j)) is not None:
        j = m.start()
        if text[j] == "\\":
            j += 2
            continue
        if j + 1 < n and text[j + 1] == quote:  # doubled quote escapes itself
            j += 2
            continue
        return j + 1
    kind = {"'": "string literal", '"': "quoted identifier", "`": "quoted identifier"}[quote]
    raise SplitError(f"unterminated {kind}", _line_of(text, i))


def _skip_block_comment(text: str, i: int) -> int:
    depth = 0
    n = len(text)
    j = i
    while j < n:
        if text.startswith("/*", j):
            depth += 1
            j += 2
        elif text.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    raise SplitError("unterminated /* comment", _line_of(text, i))


def _is_line_comment(text: str, i: int) -> bool:
    if text.startswith("--", i):
        return True
    # ClickHouse treats `#` followed by a space or `!` as a line comment.
    return text[i] == "#" and (i + 1 >= len(text) or text[i + 1] in " \t!\n\r")


# Where plain code may end: a quote, a comment opener, `$` (a heredoc) or `;`. Plain code between them is
# skipped in one regex search instead of character by character.
_STOP = re.compile(r"['\"`;$#]|/\*|--")


def _in_word(text: str, i: int) -> bool:
    """Whether the `$` at i continues a word (identifiers may contain `$` after their first character)."""
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def scan(text: str) -> list[tuple[int, int, str]]:
    """Tokenise coarsely: (start, end, kind) for every quoted literal, comment, heredoc and `;`.

    kind is one of: string, ident, comment, heredoc, semicolon. Everything else is plain code.
    """
    out: list[tuple[int, int, str]] = []
    n = len(text)
    i = 0
    while (m := _STOP.search(text, i)) is not None:
        i = m.start()
        c = text[i]
        if c in "'\"`":
            j = _skip_quoted(text, i, c)
            out.append((i, j, "string" if c == "'" else "ident"))
            i = j
        elif c == "/":
            j = _skip_block_comment(text, i)
            out.append((i, j, "comment"))
            i = j
        elif c == "-" or (c == "#" and _is_line_comment(text, i)):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append((i, j, "comment"))
            i = j
        elif c == "#":
            i += 1
        elif c == "$" and _in_word(text, i):
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            i = j
        elif c == "$" and (ref := _ESCAPED_REF.match(text, i)):
            i = ref.end()
        elif c == "$":
            h = _HEREDOC.match(text, i)
            if h:
                close = text.find(h.group(0), h.end())
                if close < 0:
                    raise SplitError("unterminated heredoc " + h.group(0), _line_of(text, i))
                j = close + len(h.group(0))
                out.append((i, j, "heredoc"))
                i = j
            else:
                i += 1
        else:  # ";"
            out.append((i, i + 1, "semicolon"))
            i += 1
    return out


def split_segments(text: str) -> list[Segment]:
    """Split at top-level semicolons. Joining the segments' text with ';' gives back `text` exactly."""
    segments: list[Segment] = []
    start = 0
    for s, e, kind in scan(text):
        if kind == "semicolon":
            segments.append(_segment(text, start, s))
            start = e
    segments.append(_segment(text, start, len(text)))
    return segments


def _segment(text: str, start: int, end: int) -> Segment:
    body = text[start:end]
    first = _first_code_pos(body)  # the line reported is that of the statement's first code character
    line = _line_of(text, start + (first or 0))
    return Segment(start=start, end=end, text=body, line=line)


def _first_code_pos(body: str) -> int | None:
    comments = [(s, e) for s, e, k in scan_safe(body) if k == "comment"]
    i = 0
    n = len(body)
    ci = 0
    while i < n:
        if ci < len(comments) and comments[ci][0] == i:
            i = comments[ci][1]
            ci += 1
            continue
        if not body[i].isspace():
            return i
        i += 1
    return None


def scan_safe(text: str) -> list[tuple[int, int, str]]:
    try:
        return scan(text)
    except SplitError:
        return []


def strip_comments(text: str) -> str:
    """Remove comments (keeping literals intact); comments become a single space."""
    pieces: list[str] = []
    pos = 0
    for s, e, kind in scan(text):
        if kind == "comment":
            pieces.append(text[pos:s])
            pieces.append(" ")
            pos = e
    pieces.append(text[pos:])
    return "".join(pieces)


@dataclass(frozen=True)
class RawStatement:
    index: int  # 1-based among the non-blank statements
    line: int
    sql: str  # the statement text, trimmed, without the terminating ';'


def split_statements(text: str, first_line: int = 1) -> list[RawStatement]:
    """Return the non-blank statements of `text` (comments-only pieces are dropped)."""
    out: list[RawStatement] = []
    for seg in split_segments(text):
        if seg.is_blank:
            continue
        out.append(RawStatement(index=len(out) + 1, line=seg.line + first_line - 1, sql=seg.text.strip()))
    return out


def top_level_commas(text: str) -> list[str]:
    """Split text at commas outside parentheses, brackets, literals and comments."""
    spans = {s: e for s, e, _ in scan(text) if True}
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    n = len(text)
    while i < n:
        if i in spans:
            i = spans[i]
            continue
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts
