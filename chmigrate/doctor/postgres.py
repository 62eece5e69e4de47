"""doctor's Postgres checks: the prices the orchestrator computes costs from, and River's jobs.

Each query runs in a read-only transaction with a statement timeout (Postgres.read) and reads through an
index: model_pricing by its identity (newest row) and its (model, effective_at, id) index; river_job by
River's own indexes on (state, ...) and (kind).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from chmigrate.results import Finding
from chmigrate.settings import DoctorSettings
from chmigrate.targets.postgres import Postgres


def _split(qualified: str) -> tuple[str, str]:
    schema, _, table = qualified.rpartition(".")
    return schema or "public", table


def _quoted(qualified: str) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in _split(qualified))


def _exists(pg: Postgres, qualified: str, timeout: float) -> bool:
    schema, table = _split(qualified)
    rows = pg.read("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = :s AND tablename = :t",
                   {"s": schema, "t": table}, timeout=timeout)
    return bool(rows)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _ts(value: Any) -> str | None:
    return None if value is None else _utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def pricing(pg: Postgres, cfg: DoctorSettings, models: tuple[tuple[str, int], ...]) -> list[Finding]:
    """model_pricing has rows, its newest fetch is recent, and every model seen in the window has a price."""
    t = cfg.query_timeout
    table = cfg.pricing_table
    if not _exists(pg, table, t):
        return [Finding("pricing", "fail", "no_table", (("table", table),))]
    newest = pg.read(f"SELECT fetched_at, now() FROM {_quoted(table)} ORDER BY id DESC LIMIT 1", timeout=t)
    if not newest:
        return [Finding("pricing", "fail", "pricing_empty", (("table", table),))]
    fetched_at, now = _utc(newest[0][0]), _utc(newest[0][1])
    found: list[Finding] = []
    age = max(0.0, (now - fetched_at).total_seconds())
    if age > cfg.pricing_max_age:
        found.append(Finding("pricing", "warn", "pricing_stale", (("table", table), ("fetched_at", _ts(fetched_at)),
                                                                  ("age_seconds", age),
                                                                  ("threshold_seconds", cfg.pricing_max_age))))
    names = [m for m, _ in models]
    priced: set[str] = set()
    if names:
        # one index probe per model (model_pricing_latest_idx), not a scan of the price history
        rows = pg.read(f"SELECT m FROM unnest(CAST(:names AS text[])) AS m WHERE EXISTS "
                       f"(SELECT 1 FROM {_quoted(table)} p WHERE p.model = m)", {"names": names}, timeout=t)
        priced = {str(r[0]) for r in rows}
    unpriced = tuple((m, n) for m, n in models if m not in priced)
    if unpriced:
        found.append(Finding("pricing", "fail", "unpriced_models", (("table", table),
                                                                    ("window_seconds", cfg.since)), models=unpriced))
    if not found:
        found.append(Finding("pricing", "pass", "priced", (("table", table), ("models", len(priced)),
                                                           ("fetched_at", _ts(fetched_at)))))
    return found


def river(pg: Postgres, cfg: DoctorSettings) -> list[Finding]:
    """usage_write jobs stuck in retryable or discarded, and how the latest pricing_refresh job ended."""
    t = cfg.query_timeout
    table = cfg.river_table
    if not _exists(pg, table, t):
        return [Finding("river", "skip", "no_table", (("table", table),))]
    q = _quoted(table)
    # retryable: every such job (each is waiting to run again); discarded: those finalized in the window
    counts = dict(pg.read(
        f"SELECT state::text, count(*) FROM {q} WHERE kind = 'usage_write' AND (state = 'retryable' OR "
        f"(state = 'discarded' AND finalized_at >= now() - make_interval(secs => :since))) GROUP BY state",
        {"since": cfg.since}, timeout=t))
    found: list[Finding] = []
    retryable, discarded = int(counts.get("retryable", 0)), int(counts.get("discarded", 0))
    if retryable or discarded:
        found.append(Finding("river", "fail", "usage_write_stuck", (("table", table), ("retryable", retryable),
                                                                    ("discarded", discarded),
                                                                    ("window_seconds", cfg.since))))
    latest = pg.read(f"SELECT id, state::text, finalized_at, created_at, now() FROM {q} "
                     f"WHERE kind = 'pricing_refresh' ORDER BY id DESC LIMIT 1", timeout=t)
    if not latest:
        found.append(Finding("river", "warn", "refresh_none", (("table", table),)))
    else:
        job_id, state, finalized_at, created_at, now = latest[0]
        facts = (("table", table), ("id", int(job_id)), ("state", str(state)), ("finalized_at", _ts(finalized_at)),
                 ("created_at", _ts(created_at)))
        if state in ("discarded", "cancelled"):
            found.append(Finding("river", "fail", "refresh_failed", facts))
        elif state != "completed" or finalized_at is None:
            found.append(Finding("river", "warn", "refresh_pending", facts))
        elif (age := (_utc(now) - _utc(finalized_at)).total_seconds()) > cfg.pricing_max_age:
            found.append(Finding("river", "warn", "refresh_stale",
                                 facts + (("age_seconds", age), ("threshold_seconds", cfg.pricing_max_age))))
        elif not found:
            found.append(Finding("river", "pass", "river_ok", facts))
    return found
