"""Turn result objects into text rows and JSON documents (no I/O here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from chmigrate.cli.wording import check_title, lock_reason, plan_lock, problem_line, refusal, state_detail
from chmigrate.results import (
    BackfillPartition,
    BackfillResult,
    DestructionReport,
    EngineStart,
    LockResult,
    OnReplica,
    PlannedStatement,
    PlanResult,
    Recovery,
    ReleasedClaim,
    Replica,
    ReplicaDisagreement,
    SentStatement,
    StatusResult,
    TargetPlan,
    TargetStatus,
    TargetUpResult,
    UpResult,
)

if TYPE_CHECKING:
    from chmigrate.api import DiffResult, VerifyResult
    from chmigrate.operations.drift import BaselineResult
    from chmigrate.results import DoctorResult

JSON_VERSION = 1
EXISTS_NOTE = ": its object already exists, `up` refuses (see `chmigrate baseline`)"


def status_document(result: StatusResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": JSON_VERSION}
    for t in result.targets:
        doc[t.engine] = {
            "target": t.target,
            "embedded": t.embedded,
            "migrations": [
                {"version": m.version, "name": m.name, "state": m.state, "checksum": m.checksum,
                 "applied_at": m.applied_at, "detail": state_detail(m.detail) or None,
                 "reason": m.detail.reason if m.detail else None}
                for m in t.migrations
            ],
        }
        if t.cluster is not None:
            doc[t.engine] |= {"cluster": t.cluster, "replicas": [
                replica_dict(r.replica) | {"agrees": r.agrees, "differs": list(r.differs),
                                           "migrations": [{"version": m.version, "state": m.state}
                                                          for m in r.migrations]}
                for r in t.replicas]}
    return doc


def replica_dict(r: Replica) -> dict[str, Any]:
    return {"replica": r.label, "host": r.host, "port": r.port, "shard": r.shard, "replica_num": r.number}


def replica_status_lines(t: TargetStatus) -> list[str]:
    """With a cluster: one line per replica, its ledger against the target's."""
    states = {m.version: m.state for m in t.migrations}
    lines = []
    for r in t.replicas:
        counts: dict[str, int] = {}
        for m in r.migrations:
            counts[m.state] = counts.get(m.state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in counts.items()) or "no migrations"
        if r.agrees:
            lines.append(f"  replica {r.replica.label}: {summary}, as the target")
        else:
            mine = {m.version: m.state for m in r.migrations}
            what = "; ".join(f"{v} {mine.get(v, 'absent')} (the target: {states.get(v, 'absent')})"
                             for v in r.differs)
            lines.append(f"  replica {r.replica.label}: DISAGREES: {what}")
    return lines


def status_rows(t: TargetStatus) -> list[list[str]]:
    return [[m.version, m.name, m.state, (m.checksum or "")[:12], m.applied_at or "", state_detail(m.detail)]
            for m in t.migrations]


def target_heading(engine: str, target: str, embedded: bool) -> str:
    what = "ClickHouse" if engine == "clickhouse" else "PostgreSQL"
    if embedded:
        return f"{what}: local embedded engine ({target})" if engine == "clickhouse" else \
            f"{what}: local embedded server ({target})"
    return f"{what}: {target}"


def plan_document(result: PlanResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": JSON_VERSION}
    for t in result.targets:
        doc[t.engine] = {"target": t.target, "embedded": t.embedded,
                         "statements": [asdict(s) for s in t.statements], "notes": plan_notes(t),
                         "lock": t.lock or None, "script": [asdict(s) for s in t.script],
                         "migrations": plan_migrations(t.statements)}
    return doc


def plan_migrations(statements: Sequence[PlannedStatement]) -> list[dict[str, Any]]:
    """Per migration, in order, its statements exactly as they are sent (with a cluster: rewritten)."""
    out: list[dict[str, Any]] = []
    for s in statements:
        if not out or out[-1]["version"] != s.version or out[-1]["file"] != s.path:
            out.append({"version": s.version, "name": s.name, "file": s.path, "statements": []})
        out[-1]["statements"].append(s.sql)
    return out


def up_document(result: UpResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": JSON_VERSION}
    for t in result.targets:
        doc[t.engine] = {"target": t.target, "embedded": t.embedded, "dry_run": t.dry_run,
                         "applied": [asdict(a) for a in t.applied], "notes": up_notes(t),
                         "lock": asdict(t.lock) if t.lock else None,
                         "recovered": [asdict(r) for r in t.recovered],
                         "accepted": [asdict(a) for a in t.accepted],
                         "statements": [asdict(s) for s in t.statements],
                         "script": [asdict(s) for s in t.script], **destruction_fields(t)}
    return doc


def script_lines(statements: Sequence[PlannedStatement], script: Sequence[SentStatement], lock: str) -> list[str]:
    """The SQL `up` would send, in order, as a script: migration statements as SQL under a comment naming
    their file, statement and line; the lock, ledger writes and setup as comments."""
    where = {(s.version, s.index): s for s in statements}
    lines = [f"-- lock: {plan_lock(lock)}"] if lock else []
    current = None
    for sent in script:
        if sent.kind != "statement":
            text = " ".join(sent.sql.split())
            lines.append(f"-- {sent.kind}: {text[:160]}{'...' if len(text) > 160 else ''}")
            continue
        s = where.get((sent.version or "", sent.index or 0))
        if s is not None and s.path != current:
            current = s.path
            lines.append(f"\n-- version {s.version}: {s.path}")
        if s is not None:
            lines.append(f"-- statement {s.index} (line {s.line})" + (EXISTS_NOTE if s.exists else ""))
        settings = ", ".join(f"{k} = {v}" for k, v in sent.settings if k not in ("query_id", "log_comment"))
        if settings:
            lines.append(f"-- settings: {settings}")
        lines.append(sent.sql.rstrip() + ";")
    return lines


def lock_line(lock: LockResult) -> str:
    waited = f", waited {lock.waited_seconds:.1f} s" if lock.waited_seconds >= 0.5 else ""
    why = lock_reason(lock)
    reason = f"; {why}" if why else ""
    return f"lock: {lock.kind} ({lock.guarantee}{waited}{reason})"


def recovery_line(r: Recovery) -> str:
    if r.outcome == "applied":
        return f"{r.version} statement {r.statement}: an interrupted run's statement had finished ({r.source})"
    if r.outcome == "not_applied":
        return f"{r.version} statement {r.statement}: an interrupted run's statement never ran ({r.source}): " \
               "running it now"
    return f"{r.version} statement {r.statement}: outcome still unknown ({r.source})"


def started_line(s: EngineStart) -> str:
    return f"embedded PostgreSQL {s.how} in {s.seconds:.2f} s (port {s.port})"


def plan_notes(t: TargetPlan) -> list[str]:
    """The notes under a target's plan: how its embedded server was had; for Postgres, how revisions run."""
    lines = [started_line(t.started)] if t.started else []
    if t.engine == "postgres":
        lines.append("nothing to apply: every revision is applied" if not t.statements else
                     "each revision runs in its own transaction; the first also creates the version table "
                     "when missing")
    return lines


def run_notes(t: TargetUpResult) -> list[str]:
    """The facts of a run besides its progress, as lines: embedded server, Postgres revisions reached."""
    lines = [started_line(t.started)] if t.started else []
    if t.dry_run and t.engine == "postgres":
        lines.append("each revision runs in its own transaction; the first also creates the version table "
                     "when missing")
    if t.at is not None:
        where = ", ".join(t.at) or "base"
        lines.append(f"reverted {len(t.applied)} revision(s); now at {where}" if t.applied else
                     f"nothing to apply: already at {where}")
    return lines


def up_notes(t: TargetUpResult) -> list[str]:
    """The lines `up` prints under a target's heading, besides its progress."""
    lines = [lock_line(t.lock)] if t.lock else []
    lines += [recovery_line(r) for r in t.recovered]
    lines += [f"accepted the edited file of {a.version} (previous checksum {a.previous_checksum[:12]})"
              for a in t.accepted]
    if t.snapshot_written:
        lines.append(f"snapshot: {t.snapshot_written} was stale, rewritten (commit it with the migrations)")
    return lines + run_notes(t)


def down_document(result: UpResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": JSON_VERSION}
    for t in result.targets:
        doc[t.engine] = {"target": t.target, "embedded": t.embedded, "dry_run": t.dry_run,
                         "reverted": [asdict(a) for a in t.applied], "notes": up_notes(t),
                         **destruction_fields(t)}
    return doc


def destruction_fields(t: TargetUpResult) -> dict[str, Any]:
    """What a run destroyed (a dry run: would destroy), how that was consented to, and a protected setting."""
    return {"destroyed": [asdict(i) for i in t.destroyed.items], "destroyed_rows": t.destroyed.rows,
            "destroyed_bytes": t.destroyed.bytes, "consent": t.consent, "protected": t.protected}


def destruction_lines(report: DestructionReport) -> list[str]:
    """Each statement that destroys stored data, with the object, its rows and bytes."""
    from chmigrate.operations.destruction import human_bytes

    lines = []
    for i in report.items:
        part = "down statement" if i.direction == "down" else "statement"
        sql = " ".join(i.sql.split())
        lines.append(f"{i.version} {part} {i.index}: {sql[:160]}{'...' if len(sql) > 160 else ''}")
        lines.append(f"    {i.object}: {i.what}: {i.rows:,} rows, {human_bytes(i.bytes)}")
    return lines


def diff_document(result: DiffResult) -> dict[str, Any]:
    from chmigrate.schema.render import change_dict

    doc: dict[str, Any] = {"version": JSON_VERSION, "drift": result.drift}
    ch, pg = result.clickhouse, result.postgres
    if ch is not None:
        doc["clickhouse"] = {"target": ch.target, "embedded": ch.embedded, "database": ch.database,
                             "changes": [change_dict(c) for c in ch.changes]}
        if ch.cluster is not None:  # each change names the replicas that have it; each replica its changes
            for c, d in zip(ch.changes, doc["clickhouse"]["changes"]):
                d["replicas"] = [r.replica.label for r in ch.replicas if c in r.changes]
            doc["clickhouse"] |= {"cluster": ch.cluster, "replicas": [
                replica_dict(r.replica) | {"version": r.engine_version,
                                           "changes": [change_dict(c) for c in r.changes],
                                           "differs_from_first": [change_dict(c) for c in r.disagreements]}
                for r in ch.replicas]}
    if pg is not None:
        doc["postgres"] = {"target": pg.target, "embedded": pg.embedded,
                           "changes": [{"kind": "postgres_drift", "detail": d} for d in pg.differences]}
    return doc


def verify_document(result: VerifyResult) -> dict[str, Any]:
    checks = []
    for c in result.checks:
        check: dict[str, Any] = {"engine": c.engine, "code": c.code, "check": check_title(c), "passed": c.passed,
                                 "details": [problem_line(p) for p in c.problems]}
        named = [p.replica for p in c.problems if isinstance(p, (OnReplica, ReplicaDisagreement))]
        if named:  # with a cluster: the replica each detail is about, in the same order
            check["replicas"] = named
        checks.append(check)
    return {"version": JSON_VERSION, "passed": result.passed, "checks": checks}


def baseline_document(result: BaselineResult) -> dict[str, Any]:
    from chmigrate.schema.render import change_dict

    return {"version": JSON_VERSION, "clickhouse": {
        "target": result.target, "embedded": result.embedded, "database": result.database,
        "baselined": result.adopted, "recorded": list(result.recorded), "dry_run": result.dry_run,
        "reconciled": list(result.statements),
        "refused": [{"change": change_dict(c), "code": why, "reason": refusal(why)} for c, why in result.refused],
        "recorded_by": result.recorded_by, "recorded_at": result.recorded_at,
        "changes": [change_dict(c) for c in result.changes]}}


def resolve_document(version: str, outcome: str, detail: str) -> dict[str, Any]:
    return {"version": JSON_VERSION, "clickhouse": {"resolved": version, "outcome": outcome, "detail": detail}}


def released_line(c: ReleasedClaim) -> str:
    state = "live" if c.live else "expired"
    return f"released the {c.kind} claim of {c.holder} on {c.host} ({state}; claimed {c.claimed_at} UTC)"


def unlock_document(released: Sequence[ReleasedClaim]) -> dict[str, Any]:
    return {"version": JSON_VERSION, "clickhouse": {"released": [asdict(c) for c in released]}}


def doctor_document(result: DoctorResult) -> dict[str, Any]:
    from chmigrate.cli.wording import DOCTOR_TITLES, finding_lines

    findings = []
    for f in result.findings:
        text, step = finding_lines(f)
        findings.append({"check": f.check, "title": DOCTOR_TITLES[f.check], "status": f.status, "code": f.code,
                         "finding": text, "next_step": step, "facts": dict(f.facts),
                         "days": [asdict(d) for d in f.days],
                         "models": [{"model": m, "events": n} for m, n in f.models],
                         "views": list(f.views),
                         "checks": [{"engine": c.engine, "code": c.code, "check": check_title(c),
                                     "details": [problem_line(p) for p in c.problems]} for c in f.checks]})
    counts = {s: sum(f.status == s for f in result.findings) for s in ("pass", "warn", "fail", "skip")}
    return {"version": JSON_VERSION, "passed": not result.failed, "counts": counts,
            "clickhouse": result.clickhouse, "postgres": result.postgres, "since_seconds": result.since_seconds,
            "findings": findings}


def backfill_line(p: BackfillPartition) -> str:
    if p.status == "current":
        return f"partition {p.partition}: left alone, rows may still arrive (add --include-current)"
    if p.status == "expiring":
        return f"partition {p.partition}: left alone, {p.note}"
    if p.status == "would_rebuild":
        return f"partition {p.partition}: would rebuild from {p.source_rows:,} source rows"
    if p.status == "empty":
        return f"partition {p.partition}: the view gives no rows from {p.source_rows:,} source rows; left as it was"
    return (f"partition {p.partition}: rebuilt from {p.source_rows:,} source rows, {p.rows_written:,} rows "
            f"({p.seconds:.2f} s)")


def backfill_document(result: BackfillResult, seconds: float) -> dict[str, Any]:
    rebuilt = sum(p.source_rows for p in result.partitions if p.status == "rebuilt")
    return {"version": JSON_VERSION, "view": result.view, "target": result.target, "source": result.source,
            "dry_run": result.dry_run, "partitions": [asdict(p) for p in result.partitions],
            "cleaned_staging": list(result.cleaned_staging), "swap": result.swap, "seconds": round(seconds, 3),
            "source_rows_per_second": round(rebuilt / seconds) if rebuilt and seconds else None}
