"""`chmigrate doctor`: the platform's troubleshooting list (../shared/SCHEMA.md, "What on-call checks"), run
as read-only checks over both databases. Each check yields findings (pass, warn, fail or skip) with a code
and the facts its sentence is made from (cli/wording.py says them); nothing here prints or writes.

The ClickHouse connection is opened once for the views, freshness and rollup checks and closed before
`verify` opens its own (the embedded engine admits one connection at a time); Postgres is opened once for
its verify checks, the prices and River's jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chmigrate.errors import DatabaseError
from chmigrate.results import DOCTOR_CHECKS, Check, DoctorCheck, DoctorResult, Finding
from chmigrate.settings import DoctorSettings, Settings

CLICKHOUSE_CHECKS: tuple[DoctorCheck, ...] = ("views", "freshness", "rollup")
POSTGRES_CHECKS: tuple[DoctorCheck, ...] = ("pricing", "river")


def guarded(check: DoctorCheck, fn: Callable[..., Any], *args: Any) -> list[Finding]:
    """Run one check; a query that fails becomes that check's finding, and the other checks still run."""
    try:
        out = fn(*args)
    except DatabaseError as exc:
        return [Finding(check, "fail", "query_failed", (("error", exc.message),))]
    return list(out) if isinstance(out, list) else [out]


def _skipped(checks: tuple[DoctorCheck, ...], code: Any, engine: str) -> list[Finding]:
    return [Finding(c, "skip", code, (("engine", engine),)) for c in checks]


def doctor(settings: Settings, *, since: float | None = None) -> DoctorResult:
    """Run every check on the configured databases. `since` (seconds) overrides the configured window."""
    settings.check_servers()
    cfg = settings.doctor if since is None else replace(settings.doctor, since=since)
    findings: list[Finding] = []
    verify: list[Check] = []
    reached: list[str] = []
    ch_label: str | None = None
    models: tuple[tuple[str, int], ...] = ()
    if settings.wants("clickhouse"):
        ch_label, models, found, checks = _clickhouse(settings, cfg)
        findings += found
        verify += checks
        if ch_label is not None:
            reached.append("clickhouse")
    else:
        findings += _skipped(("clickhouse.connect", *CLICKHOUSE_CHECKS), "not_configured", "clickhouse")
    pg_label = None
    if settings.wants("postgres"):
        pg_label, found, checks = _postgres(settings, cfg, models)
        findings += found
        verify += checks
        if pg_label is not None:
            reached.append("postgres")
    else:
        findings += _skipped(("postgres.connect", *POSTGRES_CHECKS), "not_configured", "postgres")
    if not reached:
        findings.append(Finding("verify", "skip", "engine_unreachable", (("engine", "clickhouse, postgres"),)))
    elif failing := tuple(c for c in verify if not c.passed):
        findings.append(Finding("verify", "fail", "verify_failed", checks=failing))
    elif not any(f.check == "verify" for f in findings):  # (a verify query that failed is reported already)
        findings.append(Finding("verify", "pass", "verify_passed", (("checks", len(verify)),)))
    order = {name: i for i, name in enumerate(DOCTOR_CHECKS)}
    findings.sort(key=lambda f: order[f.check])
    return DoctorResult(tuple(findings), environment=settings.environment, clickhouse=ch_label, postgres=pg_label,
                        since_seconds=cfg.since)


def _clickhouse(settings: Settings, cfg: DoctorSettings
                ) -> tuple[str | None, tuple[tuple[str, int], ...], list[Finding], list[Check]]:
    from chmigrate.connect import resolve_clickhouse
    from chmigrate.doctor import clickhouse as checks
    from chmigrate.targets.clickhouse import ClickHouse

    target = resolve_clickhouse(settings)
    found: list[Finding] = []
    models: tuple[tuple[str, int], ...] = ()
    try:
        ch = ClickHouse.connect(target.config)
    except DatabaseError as exc:
        found.append(Finding("clickhouse.connect", "fail", "unreachable", (("error", exc.message),)))
        return None, (), found + _skipped(CLICKHOUSE_CHECKS, "engine_unreachable", "clickhouse"), []
    try:
        label = ch.label
        r = checks.Reader(ch, target.database, cfg)
        try:
            found.append(Finding("clickhouse.connect", "pass", "connected", (("version", ch.server_version),
                                                                             ("target", label))))
            now = r.now()
        except DatabaseError as exc:
            found.append(Finding("clickhouse.connect", "fail", "unreachable", (("error", exc.message),)))
            return None, (), found + _skipped(CLICKHOUSE_CHECKS, "engine_unreachable", "clickhouse"), []
        found += guarded("views", checks.views, r)
        found += guarded("freshness", checks.freshness, r, now)
        found += guarded("rollup", checks.rollup, r, now)
        try:
            models = checks.models_seen(r, now)
        except DatabaseError:
            models = ()  # the freshness check has reported why the events cannot be read
    finally:
        ch.close()
    from chmigrate.operations.drift import clickhouse_verify

    try:
        verify = clickhouse_verify(target)
    except DatabaseError as exc:
        found.append(Finding("verify", "fail", "query_failed", (("error", exc.message),)))
        verify = []
    return label, models, found, verify


def _postgres(settings: Settings, cfg: DoctorSettings, models: tuple[tuple[str, int], ...]
              ) -> tuple[str | None, list[Finding], list[Check]]:
    from chmigrate.doctor import postgres as checks
    from chmigrate.engines import resolve_postgres
    from chmigrate.operations.drift import postgres_checks
    from chmigrate.targets.postgres import Postgres

    found: list[Finding] = []
    try:
        pg = Postgres.connect(resolve_postgres(settings))
    except DatabaseError as exc:
        found.append(Finding("postgres.connect", "fail", "unreachable", (("error", exc.message),)))
        return None, found + _skipped(POSTGRES_CHECKS, "engine_unreachable", "postgres"), []
    with pg:
        try:
            found.append(Finding("postgres.connect", "pass", "connected", (("version", pg.server_version),
                                                                           ("target", pg.label))))
        except DatabaseError as exc:
            found.append(Finding("postgres.connect", "fail", "unreachable", (("error", exc.message),)))
            return None, found + _skipped(POSTGRES_CHECKS, "engine_unreachable", "postgres"), []
        verify: list[Check] = []
        try:
            verify = postgres_checks(pg.status(), pg.drift())
        except DatabaseError as exc:
            found.append(Finding("verify", "fail", "query_failed", (("error", exc.message),)))
        found += guarded("pricing", checks.pricing, pg, cfg, models)
        found += guarded("river", checks.river, pg, cfg)
        return pg.label, found, verify
