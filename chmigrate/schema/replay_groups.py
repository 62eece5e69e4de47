"""Which migration statements can be replayed apart: independent groups for a parallel replay.

Replaying 1,000 `CREATE TABLE`s costs about 2 ms each in one scratch engine, all of it one CPU. Statements
that touch disjoint objects give the same schema whether they run in one engine or in several, so a long
replay can be spread over a few scratch engines and the inspections joined.

The grouping is conservative: two statements are in one group when one names (as an identifier, a quoted
identifier or inside a string literal, such as a dictionary's `TABLE 'x'` or `dictGet('d', ...)`) an
object that the other creates, alters, drops or renames. A statement of any kind other than DDL on tables,
views and dictionaries (a database, a function, a `SET`, a `USE`, a user...), and a `Merge` engine or
`merge()` table function (which name tables by a pattern), make the whole replay one group. Order within
a group is the files' order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from chmigrate.schema.sources import MigrationLike, statement_targets
from chmigrate.schema.tokens import tokenize, unquote_ident

_OBJECT_WORDS = frozenset({"TABLE", "VIEW", "MATERIALIZED", "DICTIONARY", "LIVE", "WINDOW", "OR", "REPLACE",
                           "IF", "NOT", "EXISTS", "TEMPORARY"})
_VERBS = frozenset({"CREATE", "ALTER", "DROP", "RENAME", "EXCHANGE", "TRUNCATE", "OPTIMIZE", "INSERT"})
_WORD = re.compile(r"[^\s'\"`.,()]+")
_MENTION = re.compile(
    r"([A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)"  # a word
    r"""|(`(?:[^`\\]|\\.|``)*`|"(?:[^"\\]|\\.|"")*")"""  # a quoted name
    r"|('(?:[^'\\]|\\.|'')*')",  # a string
    re.S,
)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Position = tuple[int, int]  # (file index, statement index within the file's `up`), both 0-based


def _kind_ok(sql: str) -> bool:
    """DDL on tables, views or dictionaries (or an insert or optimize): nothing database-wide."""
    head = tokenize(sql, limit=8)
    if not head or head[0].upper not in _VERBS:
        return False
    second = next((t.upper for t in head[1:] if t.upper not in ("OR", "REPLACE", "TEMPORARY")), "")
    if second in ("DATABASE", "DATABASES"):
        return False
    return second in _OBJECT_WORDS if head[0].upper in ("CREATE", "DROP", "ALTER") else True


def _mentions(sql: str) -> set[str] | None:
    """Every name the statement could refer to (words anywhere, comments included, the bodies of quoted
    names and strings, and the words inside those); None when it names objects by a pattern (Merge)."""
    found: set[str] = set()
    for word, quoted, string in _MENTION.findall(sql):
        if word:
            found.add(word)
        elif quoted:
            found.add(unquote_ident(quoted))
            found.update(_WORD.findall(quoted[1:-1]))
        else:
            found.add(string[1:-1])
            found.update(_WORD.findall(string[1:-1]))
    if any(w.upper() == "MERGE" for w in found):
        return None
    return found


def independent_groups(migrations: Sequence[MigrationLike]) -> list[list[Position]] | None:
    """The statements split into groups that touch disjoint objects, each in file order; None when the
    replay must stay in one engine (see the module's docstring)."""
    positions: list[Position] = []
    targets: list[set[str]] = []
    mentions: list[set[str]] = []
    for f, migration in enumerate(migrations):
        for s, statement in enumerate(migration.up):
            if not _kind_ok(statement.sql):
                return None
            _, names = statement_targets(statement.sql)
            if not names:
                return None
            said = _mentions(statement.sql)
            if said is None:
                return None
            positions.append((f, s))
            targets.append({name for _, name in names})
            mentions.append(said)
    objects = set().union(*targets) if targets else set()
    parent: dict[str, str] = {name: name for name in objects}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    keys: list[str] = []
    # A name that is not a plain word is looked for in the raw text as well (a stray quote in a comment
    # must not hide it).
    odd = [name for name in objects if not _PLAIN.fullmatch(name)]
    sqls = [migrations[f].up[s].sql for f, s in positions]
    for own, said, sql in zip(targets, mentions, sqls):
        linked = own | (said & objects) | {name for name in odd if name in sql}
        first, *rest = sorted(linked)
        for other in rest:
            a, b = find(first), find(other)
            if a != b:
                parent[b] = a
        keys.append(first)
    groups: dict[str, list[Position]] = {}
    for key, position in zip(keys, positions):
        groups.setdefault(find(key), []).append(position)
    return list(groups.values())


def spread(groups: list[list[Position]], workers: int) -> list[list[Position]]:
    """The groups dealt to at most `workers` engines, largest first to the least loaded, each engine's
    statements in file order."""
    loads: list[list[Position]] = [[] for _ in range(max(1, min(workers, len(groups))))]
    for group in sorted(groups, key=len, reverse=True):
        min(loads, key=len).extend(group)
    return [sorted(load) for load in loads if load]
