"""Turn result objects into text rows and JSON documents (no I/O here)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chmigrate.results import PlanResult, StatusResult, TargetStatus, UpResult

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
