"""`backfill`: recompute a materialized view's TO target from its source, one whole target partition at a
time, with the view's own SELECT.

Per partition: the view's SELECT, restricted to the source rows whose output falls into that partition (the
target's partition expression applied to the view's expression for the partition column), is inserted into
a staging table made `AS` the target (same engine, key and partitioning) and merged into one part; then one
ALTER swaps the staged partition in and the staging table is dropped. The live target never receives a plain
INSERT, so a rerun recomputes instead of doubling, and a run killed at any point leaves each partition either
as it was or rebuilt (or, on servers before 26.7, empty until the rerun: see below); staging tables it left
are dropped by the next run (under the run lock, so no other run is using them).

The swap (`swap_form`):
- ClickHouse >= 26.7: `REPLACE PARTITION ID p FROM staging`, one atomic step for readers.
- before 26.7, production's 24.8 included: `DROP PARTITION ID p, ATTACH PARTITION ID p FROM staging` in one
  ALTER. `REPLACE PARTITION` there leaves the replaced parts on disk with no part covering them, so a server
  restart before the background cleanup (old_parts_lifetime, 8 minutes by default) brings them back and the
  partition is silently doubled (ClickHouse #107605, fixed by #107623 in June 2026; chdb 2.1.1 shows the old
  parts even before a restart). `DROP PARTITION` writes an empty covering part, so its effect survives a
  restart. The price: a reader that queries between the two commands of the ALTER sees the partition empty.
The staged partition is one part because attaching several parts is not atomic across a crash (ClickHouse
#104660).

Partitions at the source's TTL horizon are left alone (`expiring`): raw events live 13 months and the rollup
25, so a month whose raw rows the TTL has begun to delete can no longer be recomputed; rebuilding it would
drop the rollup of the deleted rows.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from chmigrate.errors import Refused, UsageError
from chmigrate.migrations.ledger import Ledger, Subject
from chmigrate.operations.mvcheck import mv_target
from chmigrate.results import BackfillPartition, BackfillResult, BackfillStatus
from chmigrate.schema.tokens import IDENT, QIDENT, SYMBOL, Token, find_top, join, name_at, split_top, tokenize
from chmigrate.targets.clickhouse import ClickHouse, quote_ident, quote_string

STAGING_PREFIX = "chmigrate_backfill__"
# Rows may still arrive for the partition holding now() and the one holding now() minus this grace.
GRACE = "INTERVAL 1 HOUR"
# A partition whose source rows expire (TTL) before now() plus this margin is left alone.
TTL_MARGIN = "INTERVAL 1 DAY"
# The first release whose REPLACE PARTITION covers the replaced parts on disk (ClickHouse #107623).
REPLACE_SAFE_FROM = (26, 7)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CLAUSES = ("GROUP", "HAVING", "ORDER", "LIMIT", "SETTINGS", "WINDOW", "QUALIFY", "FORMAT")


class Reporter(Protocol):
    def partition_started(self, partition: str, index: int, total: int, source_rows: int) -> None: ...

    def partition_progress(self, read_rows: int) -> None: ...

    def partition_done(self, result: BackfillPartition) -> None: ...


@dataclass(frozen=True)
class ViewShape:
    """What backfill needs to know about a view, read from system.tables and system.columns."""

    database: str
    view: str
    target: tuple[str, str]
    source: tuple[str, str]
    select: str  # the view's SELECT as the server stores it
    columns: tuple[str, ...]  # output columns of the view that the target has
    partition_key: str  # the target's partition expression (over its own columns)
    partition_sql: str  # the target's partition expression over the source's columns
    key_column: str
    key_type: str
    key_sql: str  # the view's expression for the partition column, over the source's columns
    filtered: Callable[[str], str]  # the view's SELECT restricted to the source rows matching a condition

    @property
    def qualified_target(self) -> str:
        return f"{quote_ident(self.target[0])}.{quote_ident(self.target[1])}"

    @property
    def qualified_source(self) -> str:
        return f"{quote_ident(self.source[0])}.{quote_ident(self.source[1])}"


def _refuse(view: str, why: str) -> UsageError:
    return UsageError(f"backfill {view}: {why}", hint="backfill rebuilds a view's TO target, a MergeTree-family "
                      "table partitioned by an expression of one view output column")


def inspect_view(ch: ClickHouse, database: str, view: str) -> ViewShape:
    rows = ch.query("SELECT engine, create_table_query, as_select FROM system.tables WHERE database = {d:String} "
                    "AND name = {n:String}", {"d": database, "n": view})
    if not rows:
        raise UsageError(f"VIEW {view}: no table or view of that name in database {database}",
                         hint="`chmigrate status` and `SHOW TABLES` list what exists")
    engine, create, select = (str(x) for x in rows[0])
    if engine != "MaterializedView":
        raise _refuse(view, f"{database}.{view} is a {engine}, not a materialized view")
    target = mv_target(create, database)
    if target is None:
        raise _refuse(view, "the view has no TO target (it stores into an inner table)")
    trow = ch.query("SELECT engine, partition_key FROM system.tables WHERE database = {d:String} AND "
                    "name = {n:String}", {"d": target[0], "n": target[1]})
    if not trow:
        raise _refuse(view, f"its target {target[0]}.{target[1]} does not exist")
    t_engine, partition_key = str(trow[0][0]), str(trow[0][1])
    if not t_engine.endswith("MergeTree") or t_engine.startswith(("Replicated", "Shared")):
        raise _refuse(view, f"its target {target[0]}.{target[1]} is {t_engine}; only non-replicated "
                      "MergeTree-family targets are supported")
    if not partition_key:
        raise _refuse(view, f"its target {target[0]}.{target[1]} has no PARTITION BY")
    cols = ch.query("SELECT database, table, name, type FROM system.columns WHERE (database = {d:String} AND "
                    "table = {v:String}) OR (database = {td:String} AND table = {t:String}) ORDER BY position",
                    {"d": database, "v": view, "td": target[0], "t": target[1]})
    target_cols = {str(n): str(t) for db, tb, n, t in cols if (db, tb) == target}
    view_cols = [str(n) for db, tb, n, _ in cols if (db, tb) == (database, view)]
    key_tokens = tokenize(partition_key)
    keys = sorted({t.name for t in key_tokens if t.kind in (IDENT, QIDENT) and t.name in target_cols})
    if len(keys) != 1:
        raise _refuse(view, f"the partition key {partition_key} of {target[1]} uses {len(keys)} columns; "
                      "backfill needs exactly one")
    key = keys[0]
    tokens = tokenize(select)
    if find_top(tokens, "UNION", "JOIN", "INTERSECT", "EXCEPT") >= 0 or not tokens or not tokens[0].is_word("SELECT"):
        raise _refuse(view, "its SELECT is not a single SELECT from one table (UNION or JOIN)")
    f = find_top(tokens, "FROM")
    found = name_at(tokens, f + 1, database) if f > 0 else None
    if found is None or (found[2] < len(tokens) and tokens[found[2]].text == "("):
        raise _refuse(view, "its SELECT does not read FROM one table")
    source_db, source, after = found
    expr = _output_expression(tokens[1:f], key)
    if expr is None:
        raise _refuse(view, f"its SELECT has no output column {key} (the partition column of {target[1]})")
    partition_sql = join(_substitute(key_tokens, key, [Token(SYMBOL, "(")] + expr + [Token(SYMBOL, ")")]))

    def filtered(condition: str) -> str:
        return _with_condition(tokens, after, condition)

    return ViewShape(database, view, target, (source_db, source), select,
                     tuple(c for c in view_cols if c in target_cols), partition_key, partition_sql, key,
                     target_cols[key], join(expr), filtered)


def _output_expression(items: Sequence[Token], name: str) -> list[Token] | None:
    if items and items[0].is_word("DISTINCT"):
        items = items[1:]
    for item in split_top(items):
        if len(item) >= 3 and item[-2].is_word("AS") and item[-1].name == name:
            return list(item[:-2])
        if len(item) == 1 and item[0].kind in (IDENT, QIDENT) and item[0].name == name:
            return list(item)
        if len(item) == 3 and item[1].text == "." and item[2].name == name:  # t.col
            return list(item)
    return None


def _substitute(tokens: Sequence[Token], name: str, replacement: list[Token]) -> list[Token]:
    out: list[Token] = []
    for t in tokens:
        out += replacement if t.kind in (IDENT, QIDENT) and t.name == name else [t]
    return out


def _with_condition(tokens: list[Token], after_from: int, condition: str) -> str:
    """The SELECT with `condition` ANDed into its top-level WHERE (or as its WHERE)."""
    cond = tokenize(condition)
    where = find_top(tokens, "WHERE", start=after_from)
    if where >= 0:
        end = _clause_end(tokens, where + 1)
        body = ([Token(SYMBOL, "(")] + cond + [Token(SYMBOL, ")"), Token(IDENT, "AND"), Token(SYMBOL, "(")]
                + tokens[where + 1:end] + [Token(SYMBOL, ")")])
        return join(tokens[:where + 1] + body + tokens[end:])
    end = _clause_end(tokens, after_from)
    return join(tokens[:end] + [Token(IDENT, "WHERE")] + cond + tokens[end:])


def _clause_end(tokens: list[Token], start: int) -> int:
    found = [i for i in (find_top(tokens, w, start=start) for w in _CLAUSES) if i >= 0]
    return min(found) if found else len(tokens)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (date, datetime, str)):
        return quote_string(str(value))
    raise UsageError(f"backfill: a partition value of type {type(value).__name__} is not supported")


def _at(shape: ViewShape, ch: ClickHouse, value_sql: str) -> Any:
    """The partition value that a key column value (SQL) falls into."""
    sql = join(_substitute(tokenize(shape.partition_key), shape.key_column,
                           tokenize(f"CAST({value_sql} AS {shape.key_type})")))
    return ch.query(f"SELECT {sql}")[0][0]


def _bound(shape: ViewShape, ch: ClickHouse, option: str, value: str | None) -> Any:
    if value is None:
        return None
    if not _DATE.match(value) or not _is_date(value):
        raise UsageError(f"{option} {value!r}: give a date as YYYY-MM-DD")
    try:
        return _at(shape, ch, quote_string(value))
    except Exception:
        raise UsageError(f"{option} {value!r}: cannot place that date in a partition of {shape.target[1]} "
                         f"({shape.key_column} is {shape.key_type})") from None


def _is_date(value: str) -> bool:
    """A calendar date: the server would read 2026-13-01 as some other day rather than refuse it."""
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _current(shape: ViewShape, ch: ClickHouse) -> Any:
    """The oldest partition that rows may still arrive for (None: the key is not a date or time)."""
    if not shape.key_type.replace("Nullable(", "").startswith(("Date", "DateTime")):
        return None
    return min(_at(shape, ch, "now()"), _at(shape, ch, f"now() - {GRACE}"))


def staging_name(target: str, partition_id: str) -> str:
    return f"{STAGING_PREFIX}{target}__{partition_id}"


def clean_staging(ch: ClickHouse, shape: ViewShape) -> tuple[str, ...]:
    """Drop the staging tables an interrupted run left for this target (the caller holds the run lock)."""
    prefix = f"{STAGING_PREFIX}{shape.target[1]}__"
    rows = ch.query("SELECT name FROM system.tables WHERE database = {d:String} AND startsWith(name, {p:String})",
                    {"d": shape.target[0], "p": prefix})
    names = tuple(str(r[0]) for r in rows if re.fullmatch(r"[0-9A-Za-z_-]+", str(r[0])[len(prefix):]))
    for name in names:
        ch.execute(f"DROP TABLE IF EXISTS {quote_ident(shape.target[0])}.{quote_ident(name)}")
    return names


def partitions(ch: ClickHouse, shape: ViewShape) -> list[tuple[Any, int]]:
    """Each target partition the source has rows for, with its number of source rows."""
    rows = ch.query(f"SELECT {shape.partition_sql} AS p, count() FROM {shape.qualified_source} GROUP BY p ORDER BY p")
    return [(r[0], int(r[1])) for r in rows]


def backfill(ch: ClickHouse, database: str, view: str, *, ledger: Ledger | None, date_from: str | None = None,
             date_to: str | None = None, dry_run: bool = False, include_current: bool = False,
             reporter: Reporter | None = None, check: Callable[[], None] | None = None) -> BackfillResult:
    """Rebuild the view's target partitions in [date_from, date_to] (`ledger` None: a dry run)."""
    shape = inspect_view(ch, database, view)
    low, high = _bound(shape, ch, "--from", date_from), _bound(shape, ch, "--to", date_to)
    current = None if include_current else _current(shape, ch)
    found = [(p, n) for p, n in partitions(ch, shape) if (low is None or p >= low) and (high is None or p <= high)]

    def arriving(p: Any) -> bool:
        return not include_current and (current is None or p >= current)

    late = [p for p, _ in found if arriving(p)]
    if late and date_to is not None:
        raise Refused(f"backfill {view}: rows may still arrive for partition {late[0]} of {shape.target[1]} "
                      "(it holds now, or the last hour); nothing was changed",
                      hint="rebuild it once it is complete, or add --include-current")
    cleaned = () if dry_run else clean_staging(ch, shape)
    select_hash = hashlib.sha256(shape.select.encode()).hexdigest()
    done: list[BackfillPartition] = []
    todo: list[tuple[Any, int]] = []
    for p, n in found:
        if arriving(p):
            done.append(BackfillPartition(str(p), "", 0, 0, 0.0, "current"))
        elif (why := expiring(ch, shape, p)) is not None:
            done.append(BackfillPartition(str(p), "", n, 0, 0.0, "expiring", why))
        else:
            todo.append((p, n))
    form = swap_form(ch)
    for i, (p, n) in enumerate(todo, 1):
        if reporter is not None:
            reporter.partition_started(str(p), i, len(todo), n)
        if dry_run:
            part = BackfillPartition(str(p), "", n, 0, 0.0, "would_rebuild")
        else:
            if check is not None:
                check()
            part = _rebuild(ch, shape, p, n, reporter, form)
            assert ledger is not None
            ledger.record(Subject("backfill", f"{database}.{view} {part.partition_id}", select_hash,
                                  min(part.rows_written, 2**32 - 1)),
                          event="backfilled", statement_index=min(n, 2**32 - 1), cumulative_hash=part.partition,
                          started_at=time.time() - part.seconds, duration_ms=int(part.seconds * 1000))
        done.append(part)
        if reporter is not None:
            reporter.partition_done(part)
    return BackfillResult(f"{database}.{view}", f"{shape.target[0]}.{shape.target[1]}",
                          f"{shape.source[0]}.{shape.source[1]}", tuple(sorted(done, key=lambda x: x.partition)),
                          dry_run, cleaned, form)


def swap_form(ch: ClickHouse) -> str:
    """How this server swaps a staged partition in: "replace" where REPLACE PARTITION survives a restart,
    "drop-attach" before (see the module's doc)."""
    return "replace" if ch.version_tuple()[:2] >= REPLACE_SAFE_FROM else "drop-attach"


def swap_statement(form: str, target: str, partition_id: str, staging: str) -> str:
    pid = quote_string(partition_id)
    if form == "replace":
        return f"ALTER TABLE {target} REPLACE PARTITION ID {pid} FROM {staging}"
    return f"ALTER TABLE {target} DROP PARTITION ID {pid}, ATTACH PARTITION ID {pid} FROM {staging}"


def expiring(ch: ClickHouse, shape: ViewShape, p: Any) -> str | None:
    """Why partition `p` cannot be recomputed from the source any more (None: it can): the target holds
    partition-column values older than any source row left for it, or source rows feeding it expire (TTL)
    before now() plus TTL_MARGIN (some may be deleted already, at a merge)."""
    lit = _literal(p)
    key = quote_ident(shape.key_column)
    t_min, s_min, lost = ch.query(
        f"SELECT t, s, n > 0 AND t < s FROM (SELECT min({key}) AS t, count() AS n FROM {shape.qualified_target} "
        f"WHERE ({shape.partition_key}) = {lit}) AS tt CROSS JOIN (SELECT min(CAST({shape.key_sql} AS "
        f"{shape.key_type})) AS s FROM {shape.qualified_source} WHERE {shape.partition_sql} = {lit}) AS ss")[0]
    if int(lost) == 1:
        return (f"{shape.target[1]} holds {shape.key_column} from {t_min} but {shape.source[1]} has rows only "
                f"from {s_min} (its TTL or a delete removed the older ones): a rebuild would lose them")
    expiry = ch.query(
        "SELECT min(delete_ttl_info_min), min(delete_ttl_info_min) <= now() + " + TTL_MARGIN + " FROM system.parts "
        "WHERE database = {d:String} AND table = {t:String} AND active AND delete_ttl_info_min > toDateTime(0) "
        f"AND partition_id IN (SELECT DISTINCT _partition_id FROM {shape.qualified_source} "
        f"WHERE {shape.partition_sql} = {lit})", {"d": shape.source[0], "t": shape.source[1]})
    if expiry and expiry[0][1] and int(expiry[0][1]) == 1:
        return (f"rows of {shape.source[1]} for it expire from {expiry[0][0]} (its TTL): some may be gone "
                "already, and a rebuild would lose their rollup")
    return None


def _rebuild(ch: ClickHouse, shape: ViewShape, p: Any, source_rows: int,
             reporter: Reporter | None, form: str) -> BackfillPartition:
    t0 = time.perf_counter()
    db = quote_ident(shape.target[0])
    staging = f"{db}.{quote_ident(staging_name(shape.target[1], _safe(str(p))))}"
    ch.execute(f"DROP TABLE IF EXISTS {staging}")
    ch.execute(f"CREATE TABLE {staging} AS {shape.qualified_target}")
    cols = ", ".join(quote_ident(c) for c in shape.columns)
    condition = f"{shape.partition_sql} = {_literal(p)}"
    tag = f"chmigrate-backfill-{_safe(str(p))}-{time.time_ns()}"
    select = shape.filtered(condition)
    with _Poller(ch, tag, reporter):
        ch.execute(f"INSERT INTO {staging} ({cols}) SELECT {cols} FROM ({select})",
                   settings={"log_comment": tag, "insert_deduplicate": 0})
    ch.execute(f"OPTIMIZE TABLE {staging} FINAL")  # one part: attaching several is not crash-atomic
    ids = ch.query("SELECT DISTINCT partition_id FROM system.parts WHERE database = {d:String} AND "
                   "table = {t:String} AND active", {"d": shape.target[0], "t": staging_name(shape.target[1],
                                                                                             _safe(str(p)))})
    written = ch.query(f"SELECT count() FROM {staging}")[0][0]
    status: BackfillStatus = "empty"
    pid = ""
    if len(ids) == 1:
        pid = str(ids[0][0])
        ch.execute(swap_statement(form, shape.qualified_target, pid, staging))
        status = "rebuilt"
    elif len(ids) > 1:
        raise UsageError(f"backfill: the view's rows for partition {p} fall into {len(ids)} partitions of "
                         f"{shape.target[1]}; nothing was swapped in")
    ch.execute(f"DROP TABLE IF EXISTS {staging}")
    return BackfillPartition(str(p), pid, source_rows, int(written), time.perf_counter() - t0, status)


def _safe(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", text)


class _Poller:
    """Reports the rows the running INSERT has read (a second connection polls system.processes); nothing
    on the embedded engine, which runs one query at a time."""

    def __init__(self, ch: ClickHouse, tag: str, reporter: Reporter | None) -> None:
        self.ch, self.tag, self.reporter = ch, tag, reporter
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> _Poller:
        if self.reporter is not None and not self.ch.embedded:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        return self

    def _run(self) -> None:
        try:
            with self.ch.clone(query_timeout=5.0) as poll:
                while not self.stop.wait(0.5):
                    rows = poll.query("SELECT sum(read_rows) FROM system.processes WHERE "
                                      "Settings['log_comment'] = {t:String}", {"t": self.tag})
                    if rows and rows[0][0] and self.reporter is not None:
                        self.reporter.partition_progress(int(rows[0][0]))
        except Exception:
            return  # progress is best effort; the INSERT's own outcome decides

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=2)
