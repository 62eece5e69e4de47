"""doctor's ClickHouse checks: materialized views, freshness of the raw events, the rollup against them.

Every query is bounded: a time range on `event_time` / `day` that the partition keys (toYYYYMM of each)
prune on, a row limit where a result could grow, and `max_execution_time`. Nothing here writes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from chmigrate.operations.mvcheck import mv_target
from chmigrate.results import Finding, RollupDay
from chmigrate.settings import DoctorSettings
from chmigrate.targets.clickhouse import ClickHouse, quote_ident

MODEL_LIMIT = 1000  # models listed from the window (the platform has a few dozen)


class Reader:
    """Queries of one doctor run on one database, each with the run's time limit."""

    def __init__(self, ch: ClickHouse, database: str, cfg: DoctorSettings) -> None:
        self.ch, self.database, self.cfg = ch, database, cfg
        self.settings = {"max_execution_time": max(1, int(cfg.query_timeout))}

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.ch.query(sql, params, settings=self.settings)

    def table(self, name: str) -> str:
        return f"{quote_ident(self.database)}.{quote_ident(name)}"

    def now(self) -> datetime:
        """The server's clock (UTC): windows are the server's, not this machine's."""
        value: datetime = self.rows("SELECT now('UTC')")[0][0]
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def views(r: Reader) -> list[Finding]:
    """Every materialized view of the database (and the configured rollup view) is attached, and its source
    and `TO` target exist."""
    db = r.database
    mvs = r.rows("SELECT name, create_table_query FROM system.tables WHERE database = {d:String} "
                 "AND engine = 'MaterializedView' ORDER BY name LIMIT 10000", {"d": db})
    detached = r.rows("SELECT table, is_permanently FROM system.detached_tables WHERE database = {d:String} "
                      "ORDER BY table LIMIT 10000", {"d": db})
    sources = r.rows("SELECT name, dependencies_database, dependencies_table FROM system.tables "
                     "WHERE has(dependencies_database, {d:String}) LIMIT 10000", {"d": db})
    source_of: dict[str, str] = {}
    for name, dep_dbs, dep_tables in sources:
        for dep_db, dep_table in zip(dep_dbs, dep_tables):
            if dep_db == db:
                source_of.setdefault(str(dep_table), str(name))
    tables = {str(t[0]) for t in r.rows("SELECT name FROM system.tables WHERE database = {d:String} LIMIT 100000",
                                        {"d": db})}
    found: list[Finding] = []
    detached_names = {str(t): bool(p) for t, p in detached}
    for name, permanently in detached_names.items():
        found.append(Finding("views", "fail", "view_detached", (("view", f"{db}.{name}"),
                                                                ("permanently", permanently))))
    names = {str(n) for n, _ in mvs}
    if r.cfg.rollup_view not in names and r.cfg.rollup_view not in detached_names:
        found.append(Finding("views", "fail", "view_missing", (("view", f"{db}.{r.cfg.rollup_view}"),)))
    described = []
    for name, create in mvs:
        name = str(name)
        target = mv_target(str(create), db)
        source = source_of.get(name)
        if source is None:
            found.append(Finding("views", "fail", "view_no_source", (("view", f"{db}.{name}"),)))
        if target is not None and not (target[1] in tables if target[0] == db else r.ch.table_exists(*target)):
            found.append(Finding("views", "fail", "view_no_target", (("view", f"{db}.{name}"),
                                                                         ("target", f"{target[0]}.{target[1]}"))))
        into = f"{target[0]}.{target[1]}" if target else "its inner table"
        described.append(f"{db}.{name}: {source or '?'} -> {into}")
    if not found:
        found.append(Finding("views", "pass", "views_ok", views=tuple(described)))
    return found


def freshness(r: Reader, now: datetime) -> Finding:
    """Events in the last hour and the latest event_time in the window; a warning past the threshold."""
    cfg = r.cfg
    if not r.ch.table_exists(r.database, cfg.events_table):
        return Finding("freshness", "skip", "no_table", (("table", f"{r.database}.{cfg.events_table}"),))
    window = max(cfg.since, cfg.freshness, 3600.0)
    start = now - timedelta(seconds=window)
    hour = now - timedelta(hours=1)
    (count_hour, count_window, latest), = r.rows(
        f"SELECT countIf(event_time >= toDateTime64({{hour:String}}, 3, 'UTC')), count(), max(event_time) "
        f"FROM {r.table(cfg.events_table)} WHERE event_time >= toDateTime64({{start:String}}, 3, 'UTC')",
        {"hour": _ts(hour), "start": _ts(start)})
    if not count_window:
        total = r.rows("SELECT sum(rows) FROM system.parts WHERE database = {d:String} AND table = {t:String} "
                       "AND active", {"d": r.database, "t": cfg.events_table})
        if not total or not total[0][0]:
            return Finding("freshness", "skip", "no_events", (("table", f"{r.database}.{cfg.events_table}"),))
        return Finding("freshness", "warn", "no_recent_events", (("window_seconds", window),
                                                                 ("table", f"{r.database}.{cfg.events_table}")))
    latest_at = latest.replace(tzinfo=timezone.utc) if latest.tzinfo is None else latest.astimezone(timezone.utc)
    age = max(0.0, (now - latest_at).total_seconds())
    facts = (("last_hour", int(count_hour)), ("latest", _ts(latest_at)), ("age_seconds", age),
             ("threshold_seconds", cfg.freshness))
    if age > cfg.freshness:
        return Finding("freshness", "warn", "stale_events", facts)
    return Finding("freshness", "pass", "fresh", facts)


def rollup(r: Reader, now: datetime) -> Finding:
    """For the last N complete days, sum() over the rollup equals the aggregates over the raw events."""
    cfg = r.cfg
    missing = [t for t in (cfg.events_table, cfg.rollup_table) if not r.ch.table_exists(r.database, t)]
    if missing:
        return Finding("rollup", "skip", "no_table", (("table", f"{r.database}.{missing[0]}"),))
    end = now.date()
    start = end - timedelta(days=cfg.rollup_days)
    raw = r.rows(
        f"SELECT toDate(event_time) AS day, count(), sum(total_tokens), sum(prompt_tokens), sum(completion_tokens), "
        f"sum(cost_usd) FROM {r.table(cfg.events_table)} "
        f"WHERE event_time >= toDateTime64({{start:String}}, 3, 'UTC') "
        f"AND event_time < toDateTime64({{end:String}}, 3, 'UTC') GROUP BY day ORDER BY day LIMIT 400",
        {"start": f"{start} 00:00:00.000", "end": f"{end} 00:00:00.000"})
    rolled = r.rows(
        f"SELECT day, sum(request_count), sum(total_tokens), sum(total_prompt_tokens), "
        f"sum(total_completion_tokens), sum(total_cost_usd) FROM {r.table(cfg.rollup_table)} "
        f"WHERE day >= {{start:Date}} AND day < {{end:Date}} GROUP BY day ORDER BY day LIMIT 400",
        {"start": str(start), "end": str(end)})
    by_day_raw = {_day(row[0]): row[1:] for row in raw}
    by_day_rollup = {_day(row[0]): row[1:] for row in rolled}
    facts = (("days", cfg.rollup_days), ("first", str(start)), ("last", str(end - timedelta(days=1))))
    if not by_day_raw and not by_day_rollup:
        return Finding("rollup", "skip", "rollup_no_events", facts)
    zero = (0, 0, 0, 0, Decimal(0))
    bad: list[RollupDay] = []
    for day in sorted(set(by_day_raw) | set(by_day_rollup)):
        a = tuple(_num(v) for v in by_day_raw.get(day, zero))
        b = tuple(_num(v) for v in by_day_rollup.get(day, zero))
        if a != b:
            bad.append(RollupDay(str(day), int(a[0]), int(b[0]), int(a[1]), int(b[1]), str(a[4]), str(b[4])))
    if bad:
        return Finding("rollup", "fail", "rollup_mismatch", facts + (("table", f"{r.database}.{cfg.rollup_table}"),
                                                                     ("view", f"{r.database}.{cfg.rollup_view}")),
                       days=tuple(bad))
    return Finding("rollup", "pass", "rollup_ok", facts)


def models_seen(r: Reader, now: datetime) -> tuple[tuple[str, int], ...]:
    """The models of the events in the window, most used first, with their event counts."""
    if not r.ch.table_exists(r.database, r.cfg.events_table):
        return ()
    start = now - timedelta(seconds=r.cfg.since)
    rows = r.rows(f"SELECT model, count() AS n FROM {r.table(r.cfg.events_table)} "
                  f"WHERE event_time >= toDateTime64({{start:String}}, 3, 'UTC') GROUP BY model "
                  f"ORDER BY n DESC, model LIMIT {MODEL_LIMIT}", {"start": _ts(start)})
    return tuple((str(m), int(n)) for m, n in rows)



def _ts(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def _day(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value)[:10])


def _num(value: Any) -> int | Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value)) if isinstance(value, float) else int(value)
