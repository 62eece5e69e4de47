"""Run planned steps against ClickHouse, recording each step in the ledger.

Request budget on the happy path: per migration at most one ledger write (its
`started` row, which also carries the previous migration's `applied` row) and
its statements, plus one write at the end of the run; migrations made only of
statements that are harmless to repeat share one write per MAX_DEFER_SECONDS.
Around every statement whose repetition is not harmless (see `rerun`), a
`progress` row is written before and after it, so that after a crash the next
run knows whether that statement was sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from chmigrate.errors import ConnectionFailed, DatabaseError, LockLost, StatementFailed
from chmigrate.migrations.cluster import DDL_OUTPUT_MODE, ClusterDDL
from chmigrate.migrations.discovery import Migration, Statement
from chmigrate.migrations.distributed import ClusterOutcome, from_reply, host_error, streamed_error, timed_out
from chmigrate.migrations.ledger import ConsentNote, Ledger, Subject, cumulative_hash
from chmigrate.migrations.mutations import UNFINISHED, failed_mutation, mutation_target
from chmigrate.migrations.outcome import is_no_effect, lookup, statement_id
from chmigrate.migrations.planner import Step
from chmigrate.migrations.rerun import is_rerunnable
from chmigrate.results import AppliedMigration
from chmigrate.targets.clickhouse import ClickHouse

# Sent with every migration statement: ALTERs return once their mutation ran on every part (or failed), an
# INSERT is durable before the next statement, and the server logs the statement so that its outcome can be
# read back after a crash. A migration's `-- chmigrate:settings` header adds to or overrides these.
STATEMENT_SETTINGS: dict[str, int | str] = {"mutations_sync": 2, "alter_sync": 2, "async_insert": 0,
                                            "log_queries": 1}


def statement_settings(migration: Migration, qid: str, extra: Mapping[str, int | str] | None = None,
                       ) -> dict[str, int | str]:
    """`extra`: the distributed DDL settings of a statement sent to a cluster (ClusterDDL.settings); the
    migration's header still overrides them."""
    settings = dict(STATEMENT_SETTINGS)
    settings.update(extra or {})
    settings.update(dict(migration.settings))
    settings["log_comment"] = qid
    settings["query_id"] = qid
    return settings


def send(ch: ClickHouse, migration: Migration, sql: str, qid: str, database: str,
         cluster: ClusterDDL | None = None) -> ClusterOutcome | None:
    """Send one migration statement (rewritten for `cluster` when one is configured); a mutation it created
    that failed fails it, with the server's reason. For an ON CLUSTER statement, returns what each host
    replied (see migrations.distributed)."""
    target = mutation_target(sql)
    sent = cluster.statement(sql) if cluster else sql
    extra = cluster.settings(sent) if cluster else {}
    settings = statement_settings(migration, qid, extra)
    began = time.time()
    outcome = None
    try:
        if extra.get("distributed_ddl_output_mode") == DDL_OUTPUT_MODE:
            reply = ch.execute_reply(sent, settings=settings)
            if (streamed := streamed_error(reply)) is not None:
                raise DatabaseError(streamed[1], code=streamed[0])
            outcome = from_reply(reply)
        else:
            ch.execute(sent, settings=settings)
    except DatabaseError as exc:
        if target is not None and exc.code == UNFINISHED:
            why = failed_mutation(ch, target, database, began, known_failed=True) or exc.message
            raise DatabaseError(f"the mutation failed: {why}", code=exc.code) from exc
        raise
    if target is not None:
        reason = failed_mutation(ch, target, database, began, known_failed=False)
        if reason:
            raise DatabaseError(f"the mutation failed: {reason}", code=UNFINISHED)
    return outcome


class Reporter(Protocol):
    """Progress callbacks; the CLI renders them, the library never prints."""

    # `direction` is "up" (applying) or "down" (reverting: the statements are the file's down part)
    def migration_started(self, migration: Migration, start: int, direction: str = "up") -> None: ...

    def statement_started(self, migration: Migration, statement: Statement) -> None: ...

    def statement_done(self, migration: Migration, statement: Statement, seconds: float,
                       direction: str = "up") -> None: ...

    def migration_done(self, migration: Migration, seconds: float, direction: str = "up") -> None: ...


class NullReporter:
    def migration_started(self, migration: Migration, start: int, direction: str = "up") -> None:
        pass

    def statement_started(self, migration: Migration, statement: Statement) -> None:
        pass

    def statement_done(self, migration: Migration, statement: Statement, seconds: float,
                       direction: str = "up") -> None:
        pass

    def migration_done(self, migration: Migration, seconds: float, direction: str = "up") -> None:
        pass


def apply_steps(ch: ClickHouse, ledger: Ledger, steps: Sequence[Step],
                reporter: Reporter | None = None, check: Callable[[], None] = lambda: None,
                wait: float = 60.0, consents: Mapping[str, ConsentNote] | None = None,
                cluster: ClusterDDL | None = None) -> list[AppliedMigration]:
    """Apply steps in order; `check` runs before each statement and raises when the run lock was lost.
    `consents`: per version, the consent to the data its statements destroy (recorded on its `started` row).
    `cluster`: how statements are rewritten for a replicated target (None: sent as written)."""
    reporter = reporter or NullReporter()
    done: list[AppliedMigration] = []
    quiet = [rerunnable(step) for step in steps]
    try:
        for i, step in enumerate(steps):
            # The `applied` row may wait for the next write only when that write comes at once (the next
            # migration records its start immediately) or when a crash before it would be harmless.
            defer_applied = quiet[i] or i + 1 == len(steps) or not quiet[i + 1]
            done.append(apply_step(ch, ledger, step, reporter, defer_applied=defer_applied, check=check,
                                   wait=wait, consent=(consents or {}).get(step.migration.version),
                                   cluster=cluster))
    except BaseException:
        with contextlib.suppress(DatabaseError):  # keep the original error
            ledger.flush()
        raise
    ledger.flush()
    return done


def _as_sent(stmt: Statement, cluster: ClusterDDL | None) -> Statement:
    """The statement as the progress report shows it (`--verbose` prints it in full): as it is sent."""
    return dataclasses.replace(stmt, sql=cluster.statement(stmt.sql)) if cluster else stmt


def rerunnable(step: Step) -> bool:
    """A fresh migration whose every statement is harmless to repeat."""
    return step.start == 1 and all(is_rerunnable(s.sql) for s in step.migration.up)


def apply_step(ch: ClickHouse, ledger: Ledger, step: Step, reporter: Reporter, *,
               defer_applied: bool = True, check: Callable[[], None] = lambda: None,
               wait: float = 60.0, consent: ConsentNote | None = None,
               cluster: ClusterDDL | None = None) -> AppliedMigration:
    m = step.migration
    n = len(m.up)
    began = time.time()
    completed = step.start - 1
    h = cumulative_hash(s.raw for s in m.up[:completed])
    subject = Subject(m.version, m.name, m.checksum, n)
    # A fresh migration whose every statement is harmless to repeat needs no durable `started` mark: after a
    # crash it is simply pending and runs again from its first statement. Its rows then ride with a later
    # write (at most MAX_DEFER_SECONDS later), which keeps long runs of such migrations at about one request
    # per statement.
    ledger.record(subject, event="started", statement_index=completed, cumulative_hash=h, started_at=began,
                  defer=rerunnable(step) and consent is None, consent=consent)
    reporter.migration_started(m, step.start)
    recorded = completed  # the last statement count the ledger knows to be done
    tallies: list[str] = []  # per ON CLUSTER statement: "index=confirmed/hosts"
    for stmt in m.up[completed:]:
        harmless = is_rerunnable(stmt.sql)
        if not harmless and recorded != completed:
            # Mark the point before a statement whose repetition would do harm.
            ledger.record(subject, event="progress", statement_index=completed, cumulative_hash=h, started_at=began,
                          hosts=" ".join(tallies))
            recorded = completed
        try:
            check()
        except LockLost:
            # Say that statement stmt.index was never sent, so that the next run resumes there even where the
            # server keeps no query log. The ledger honours the row only if no other run wrote about this
            # version in between (see ledger.fold), so writing it without the lock is harmless.
            with contextlib.suppress(DatabaseError):
                ledger.record(subject, event="stopped", statement_index=completed, cumulative_hash=h,
                              started_at=began, error=f"lost the run lock before statement {stmt.index}")
            raise
        reporter.statement_started(m, _as_sent(stmt, cluster))
        t0 = time.perf_counter()
        qid = statement_id(ledger.run_id, m.version, stmt.index)
        sent_at = time.time()
        try:
            outcome = send(ch, m, stmt.sql, qid, ledger.database, cluster)
        except DatabaseError as exc:
            verdict, error = _verdict(ch, exc, qid, sent_at, wait, clustered=cluster is not None)
            if verdict != "applied":
                _record_failure(ledger, subject, unknown=verdict == "unknown", completed=completed, h=h,
                                failed=stmt.index, error=error, began=began)
                hint = None
                if verdict == "unknown" and cluster is not None and timed_out(exc):
                    hint = (f"the hosts that have not finished still run it from the distributed DDL queue; "
                            f"`chmigrate up` again waits for that entry instead of sending the statement again "
                            f"(the wait is ddl_timeout, {cluster.timeout:g} s)")
                elif verdict == "unknown" and cluster is not None and host_error(exc.message):
                    hint = ("the other hosts may have applied it: fix that host, check each host's schema "
                            f"(`chmigrate verify`), then `chmigrate resolve {m.version} --applied` or "
                            "`--rolled-back`")
                elif verdict == "unknown":
                    hint = ("the statement's outcome is unknown (the server kept no record of it); check the "
                            f"database, then `chmigrate resolve {m.version} --applied` or `--rolled-back`, or "
                            "`chmigrate up` again once the server answers")
                raise StatementFailed(str(m.path), stmt.index, stmt.line, error, code=exc.code,
                                      hint=hint or exc.hint) from exc
        if outcome is not None and outcome.hosts:
            if outcome.failed:  # a reply that names failed hosts without raising (an output mode that allows it)
                bad = outcome.failed[0]
                _record_failure(ledger, subject, unknown=True, completed=completed, h=h, failed=stmt.index,
                                error=f"host {bad.host} failed it: {bad.error}", began=began)
                raise StatementFailed(str(m.path), stmt.index, stmt.line, f"host {bad.host} failed it: {bad.error}")
            tallies.append(f"{stmt.index}={outcome.tally()}")
        reporter.statement_done(m, _as_sent(stmt, cluster), time.perf_counter() - t0)
        completed = stmt.index
        h = cumulative_hash([stmt.raw], start=h)
        if not harmless and completed < n:
            ledger.record(subject, event="progress", statement_index=completed, cumulative_hash=h, started_at=began,
                          hosts=" ".join(tallies))
            recorded = completed
    seconds = time.time() - began
    # Deferred: sent with the next migration's `started` row (or flushed at the end of the run). A crash
    # before it is sent leaves this version in flight with every statement done: the next run records it.
    ledger.record(subject, event="applied", statement_index=n, cumulative_hash=h, started_at=began,
                  duration_ms=int(seconds * 1000), defer=defer_applied, hosts=" ".join(tallies))
    reporter.migration_done(m, seconds)
    return AppliedMigration(version=m.version, name=m.name, statements=n - step.start + 1,
                            duration_ms=int(seconds * 1000),
                            resumed_from=step.start if step.start > 1 else None)


def _verdict(ch: ClickHouse, exc: DatabaseError, qid: str, sent_at: float,
             wait: float, clustered: bool = False) -> tuple[str, str]:
    """'failed' (no effect), 'applied' (the reply was lost, the server finished it) or 'unknown'. On a
    cluster, a host's failure or a wait that ran out of time is 'unknown': other hosts may have applied it."""
    if clustered:
        named = host_error(exc.message)
        if named is not None:
            return "unknown", f"host {named[0]} failed it: {named[1]}"
        late = timed_out(exc)
        if late is not None:
            return "unknown", f"{late} (outcome unknown: the distributed DDL wait ran out of time)"
    if exc.code == UNFINISHED or (is_no_effect(exc.code) and not isinstance(exc, ConnectionFailed)):
        return "failed", exc.message
    found = lookup(ch, qid, sent_at=sent_at, wait=wait)
    if found.outcome == "applied":
        return "applied", ""
    if found.outcome == "not_applied":
        return "failed", exc.message
    return "unknown", f"{exc.message} (outcome unknown: {found.source})"


def _record_failure(ledger: Ledger, subject: Subject, *, unknown: bool, completed: int, h: str, failed: int,
                    error: str, began: float) -> None:
    try:
        ledger.record(subject, event="failed_unknown" if unknown else "failed", statement_index=completed,
                      cumulative_hash=h, failed_statement=failed, error=error, started_at=began,
                      duration_ms=int((time.time() - began) * 1000))
    except DatabaseError:
        pass  # the ledger still shows the run as started: the next run treats it as interrupted


def run_down(ch: ClickHouse, ledger: Ledger, m: Migration, reporter: Reporter | None = None,
             check: Callable[[], None] = lambda: None, consent: ConsentNote | None = None,
             cluster: ClusterDDL | None = None) -> AppliedMigration:
    """Run one version's down part, recording each statement (down runs are rare: no request budget);
    `consent` (to the data it destroys) is recorded on its `down_started` row."""
    reporter = reporter or NullReporter()
    statements = m.down or ()
    n = len(statements)
    began = time.time()
    subject = Subject(m.version, m.name, m.checksum, n)
    h = cumulative_hash(())
    ledger.record(subject, event="down_started", statement_index=0, cumulative_hash=h, started_at=began,
                  consent=consent)
    reporter.migration_started(m, 1, "down")
    for stmt in statements:
        check()
        reporter.statement_started(m, _as_sent(stmt, cluster))
        t0 = time.perf_counter()
        try:
            send(ch, m, stmt.sql, statement_id(ledger.run_id, m.version, -stmt.index), ledger.database, cluster)
        except DatabaseError as exc:
            try:
                ledger.record(subject, event="down_failed", statement_index=stmt.index - 1, cumulative_hash=h,
                              failed_statement=stmt.index, error=exc.message, started_at=began)
            except DatabaseError:
                pass
            raise StatementFailed(f"{m.path} (down part)", stmt.index, stmt.line, exc.message,
                                  code=exc.code) from None
        reporter.statement_done(m, _as_sent(stmt, cluster), time.perf_counter() - t0, "down")
        h = cumulative_hash([stmt.raw], start=h)
        if stmt.index < n:
            ledger.record(subject, event="down_progress", statement_index=stmt.index, cumulative_hash=h,
                          started_at=began)
    seconds = time.time() - began
    ledger.record(subject, event="rolled_back", statement_index=n, cumulative_hash=h, started_at=began,
                  duration_ms=int(seconds * 1000))
    reporter.migration_done(m, seconds, "down")
    return AppliedMigration(version=m.version, name=m.name, statements=n, duration_ms=int(seconds * 1000),
                            direction="down", sql=tuple(s.sql for s in statements))
