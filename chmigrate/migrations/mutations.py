"""Statements that create mutations, and what became of them.

Migration statements are sent with `mutations_sync = 2`, so an `ALTER ... UPDATE/DELETE`, a type-changing
`MODIFY COLUMN` or a `DROP COLUMN` returns only when its mutation has run on every part (or failed). A
failed mutation stays in `system.mutations` and the server retries it for ever, blocking later mutations
of the table: chmigrate reads its `latest_fail_reason`, kills it, and fails the statement with that reason.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from chmigrate.errors import DatabaseError
from chmigrate.migrations.rerun import normalized
from chmigrate.migrations.splitter import top_level_commas
from chmigrate.targets.clickhouse import ClickHouse

_IDENT = r"(?:`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"|[A-Za-z_][A-Za-z0-9_$]*)"
_ALTER = re.compile(rf"^ALTER TABLE (?:IF EXISTS )?(?:(?P<db>{_IDENT})\.)?(?P<table>{_IDENT}) "
                    rf"(?:ON CLUSTER {_IDENT} )?(?P<rest>.*)$", re.I | re.S)
_DELETE = re.compile(rf"^DELETE FROM (?:(?P<db>{_IDENT})\.)?(?P<table>{_IDENT})\b", re.I)
_MUTATING = re.compile(r"^(?:UPDATE|DELETE|MODIFY COLUMN|DROP COLUMN|CLEAR COLUMN|CLEAR INDEX|"
                       r"CLEAR PROJECTION|MATERIALIZE (?:COLUMN|INDEX|PROJECTION|TTL|STATISTICS)|"
                       r"APPLY DELETED MASK)\b", re.I)
UNFINISHED = 341  # the code `mutations_sync` raises when a mutation failed


@dataclass(frozen=True)
class MutationTarget:
    database: str | None
    table: str


def _unquote(name: str) -> str:
    if name[:1] in "`\"" and name[-1:] == name[:1]:
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


def mutation_target(sql: str) -> MutationTarget | None:
    """The table whose data the statement mutates, or None for a statement that creates no mutation."""
    text = normalized(sql)
    m = _DELETE.match(text)
    if m:
        return MutationTarget(_unquote(m["db"]) if m["db"] else None, _unquote(m["table"]))
    m = _ALTER.match(text)
    if m and any(_MUTATING.match(c.strip()) for c in top_level_commas(m["rest"])):
        return MutationTarget(_unquote(m["db"]) if m["db"] else None, _unquote(m["table"]))
    return None


def failed_mutation(ch: ClickHouse, target: MutationTarget, database: str, since: float, *,
                    known_failed: bool) -> str | None:
    """After a statement that created a mutation: the fail reason of an unfinished mutation of its table created
    at or after `since` (this machine's unix time, compared as elapsed seconds on the server's clock), which
    is then killed so that the server stops retrying it. With `known_failed` (the server answered UNFINISHED)
    every unfinished mutation of the table created since is killed, and the reason may be '' (a server may
    keep the reason only in memory). None when no mutation failed."""
    db = target.database or database
    elapsed = max(0, int(time.time() - since) + 2)
    failed = "" if known_failed else " AND latest_fail_reason != ''"
    rows = ch.query(
        "SELECT mutation_id, latest_fail_reason FROM system.mutations WHERE database = {d:String}"
        f" AND table = {{t:String}} AND NOT is_done{failed}"
        " AND create_time >= now() - toIntervalSecond({s:UInt32}) ORDER BY create_time",
        {"d": db, "t": target.table, "s": elapsed})
    if not rows:
        return "" if known_failed else None
    for mutation_id, _ in rows:
        try:
            ch.execute("KILL MUTATION WHERE database = {d:String} AND table = {t:String}"
                       " AND mutation_id = {m:String}", parameters={"d": db, "t": target.table,
                                                                    "m": str(mutation_id)})
        except DatabaseError:
            pass  # the reason is what matters; a person can still kill it
    return " ".join(str(rows[-1][1]).split())[:1000]
