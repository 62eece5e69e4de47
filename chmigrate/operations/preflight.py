"""`up` looks before it leaps: do the objects its pending statements create already exist?

A statement `CREATE TABLE|VIEW|MATERIALIZED VIEW|DICTIONARY name` without `IF NOT EXISTS` (or `OR
REPLACE`) fails when `name` exists, typically because the database was made by hand before chmigrate.
The names come from the statements themselves (database-qualified, or in the target database), and one
query to system.tables checks them all. When some exist, `up` sends nothing and records nothing, and
says how to adopt them (`chmigrate baseline --to V`) or that they must be removed; `plan` marks them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from chmigrate.connect import ClickHouseTarget
from chmigrate.errors import ChmigrateError, MigrationFileError, StateError
from chmigrate.migrations.discovery import Migration
from chmigrate.migrations.ledger import VersionState
from chmigrate.migrations.planner import plan_up, refuse_empty
from chmigrate.results import PlannedStatement
from chmigrate.schema.tokens import name_at, tokenize
from chmigrate.targets.clickhouse import ClickHouse, quote_string

_KINDS = {("TABLE",): "table", ("VIEW",): "view", ("MATERIALIZED", "VIEW"): "materialized view",
          ("LIVE", "VIEW"): "view", ("WINDOW", "VIEW"): "view", ("DICTIONARY",): "dictionary"}


@dataclass(frozen=True)
class Pending:
    """One statement `up` would send."""

    version: str
    path: str
    index: int
    sql: str


@dataclass(frozen=True)
class Existing:
    version: str
    path: str
    statement: int
    database: str
    name: str
    kind: str  # "table", "view", "materialized view", "dictionary"

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"


_HEAD = 24  # significant tokens: more than CREATE OR REPLACE TEMPORARY MATERIALIZED VIEW IF NOT EXISTS db . name


def created_object(sql: str, database: str) -> tuple[str, str, str] | None:
    """(database, name, kind) a statement creates unconditionally; None for anything else."""
    tokens = tokenize(sql, limit=_HEAD)  # the kind and the name are in the statement's head
    if not tokens or not tokens[0].is_word("CREATE"):
        return None
    i = 1
    if i < len(tokens) and tokens[i].is_word("OR"):
        return None  # CREATE OR REPLACE: never fails on an existing object
    if i < len(tokens) and tokens[i].is_word("TEMPORARY"):
        return None
    words = tuple(t.upper for t in tokens[i:i + 2])
    kind = _KINDS.get(words[:2]) or _KINDS.get(words[:1])
    if kind is None:
        return None
    i += 2 if _KINDS.get(words[:2]) else 1
    if i + 2 < len(tokens) and tokens[i].is_word("IF") and tokens[i + 1].is_word("NOT") \
            and tokens[i + 2].is_word("EXISTS"):
        return None
    found = name_at(tokens, i, database)
    return None if found is None else (found[0], found[1], kind)


def _dropped_object(sql: str, database: str) -> tuple[str, str] | None:
    tokens = tokenize(sql, limit=_HEAD)
    if len(tokens) < 3 or not tokens[0].is_word("DROP") or not tokens[1].is_word("TABLE", "VIEW", "DICTIONARY"):
        return None
    i = 2
    if i + 1 < len(tokens) and tokens[i].is_word("IF") and tokens[i + 1].is_word("EXISTS"):
        i += 2
    found = name_at(tokens, i, database)
    return None if found is None else (found[0], found[1])


def existing(ch: ClickHouse, database: str, statements: Iterable[Pending]) -> list[Existing]:
    """The objects `statements` would create unconditionally that exist already (one query; none when no
    statement creates anything). An object an earlier pending statement drops does not count."""
    candidates: dict[tuple[str, str], Existing] = {}
    dropped: set[tuple[str, str]] = set()
    for s in statements:
        gone = _dropped_object(s.sql, database)
        if gone is not None:
            dropped.add(gone)
            continue
        made = created_object(s.sql, database)
        if made is None:
            continue
        key = (made[0], made[1])
        if key not in dropped and key not in candidates:
            candidates[key] = Existing(s.version, s.path, s.index, made[0], made[1], made[2])
    if not candidates:
        return []
    pairs = ", ".join(f"({quote_string(db)}, {quote_string(name)})" for db, name in candidates)
    rows = ch.query(f"SELECT database, name FROM system.tables WHERE (database, name) IN ({pairs})")
    present = {(str(r[0]), str(r[1])) for r in rows}
    return [e for key, e in candidates.items() if key in present]


def _pending(migrations: Sequence[Migration], states: Mapping[str, VersionState], *, to: str | None,
             allow_changed: Collection[str]) -> list[Pending] | None:
    """What `up` would send, counting a failed version as retried; None when the plan is refused anyway
    (the locked path then raises its own error)."""
    try:
        steps = plan_up(migrations, states, to=to, allow_changed=allow_changed, retry_failed=True)
    except ChmigrateError:
        return None
    return [Pending(s.migration.version, str(s.migration.path), st.index, st.sql)
            for s in steps if not _awaits_recovery(states.get(s.migration.version))
            for st in s.migration.up[s.start - 1:]]


def _awaits_recovery(state: VersionState | None) -> bool:
    """An interrupted run whose last statement's outcome is unknown: the run under the lock first reads that
    outcome from the server's record, so an object that statement created is not a hand-made one."""
    return bool(state and state.in_flight == "up" and not state.next_unsent
                and not (state.failed_statement and not state.outcome_unknown))


def check_up(ch: ClickHouse, tgt: ClickHouseTarget, migrations: tuple[Migration, ...],
             states: Mapping[str, VersionState], *, to: str | None = None,
             allow_changed: Collection[str] = ()) -> None:
    """Raise StateError, having sent only SELECTs, when objects that pending statements create exist (and
    MigrationFileError when a pending file holds no statement yet)."""
    try:
        refuse_empty(plan_up(migrations, states, to=to, allow_changed=allow_changed, retry_failed=True))
    except MigrationFileError:
        raise
    except ChmigrateError:
        pass  # the plan is refused anyway: the locked path raises its own error
    pending = _pending(migrations, states, to=to, allow_changed=allow_changed)
    if not pending:
        return
    found = existing(ch, tgt.database, pending)
    if found:
        raise refuse_existing(ch, tgt, migrations, found)


def refuse_existing(ch: ClickHouse, tgt: ClickHouseTarget, migrations: tuple[Migration, ...],
                    found: Sequence[Existing]) -> StateError:
    """The error `up` raises: which objects exist, and `baseline --to V` with what `diff` finds."""
    last = max(found, key=lambda e: int(e.version)).version
    chosen = tuple(m for m in migrations if m.number <= int(last))
    tally = _diff_tally(ch, tgt, chosen)
    names = ", ".join(f"{e.kind} {e.qualified} ({e.version} statement {e.statement})" for e in found)
    return StateError(
        f"{len(found)} object(s) that pending migrations create already exist: {names}; nothing was sent "
        "and nothing recorded",
        hint=f"if they were made by hand, adopt them with `chmigrate baseline --to {last}` ({tally}); "
        "otherwise drop them and run `chmigrate up` again",
    )


def _diff_tally(ch: ClickHouse, tgt: ClickHouseTarget, chosen: tuple[Migration, ...]) -> str:
    from chmigrate.operations.drift import compare_live
    from chmigrate.schema.reconcile import split
    from chmigrate.schema.render import count_by_kind

    changes = compare_live(ch, tgt, chosen).changes
    if not changes:
        return "`chmigrate diff` finds no differences"
    ok, refused = split(changes)
    text = f"`chmigrate diff` finds {len(changes)} difference(s): {count_by_kind(changes)}"
    if not refused:
        return text + "; all can be reconciled in place: add --reconcile"
    return text + f"; {len(refused)} of them touch data or need a rebuild"


def mark_existing(ch: ClickHouse, tgt: ClickHouseTarget,
                  rows: tuple[PlannedStatement, ...]) -> tuple[PlannedStatement, ...]:
    """`plan`: flag the statements whose object already exists."""
    pending = (Pending(r.version, r.path, r.index, r.sql) for r in rows)
    found = existing(ch, tgt.database, pending)
    hits = {(e.version, e.statement) for e in found}
    return tuple(replace(r, exists=True) if (r.version, r.index) in hits else r for r in rows)
