"""Where two SQL texts differ, token by token, for a reader: the differing tokens with a little context.

`differences("... CAST(count(), 'Int64') AS n", "... toInt64(count()) AS n")` gives one `Hunk` whose
`expected` is `CAST(count(), 'Int64')` and `found` is `toInt64(count())`, with the shared tokens just
before and after it as context. A hunk is widened until both sides are whole bracketed groups (a call
keeps its argument list), so it reads as two expressions rather than two arbitrary cuts. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from chmigrate.schema.tokens import IDENT, QIDENT, SYMBOL, Token, join, tokenize

CONTEXT = 3  # shared tokens shown on each side of a hunk


@dataclass(frozen=True)
class Hunk:
    before: str  # shared context before (empty at the start of the text)
    expected: str
    found: str
    after: str  # shared context after (empty at the end)
    cut_before: bool  # context does not reach the start of the text
    cut_after: bool


def _balance(tokens: list[Token]) -> tuple[int, int]:
    """(unmatched closers, unmatched openers) of a token span."""
    depth = closers = 0
    for t in tokens:
        if t.kind == SYMBOL and t.text in ("(", "[", "{"):
            depth += 1
        elif t.kind == SYMBOL and t.text in (")", "]", "}"):
            if depth:
                depth -= 1
            else:
                closers += 1
    return closers, depth


def differences(expected: str, found: str, *, context: int = CONTEXT) -> list[Hunk]:
    """The places where `found` differs from `expected`, in order (empty when their tokens are equal)."""
    a, b = tokenize(expected), tokenize(found)
    matcher = SequenceMatcher(None, [t.text for t in a], [t.text for t in b], autojunk=False)
    spans = [[i1, i2, j1, j2] for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"]
    merged: list[list[int]] = []
    for span in spans:
        if merged and span[0] - merged[-1][1] == 0:
            merged[-1][1:4:2] = [span[1], span[3]]
            continue
        merged.append(span)
    out: list[list[int]] = []
    k = 0
    while k < len(merged):
        i1, i2, j1, j2 = merged[k]
        k += 1
        while True:
            ca, oa = _balance(a[i1:i2])
            cb, ob = _balance(b[j1:j2])
            call = (i2 < len(a) and a[i2].kind == SYMBOL and a[i2].text == "(" and i2 > i1
                    and a[i2 - 1].kind in (IDENT, QIDENT))
            call = call or (j2 < len(b) and b[j2].kind == SYMBOL and b[j2].text == "(" and j2 > j1
                            and b[j2 - 1].kind in (IDENT, QIDENT))
            if (ca or cb) and i1 > 0 and j1 > 0 and not (out and i1 <= out[-1][1]):
                i1, j1 = i1 - 1, j1 - 1  # the shared token before belongs to the group
            elif (oa or ob or call) and i2 < len(a) and j2 < len(b):
                if k < len(merged) and merged[k][0] == i2:
                    i2, j2 = merged[k][1], merged[k][3]  # the next hunk is inside the group: absorb it
                    k += 1
                else:
                    i2, j2 = i2 + 1, j2 + 1
            else:
                break
        if out and i1 <= out[-1][1]:
            out[-1][1:4:2] = [max(out[-1][1], i2), max(out[-1][3], j2)]
        else:
            out.append([i1, i2, j1, j2])
    hunks = []
    for i1, i2, j1, j2 in out:
        start = max(0, i1 - context)
        end = min(len(a), i2 + context)
        hunks.append(Hunk(join(a[start:i1]), join(a[i1:i2]), join(b[j1:j2]), join(a[i2:end]), start > 0,
                          end < len(a)))
    return hunks


def hunk_text(h: Hunk) -> str:
    """`…sum(x) AS t, `CAST(count(), 'Int64')` vs `toInt64(count())` AS request_count…` on one line."""
    before = ("…" if h.cut_before else "") + h.before
    after = h.after + ("…" if h.cut_after else "")
    expected = f"`{h.expected}`" if h.expected else "(nothing)"
    found = f"`{h.found}`" if h.found else "(nothing)"
    return " ".join(p for p in (before, f"{expected} vs {found}", after) if p)
