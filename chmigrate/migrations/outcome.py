"""What happened to a statement, read from the server's own record.

Every migration statement is sent with a deterministic id (`statement_id`: run, version, statement index)
as its `query_id` and as its `log_comment`. A ClickHouse server records both in `system.processes` and
`system.query_log`; chDB records `log_comment` but assigns its own query ids, so lookups match either.

An error reply counts as "failed, no effect" only when its code is one the server raises while it parses
or analyses a statement, before anything runs (`NO_EFFECT_CODES`). Any other error, a timeout, a dropped
connection or a crash leaves the outcome unknown until `lookup` asks the server:

1. `system.processes`: still running: wait for it (within the given timeout);
2. `system.query_log`, after `SYSTEM FLUSH LOGS`: `QueryFinish` means applied, `ExceptionBeforeStart`
   means not applied, `ExceptionWhileProcessing` means it stopped part-way (unknown). No entry at all
   means "never reached the server" only when the logs were flushed and the server has not restarted
   since the statement was sent (a restart loses unflushed log entries); otherwise the outcome stays
   unknown, and `up` stops and names the statement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from chmigrate.errors import DatabaseError
from chmigrate.targets.clickhouse import ClickHouse

# Error codes ClickHouse raises before a statement executes: parsing, name resolution, type analysis,
# access checks and existence checks of DDL. A statement that failed with one of these changed nothing.
NO_EFFECT_CODES: frozenset[int] = frozenset({
    1,  # UNSUPPORTED_METHOD
    6,  # CANNOT_PARSE_TEXT (of a literal in the query text)
    15,  # DUPLICATE_COLUMN
    16,  # NO_SUCH_COLUMN_IN_TABLE
    20,  # NUMBER_OF_COLUMNS_DOESNT_MATCH
    36,  # BAD_ARGUMENTS
    42,  # NUMBER_OF_ARGUMENTS_DOESNT_MATCH
    43,  # ILLEGAL_TYPE_OF_ARGUMENT
    44,  # ILLEGAL_COLUMN
    46,  # UNKNOWN_FUNCTION
    47,  # UNKNOWN_IDENTIFIER
    48,  # NOT_IMPLEMENTED
    50,  # UNKNOWN_TYPE
    57,  # TABLE_ALREADY_EXISTS
    60,  # UNKNOWN_TABLE
    62,  # SYNTAX_ERROR
    80,  # INCORRECT_QUERY
    81,  # UNKNOWN_DATABASE
    82,  # DATABASE_ALREADY_EXISTS
    107,  # FILE_DOESNT_EXIST (of a dictionary/table source checked at creation)
    113,  # THERE_IS_NO_DEFAULT_VALUE
    115,  # UNKNOWN_SETTING
    164,  # READONLY
    179,  # MULTIPLE_EXPRESSIONS_FOR_ALIAS
    181,  # ILLEGAL_FINAL
    182,  # ILLEGAL_PREWHERE
    184,  # ILLEGAL_AGGREGATION
    186,  # UNSUPPORTED_JOIN_KEYS
    215,  # NOT_AN_AGGREGATE
    306,  # TOO_DEEP_RECURSION (of the parser)
    352,  # AMBIGUOUS_COLUMN_NAME
    386,  # NO_COMMON_TYPE
    420,  # CANNOT_UPDATE_COLUMN
    440,  # INVALID_LIMIT_EXPRESSION
    450,  # TYPE_MISMATCH of a TTL expression (checked at creation)
    452,  # SETTING_CONSTRAINT_VIOLATION
    457,  # ILLEGAL_TYPE_OF_COLUMN_FOR_FILTER
    497,  # ACCESS_DENIED
    516,  # AUTHENTICATION_FAILED
    517,  # CANNOT_ASSIGN_ALTER
    524,  # ALTER_OF_COLUMN_IS_FORBIDDEN
    548,  # UNKNOWN_POLICY ... (storage policy named by a CREATE)
    630,  # HAVE_DEPENDENT_OBJECTS
})

Outcome = Literal["applied", "not_applied", "unknown", "no_record"]


@dataclass(frozen=True)
class Lookup:
    """What the server's record says of one statement."""

    outcome: Outcome
    source: str  # "system.query_log", "system.processes", or why no record could be read
    error: str = ""  # the exception the server recorded, if any


def statement_id(run_id: str, version: str, index: int) -> str:
    """The id a statement is sent with: unique per run, version and statement."""
    return f"chmigrate-{run_id}-{version}-{index}"


def is_no_effect(code: int | None) -> bool:
    return code is not None and code in NO_EFFECT_CODES


def lookup(ch: ClickHouse, qid: str, *, sent_at: float, server_clock: bool = False, wait: float = 60.0) -> Lookup:
    """Ask the server what became of the statement sent with id `qid` at (about) unix time `sent_at`, read
    from this machine's clock, or from the server's with `server_clock` (a ledger row's time)."""
    if ch.embedded:
        return Lookup("no_record", "the embedded engine keeps no query log across runs")
    try:
        deadline = time.monotonic() + wait
        while _running(ch, qid):
            if time.monotonic() > deadline:
                return Lookup("unknown", f"system.processes: still running after {wait:g} s")
            time.sleep(0.5)
        flushed = _flush(ch)
        rows = ch.query(
            "SELECT toString(type), exception FROM system.query_log"
            " WHERE (query_id = {q:String} OR log_comment = {q:String}) AND event_date >= yesterday()"
            # a migration statement is never a SET or USE (they are refused in files): such entries carrying
            # the id are a client applying its settings that way, not the statement
            " AND query_kind NOT IN ('Set', 'Use')"
            " ORDER BY event_time_microseconds", {"q": qid})
    except DatabaseError as exc:
        if exc.code in (60, 81):  # no system.query_log on this server
            return Lookup("no_record", "the server keeps no system.query_log")
        return Lookup("unknown", f"could not read the server's record: {exc.message}")
    types = [str(r[0]) for r in rows]
    errors = [str(r[1]) for r in rows if r[1]]
    if "QueryFinish" in types:
        return Lookup("applied", "system.query_log")
    if "ExceptionWhileProcessing" in types:
        return Lookup("unknown", "system.query_log: stopped while processing", errors[-1] if errors else "")
    if "ExceptionBeforeStart" in types:
        return Lookup("not_applied", "system.query_log", errors[-1] if errors else "")
    if types:  # QueryStart only: the server went away while running it
        return Lookup("unknown", "system.query_log: started, never finished")
    if flushed and not _restarted_since(ch, sent_at, server_clock):
        return Lookup("not_applied", "system.query_log: never received")
    return Lookup("no_record", "system.query_log has no entry (logs not flushed, or the server restarted)")


def _running(ch: ClickHouse, qid: str) -> bool:
    rows = ch.query("SELECT count() FROM system.processes WHERE query_id = {q:String}"
                    " OR Settings['log_comment'] = {q:String}", {"q": qid})
    return bool(rows and rows[0][0])


def _flush(ch: ClickHouse) -> bool:
    try:
        ch.execute("SYSTEM FLUSH LOGS")
        return True
    except DatabaseError:
        return False  # not permitted: an entry may still be in the server's buffer


def _restarted_since(ch: ClickHouse, sent_at: float, server_clock: bool) -> bool:
    """Did the server start after `sent_at`? Compared on one clock: the two machines' clocks may differ."""
    rows = ch.query("SELECT toUnixTimestamp(now()), uptime()")
    now, uptime = (float(rows[0][0]), float(rows[0][1])) if rows else (0.0, 0.0)
    elapsed = (now if server_clock else time.time()) - sent_at
    return uptime < elapsed + 1.0
