"""What a run's statements destroy, and consent to it.

Before `down` (and `up`) sends anything, the statements that destroy stored data are recognised from their
tokens: `DROP TABLE|VIEW` (a materialized view's data is in its inner table), `TRUNCATE`, `ALTER TABLE ...
DROP COLUMN`, `DROP PARTITION`, `DROP PART`, and `MODIFY TTL` that shortens (or adds) a table's TTL. One
query reads what those objects hold from system.parts (active parts: rows and bytes on disk), joined to
system.tables for the inner table of a view and the current TTL. A statement on an empty object is not
listed: it needs no consent.

The library never asks: the caller passes `consent`, True (given in advance), False (refuse), or a function
that is shown the report and answers (the CLI asks y/N on a terminal). A protected environment refuses
whatever the consent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from chmigrate.errors import Refused
from chmigrate.migrations.discovery import Migration
from chmigrate.results import DestroyedData, DestructionReport
from chmigrate.schema.tokens import (
    IDENT,
    NUMBER,
    STRING,
    Token,
    find_top,
    join,
    name_at,
    split_top,
    tokenize,
)
from chmigrate.targets.clickhouse import ClickHouse, quote_string

Consent = Callable[[DestructionReport], bool] | bool

Kind = Literal["table", "truncate", "column", "partition", "part", "ttl"]


@dataclass(frozen=True)
class Destroys:
    """What one statement destroys, as read from its text."""

    database: str
    table: str
    kind: Kind
    detail: str = ""  # the column, the partition literal, the new TTL


@dataclass(frozen=True)
class Candidate:
    """A statement a run would send."""

    version: str
    name: str
    path: str
    index: int
    direction: Literal["up", "down"]
    sql: str


def candidates(migrations: Iterable[Migration], direction: Literal["up", "down"],
               start: dict[str, int] | None = None) -> list[Candidate]:
    """The statements of `migrations` a run sends (up: from each step's start; down: the down parts)."""
    out: list[Candidate] = []
    for m in migrations:
        part = (m.up[(start or {}).get(m.version, 1) - 1:] if direction == "up" else (m.down or ()))
        out += [Candidate(m.version, m.name, str(m.path), s.index, direction, s.sql) for s in part]
    return out


def _skip_if_exists(tokens: Sequence[Token], i: int) -> int:
    if i + 1 < len(tokens) and tokens[i].is_word("IF") and tokens[i + 1].is_word("EXISTS"):
        return i + 2
    return i


def destroys(sql: str, database: str) -> list[Destroys]:
    """The objects whose data `sql` destroys (unqualified names are in `database`); [] for anything else."""
    head = tokenize(sql, limit=1)
    if not head or not head[0].is_word("DROP", "TRUNCATE", "ALTER"):
        return []  # most statements: no need to lex the body
    tokens = tokenize(sql)
    if len(tokens) < 2:
        return []
    if tokens[0].is_word("DROP") and tokens[1].is_word("TABLE", "VIEW"):
        found = name_at(tokens, _skip_if_exists(tokens, 2), database)
        return [Destroys(found[0], found[1], "table")] if found else []
    if tokens[0].is_word("TRUNCATE"):
        i = 2 if tokens[1].is_word("TABLE") else 1
        found = name_at(tokens, _skip_if_exists(tokens, i), database)
        return [Destroys(found[0], found[1], "truncate")] if found else []
    if tokens[0].is_word("ALTER") and tokens[1].is_word("TABLE"):
        found = name_at(tokens, _skip_if_exists(tokens, 2), database)
        if found is None:
            return []
        db, table, i = found
        if i + 2 < len(tokens) and tokens[i].is_word("ON") and tokens[i + 1].is_word("CLUSTER"):
            i += 3
        return [d for part in split_top(tokens[i:]) if (d := _alter_command(part, db, table)) is not None]
    return []


def _alter_command(part: Sequence[Token], db: str, table: str) -> Destroys | None:
    if len(part) >= 2 and part[0].is_word("DROP") and part[1].is_word("COLUMN"):
        rest = part[_skip_if_exists(part, 2):]
        return Destroys(db, table, "column", rest[0].name) if rest else None
    if len(part) >= 2 and part[0].is_word("DROP") and part[1].is_word("PARTITION"):
        return Destroys(db, table, "partition", _text(part[2:]))
    if len(part) >= 2 and part[0].is_word("DROP") and part[1].is_word("PART"):
        return Destroys(db, table, "part", _text(part[2:]))
    if len(part) >= 2 and part[0].is_word("MODIFY") and part[1].is_word("TTL"):
        return Destroys(db, table, "ttl", _text(part[2:]))
    return None


def _text(tokens: Sequence[Token]) -> str:
    return join(tokens)


_UNIT_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 7 * 86400,
                 "MONTH": 30 * 86400, "QUARTER": 91 * 86400, "YEAR": 365 * 86400}


def ttl_seconds(ttl: str) -> float | None:
    """How long the shortest deleting rule of a TTL keeps rows (`+ INTERVAL n UNIT` or `toIntervalUnit(n)`);
    None when it cannot be read. Rules that move (TO DISK/VOLUME), recompress or group keep the rows."""
    kept: list[float] = []
    for rule in split_top(tokenize(ttl)):
        if any(t.is_word("TO", "RECOMPRESS", "GROUP") for t in rule):
            continue
        total = 0.0
        for i, t in enumerate(rule):
            if t.is_word("INTERVAL") and i + 2 < len(rule) and rule[i + 1].kind == NUMBER:
                total += float(rule[i + 1].text) * _UNIT_SECONDS.get(rule[i + 2].upper.rstrip("S"), 0)
            m = re.fullmatch(r"toInterval([A-Za-z]+)", t.text) if t.kind == IDENT else None
            if m and i + 2 < len(rule) and rule[i + 1].text == "(" and rule[i + 2].kind == NUMBER:
                total += float(rule[i + 2].text) * _UNIT_SECONDS.get(m[1].upper(), 0)
        if total <= 0:
            return None
        kept.append(total)
    return min(kept) if kept else None


def current_ttl(engine_full: str) -> str | None:
    """The table-level TTL clause of `system.tables.engine_full`, or None."""
    tokens = tokenize(engine_full)
    i = find_top(tokens, "TTL")
    if i < 0:
        return None
    end = find_top(tokens, "SETTINGS", start=i + 1)
    return _text(tokens[i + 1:end if end >= 0 else len(tokens)])


def _unquoted(literal: str) -> str:
    return literal[1:-1] if len(literal) >= 2 and literal[0] == literal[-1] == "'" else literal


@dataclass(frozen=True)
class _Held:
    engine: str
    engine_full: str
    by_partition: dict[tuple[str, str], tuple[int, int]]  # (partition_id, partition) -> (rows, bytes)

    @property
    def total(self) -> tuple[int, int]:
        return (sum(r for r, _ in self.by_partition.values()), sum(b for _, b in self.by_partition.values()))


def measure(ch: ClickHouse, database: str, statements: Sequence[Candidate]) -> DestructionReport:
    """What `statements` destroy, from one query to system.parts (joined to system.tables). Statements whose
    object holds no rows (or does not exist) are left out; none is sent when nothing is destructive."""
    found = [(s, d) for s in statements for d in destroys(s.sql, database)]
    if not found:
        return DestructionReport()
    keys = sorted({(d.database, d.table) for _, d in found})
    pairs = ", ".join(f"({quote_string(db)}, {quote_string(t)})" for db, t in keys)
    dbs = ", ".join(sorted({quote_string(db) for db, _ in keys}))
    rows = ch.query(
        "SELECT o.database, o.name, any(o.engine), any(o.engine_full), p.partition_id, p.partition, sum(p.rows), "
        "sum(p.bytes_on_disk) FROM (SELECT database, name, engine, engine_full, "
        "arrayJoin(if(engine = 'MaterializedView', arrayDistinct(['.inner_id.' || toString(uuid), "
        "'.inner_id.' || extract(create_table_query, "
        "'UUID \\'([0-9a-f-]{36})\\''), '.inner.' || name]), [name])) AS data_table FROM system.tables "
        f"WHERE (database, name) IN ({pairs})) AS o LEFT JOIN (SELECT database, table, partition_id, partition, "
        f"rows, bytes_on_disk FROM system.parts WHERE active AND database IN ({dbs})) AS p "
        "ON p.database = o.database AND p.table = o.data_table "
        "GROUP BY o.database, o.name, p.partition_id, p.partition",
        # A view's inner table is `.inner_id.<the view's UUID>`; some engines show the UUID only in its
        # CREATE text (system.tables.uuid is nil in chDB's default database).
        settings={"show_table_uuid_in_table_create_query_if_not_nil": 1})
    held: dict[tuple[str, str], _Held] = {}
    for db, name, engine, engine_full, pid, partition, n, size in rows:
        entry = held.setdefault((str(db), str(name)), _Held(str(engine), str(engine_full), {}))
        if int(n or 0):
            entry.by_partition[(str(pid), str(partition))] = (int(n), int(size or 0))
    items: list[DestroyedData] = []
    for s, d in found:
        h = held.get((d.database, d.table))
        if h is None:
            continue  # it does not exist (yet): nothing stored
        n, size = h.total
        what = "table"
        obj = f"{d.database}.{d.table}"
        if d.kind == "table" and h.engine == "MaterializedView":
            what = "materialized view (its inner table)"
        elif d.kind == "truncate":
            what = "all rows (TRUNCATE)"
        elif d.kind == "column":
            what, obj = f"column {d.detail} (its values in every row; bytes are the table's)", f"{obj}.{d.detail}"
        elif d.kind == "partition":
            wanted = d.detail
            by_id = wanted.upper().startswith("ID ")
            value = _unquoted(wanted[3:].strip()) if by_id else wanted
            hits = [v for (pid, part), v in h.by_partition.items()
                    if (pid == value if by_id else part in (value, _unquoted(value)))]
            if hits or by_id or _simple(value):
                n, size = sum(r for r, _ in hits), sum(b for _, b in hits)
                what = f"partition {wanted}"
            else:
                what = f"partition {wanted} (not matched by value: the whole table is counted)"
        elif d.kind == "part":
            what = f"part {d.detail} (the whole table is counted)"
        elif d.kind == "ttl":
            old = current_ttl(h.engine_full)
            new_keep, old_keep = ttl_seconds(d.detail), (ttl_seconds(old) if old else None)
            if old is not None and new_keep is not None and old_keep is not None and new_keep >= old_keep:
                continue  # as long as before, or longer: nothing more is deleted
            what = (f"TTL {d.detail} (was {old or 'none'}): rows older than it are deleted; up to every row "
                    "is counted")
        if n:
            items.append(DestroyedData(s.version, s.name, s.path, s.index, s.direction, s.sql, obj, what, n, size))
    return DestructionReport(tuple(items))


def _simple(literal: str) -> bool:
    """A partition written as one literal (202412, '2024-12-01'): matched exactly against system.parts."""
    tokens = tokenize(literal)
    return len(tokens) == 1 and tokens[0].kind in (NUMBER, STRING)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def summary(report: DestructionReport) -> str:
    """`default.llm_usage (1,000 rows, 52.3 KiB), ...`: each object once, with what its statements destroy."""
    per: dict[str, list[int]] = {}
    for i in report.items:
        acc = per.setdefault(i.object, [0, 0])
        acc[0] = max(acc[0], i.rows)
        acc[1] = max(acc[1], i.bytes)
    return ", ".join(f"{o} ({r:,} rows, {human_bytes(b)})" for o, (r, b) in per.items())


@dataclass(frozen=True)
class Approval:
    how: Literal["asked", "in advance"]
    report: DestructionReport


def approve(report: DestructionReport, consent: Consent, *, command: str, protected: str | None,
            already: DestructionReport | None = None) -> Approval | None:
    """None when nothing is destroyed; an Approval when consent is given; else Refused (exit 1), having sent
    nothing. `already`: a report consented to earlier in this run (before the lock): only statements and
    objects not in it are asked about again. In a protected environment (`protected` names the setting) the
    answer is always no."""
    if not report.items:
        return None
    if protected:
        raise Refused(f"{command} refused: this environment is protected ({protected}) and the run would destroy "
                      f"data: {summary(report)}; nothing was sent",
                      hint="a person changes that setting to proceed; no flag overrides it")
    seen = {(i.version, i.direction, i.index, i.object) for i in (already.items if already else ())}
    new = DestructionReport(tuple(i for i in report.items if (i.version, i.direction, i.index, i.object) not in seen))
    if already is not None and not new.items:
        return Approval("in advance" if consent is True else "asked", report)
    if consent is True:
        return Approval("in advance", report)
    if consent is False:
        raise Refused(f"{command} would destroy data: {summary(new)}; nothing was sent",
                      hint="on a terminal chmigrate asks; elsewhere add --yes to consent (the same command "
                           "with --dry-run shows each statement)")
    if not consent(new):
        raise Refused(f"{command} not consented to: it would destroy {summary(new)}; nothing was sent")
    return Approval("asked", report)
