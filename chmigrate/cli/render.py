"""Turn result objects into text rows and JSON documents (no I/O here)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from chmigrate.results import PlanResult, StatusResult, TargetStatus, UpResult

if TYPE_CHECKING:
    from chmigrate.api import DiffResult, VerifyResult
    from chmigrate.operations.drift import BaselineResult

JSON_VERSION = 1


def status_document(result: StatusResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": JSON_VERSION}
    for t in result.targets:
        doc[t.engine] = {
            "target": t.target,
            "embedded": t.embedded,
            "migrations": [
                {"version": m.version, "name": m.name, "state": m.state, "checksum": m.checksum,
                 "applied_at": m.applied_at, "detail": m.detail}
                for m in t.migrations
            ],
        }
    return doc


def status_rows(t: TargetStatus) -> list[list[str]]:
    return [[m.version, m.name, m.state, (m.checksum or "")[:12], m.applied_at or "", m.detail or ""]
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
                         "statements": [asdict(s) for s in t.statements], "notes": list(t.notes)}
    return doc


def up_document(result: UpResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": JSON_VERSION}
    for t in result.targets:
        doc[t.engine] = {"target": t.target, "embedded": t.embedded, "dry_run": t.dry_run,
                         "applied": [asdict(a) for a in t.applied], "notes": list(t.notes)}
    return doc


def down_document(result: UpResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": JSON_VERSION}
    for t in result.targets:
        doc[t.engine] = {"target": t.target, "embedded": t.embedded, "dry_run": t.dry_run,
                         "reverted": [asdict(a) for a in t.applied], "notes": list(t.notes)}
    return doc


def diff_document(result: DiffResult) -> dict[str, Any]:
    from chmigrate.schema.render import change_dict

    doc: dict[str, Any] = {"version": JSON_VERSION, "drift": result.drift}
    ch, pg = result.clickhouse, result.postgres
    if ch is not None:
        doc["clickhouse"] = {"target": ch.target, "embedded": ch.embedded, "database": ch.database,
                             "changes": [change_dict(c) for c in ch.changes]}
    if pg is not None:
        doc["postgres"] = {"target": pg.target, "embedded": pg.embedded,
                           "changes": [{"kind": "postgres_drift", "detail": d} for d in pg.differences]}
    return doc


def verify_document(result: VerifyResult) -> dict[str, Any]:
    return {"version": JSON_VERSION, "passed": result.passed,
            "checks": [{"engine": c.engine, "check": c.name, "passed": c.passed, "details": list(c.details)}
                       for c in result.checks]}


def baseline_document(result: BaselineResult) -> dict[str, Any]:
    from chmigrate.schema.render import change_dict

    return {"version": JSON_VERSION, "clickhouse": {
        "target": result.target, "embedded": result.embedded, "database": result.database,
        "baselined": not result.changes, "recorded": list(result.recorded),
        "changes": [change_dict(c) for c in result.changes]}}


def resolve_document(version: str, outcome: str, detail: str) -> dict[str, Any]:
    return {"version": JSON_VERSION, "clickhouse": {"resolved": version, "outcome": outcome, "detail": detail}}


def unlock_document(released: list[str]) -> dict[str, Any]:
    return {"version": JSON_VERSION, "clickhouse": {"released": released}}
