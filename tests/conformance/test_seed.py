"""The seed schema, applied by `up`, on every target: it equals SCHEMA.md, the rollup is right,
the dashboards' queries answer what an independent computation gives, and a second `up` is a no-op."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from chmigrate import api
from tests.conftest import REPO, Target
from tests.support import events as ev

SCHEMA_MD = REPO / "tests" / "data" / "SCHEMA.md"
# SCHEMA.md writes types as a person would; ClickHouse reports the canonical spelling.
CANONICAL = {"Decimal64(6)": "Decimal(18, 6)", "Decimal128(6)": "Decimal(38, 6)",
             "DateTime64(3)": "DateTime64(3, 'UTC')"}


def spec(table: str) -> dict[str, object]:
    text = SCHEMA_MD.read_text()
    section = text.split(f"## ClickHouse: `{table}`", 1)[1].split("\n## ", 1)[0]
    cols = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0] not in ("column", "") and not set(cells[0]) <= set("-"):
            typ = cells[1].split(" (")[0]
            cols.append((cells[0], CANONICAL.get(typ, typ)))
    return {
        "columns": cols,
        "engine": re.search(r"Engine (\w+)", section).group(1),  # type: ignore[union-attr]
        "partition": re.search(r"PARTITION BY ([^`]+)`", section).group(1),  # type: ignore[union-attr]
        "order": re.search(r"ORDER BY \(([^`]+)\)`", section).group(1),  # type: ignore[union-attr]
        "ttl_months": int(re.search(r"(\d+) months?", section).group(1)),  # type: ignore[union-attr]
    }


def test_up_creates_the_schema_of_schema_md(target: Target) -> None:
    result = api.up(target.settings())
    assert [a.version for a in result.targets[0].applied] == ["0001", "0002", "0003"]
    with target.connect() as ch:
        for table in ("llm_usage", "llm_usage_daily"):
            want = spec(table)
            cols = ch.query("SELECT name, type FROM system.columns WHERE database = {d:String} AND table = "
                            "{t:String} ORDER BY position", {"d": target.database, "t": table})
            assert [tuple(c) for c in cols] == want["columns"], table
            engine, partition, order = ch.query(
                "SELECT engine, partition_key, sorting_key FROM system.tables WHERE database = {d:String} "
                "AND name = {t:String}", {"d": target.database, "t": table})[0]
            assert engine == want["engine"]
            assert partition == want["partition"]
            assert order == want["order"]
        default_kind = ch.query("SELECT default_kind, default_expression FROM system.columns WHERE database = "
                                "{d:String} AND table = 'llm_usage' AND name = 'event_id'", {"d": target.database})
        assert default_kind == [("DEFAULT", "generateUUIDv4()")]
        mv = ch.query("SELECT engine, create_table_query FROM system.tables WHERE database = {d:String} AND "
                      "name = 'llm_usage_daily_mv'", {"d": target.database})
        assert mv and mv[0][0] == "MaterializedView"
        assert re.search(r"\bTO\s+`?" + re.escape(target.database) + r"`?\.`?llm_usage_daily\b", mv[0][1])
        assert "POPULATE" not in mv[0][1]


def test_ttl_deletes_rows_older_than_the_spec(target: Target) -> None:
    api.up(target.settings())
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with target.connect() as ch:
        db = target.database
        months = spec("llm_usage")["ttl_months"]
        ch.execute(f"SYSTEM STOP MERGES `{db}`.llm_usage_daily")  # keep inserted rows until OPTIMIZE
        old = now - timedelta(days=31 * int(months) + 5)  # type: ignore[arg-type]
        fresh = now - timedelta(days=31 * (int(months) - 1))  # type: ignore[arg-type]
        for when in (old, fresh):
            ch.execute(f"INSERT INTO `{db}`.llm_usage (event_time, user_id, workspace_id, model, agent_id) "
                       f"VALUES ('{when:%Y-%m-%d %H:%M:%S}', generateUUIDv4(), generateUUIDv4(), 'm', 'a')")
        daily_months = int(spec("llm_usage_daily")["ttl_months"])  # type: ignore[arg-type]
        for days in (31 * daily_months + 5, 31 * (daily_months - 1)):
            day = (now - timedelta(days=days)).date()
            # request_count = 1: SummingMergeTree drops rows whose summed columns are all zero
            ch.execute(f"INSERT INTO `{db}`.llm_usage_daily (day, user_id, workspace_id, model, agent_id, "
                       f"request_count) VALUES ('{day}', generateUUIDv4(), generateUUIDv4(), 'm', 'a', 1)")
        ch.execute(f"SYSTEM START MERGES `{db}`.llm_usage_daily")
        for table in ("llm_usage", "llm_usage_daily"):
            ch.execute(f"OPTIMIZE TABLE `{db}`.{table} FINAL")
        raw = ch.query(f"SELECT toDate(event_time) FROM `{db}`.llm_usage ORDER BY 1")
        assert [r[0] for r in raw] == [fresh.date()]
        days_left = ch.query(f"SELECT day FROM `{db}`.llm_usage_daily ORDER BY day")
        # the fresh raw row also rolled up into the daily table through the view
        assert (now - timedelta(days=31 * (daily_months - 1))).date() in [r[0] for r in days_left]
        assert all(d[0] >= (now - timedelta(days=31 * daily_months)).date() for d in days_left)


def test_second_up_changes_nothing(target: Target) -> None:
    s = target.settings()
    api.up(s)
    with target.connect() as ch:
        before = ch.query("SELECT name, metadata_modification_time FROM system.tables WHERE database = "
                          "{d:String} ORDER BY name", {"d": target.database})
        ledger_rows = ch.query(f"SELECT count() FROM `{target.database}`.chmigrate_ledger")[0][0]
    again = api.up(s)
    assert again.targets[0].applied == ()
    with target.connect() as ch:
        assert ch.query("SELECT name, metadata_modification_time FROM system.tables WHERE database = "
                        "{d:String} ORDER BY name", {"d": target.database}) == before
        assert ch.query(f"SELECT count() FROM `{target.database}`.chmigrate_ledger")[0][0] == ledger_rows
    st = api.status(s).targets[0]
    assert [(m.version, m.state) for m in st.migrations] == [("0001", "applied"), ("0002", "applied"),
                                                            ("0003", "applied")]


@pytest.fixture
def loaded(target: Target):
    api.up(target.settings())
    ch = target.connect()
    now = ch.query("SELECT now('UTC')")[0][0].replace(tzinfo=timezone.utc)
    events, rows = ev.generate(now, 10_000)
    ch.insert("llm_usage", rows, ev.COLUMNS, database=target.database)
    yield target, ch, events, now
    ch.close()


def _rollup(ch, db: str):  # type: ignore[no-untyped-def]
    rows = ch.query(
        f"SELECT day, user_id, workspace_id, model, agent_id, sum(total_prompt_tokens), "
        f"sum(total_completion_tokens), sum(total_tokens), sum(total_cost_usd), sum(request_count) "
        f"FROM `{db}`.llm_usage_daily GROUP BY day, user_id, workspace_id, model, agent_id")
    return {tuple(r[:5]): tuple(r[5:]) for r in rows}


def test_rollup_equals_independent_aggregates_before_and_after_merge(loaded) -> None:  # type: ignore[no-untyped-def]
    target, ch, events, _ = loaded
    expected = ev.daily(events)
    assert len(events) >= 10_000 and len(expected) > 500
    assert _rollup(ch, target.database) == expected
    ch.execute(f"OPTIMIZE TABLE `{target.database}`.llm_usage_daily FINAL")
    assert _rollup(ch, target.database) == expected
    # after the merge each key is one row: the SummingMergeTree really summed
    count = ch.query(f"SELECT count() FROM `{target.database}`.llm_usage_daily")[0][0]
    assert count == len(expected)


def test_schema_md_queries_answer_like_an_independent_computation(loaded) -> None:  # type: ignore[no-untyped-def]
    target, ch, events, now = loaded
    db = target.database
    month_start = now.replace(day=1, hour=0, minute=0, second=0)
    user = events[0].user_id
    ws = events[0].workspace_id
    this_month = [e for e in events if e.event_time >= month_start]

    def q(sql: str, **params: object) -> list[tuple[object, ...]]:
        return ch.query(sql.replace("FROM llm_usage", f"FROM `{db}`.llm_usage"), params)

    got = q("SELECT sum(total_tokens) AS tokens, sum(cost_usd) AS cost_usd, count() AS requests "
            "FROM llm_usage WHERE user_id = {user:UUID} AND event_time >= toStartOfMonth(now())", user=user)
    mine = [e for e in this_month if e.user_id == user]
    assert got == [(sum(e.total_tokens for e in mine), sum((e.cost_usd for e in mine), Decimal(0)), len(mine))]

    got = q("SELECT model, sum(prompt_tokens) AS input_tokens, sum(completion_tokens) AS output_tokens, "
            "sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd, count() AS requests "
            "FROM llm_usage WHERE workspace_id = {ws:UUID} AND event_time >= toStartOfMonth(now()) "
            "GROUP BY model ORDER BY cost_usd DESC", ws=ws)
    by_model: dict[str, list[object]] = defaultdict(lambda: [0, 0, 0, Decimal(0), 0])
    for e in this_month:
        if e.workspace_id == ws:
            a = by_model[e.model]
            a[0] += e.prompt_tokens; a[1] += e.completion_tokens; a[2] += e.total_tokens  # type: ignore[operator]  # noqa: E702
            a[3] += e.cost_usd; a[4] += 1  # type: ignore[operator]  # noqa: E702
    want = sorted(((m, *v) for m, v in by_model.items()), key=lambda r: r[4], reverse=True)  # type: ignore[arg-type,return-value]
    assert got == want

    got = q("SELECT day, sum(total_tokens) AS tokens, sum(total_cost_usd) AS cost_usd, sum(request_count) AS "
            "requests FROM llm_usage_daily WHERE user_id = {user:UUID} AND day >= today() - 30 "
            "GROUP BY day ORDER BY day", user=user)
    cutoff = now.date() - timedelta(days=30)
    per_day: dict[object, list[object]] = defaultdict(lambda: [0, Decimal(0), 0])
    for e in events:
        if e.user_id == user and ev.utc_date(e.event_time) >= cutoff:
            a = per_day[ev.utc_date(e.event_time)]
            a[0] += e.total_tokens; a[1] += e.cost_usd; a[2] += 1  # type: ignore[operator]  # noqa: E702
    assert got == [(d, *v) for d, v in sorted(per_day.items())]  # type: ignore[type-var]

    got = q("SELECT agent_id, sum(total_tokens) AS tokens, sum(cost_usd) AS cost_usd, count() AS requests "
            "FROM llm_usage WHERE workspace_id = {ws:UUID} AND event_time >= toStartOfMonth(now()) "
            "GROUP BY agent_id ORDER BY cost_usd DESC", ws=ws)
    by_agent: dict[str, list[object]] = defaultdict(lambda: [0, Decimal(0), 0])
    for e in this_month:
        if e.workspace_id == ws:
            a = by_agent[e.agent_id]
            a[0] += e.total_tokens; a[1] += e.cost_usd; a[2] += 1  # type: ignore[operator]  # noqa: E702
    assert got == sorted(((k, *v) for k, v in by_agent.items()), key=lambda r: r[2], reverse=True)  # type: ignore[arg-type,return-value]

    got = q("SELECT toStartOfHour(event_time) AS hour, count() AS requests, sum(total_tokens) AS tokens "
            "FROM llm_usage WHERE event_time >= now() - INTERVAL 24 HOUR GROUP BY hour ORDER BY hour")
    per_hour: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        if e.event_time >= now - timedelta(hours=24):
            h = e.event_time.replace(minute=0, second=0, microsecond=0, tzinfo=None)
            per_hour[h][0] += 1
            per_hour[h][1] += e.total_tokens
    assert [(r[0].replace(tzinfo=None), r[1], r[2]) for r in got] == [  # type: ignore[union-attr]
        (h, *v) for h, v in sorted(per_hour.items())]

    got = q("SELECT count() AS events_last_hour, max(event_time) AS latest_event "
            "FROM llm_usage WHERE event_time >= now() - INTERVAL 1 HOUR")
    last_hour = [e for e in events if e.event_time >= now - timedelta(hours=1)]
    assert got[0][0] == len(last_hour) and last_hour
    assert got[0][1].replace(tzinfo=None) == max(e.event_time for e in last_hour).replace(tzinfo=None)  # type: ignore[union-attr]
