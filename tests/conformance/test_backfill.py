"""`backfill` rebuilds a view's rollup exactly: the view dropped while events spread over several months
arrive, recreated, backfilled: the rollup equals the raw aggregates (before and after OPTIMIZE FINAL), again
after a rerun and after a run killed with SIGKILL; a dry run changes nothing; the current month is refused
when --to names it. Embedded and over HTTP (the `server` tests also run on 24.8 through parity.py)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from chmigrate import api
from chmigrate.errors import Refused
from tests.conftest import SEED, Target
from tests.support import events as ev

VIEW = "llm_usage_daily_mv"


def _view_sql() -> str:
    text = (SEED / "0003_create_llm_usage_daily_mv.sql").read_text().split("-- chmigrate:down")[0]
    return "\n".join(line for line in text.splitlines() if not line.startswith("--")).strip().rstrip(";")


def _events(now: datetime, n: int, seed: int = 11) -> list[ev.Event]:
    """Events over the last five months, none in the current or the previous hour's month."""
    rng = random.Random(seed)
    users = [ev.uuid.UUID(int=rng.getrandbits(128)) for _ in range(5)]
    workspaces = [ev.uuid.UUID(int=rng.getrandbits(128)) for _ in range(3)]
    month_start = (now - timedelta(hours=2)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out: list[ev.Event] = []
    while len(out) < n:
        t = month_start - timedelta(seconds=rng.uniform(3600, 150 * 86400))
        t = t.replace(microsecond=0)
        model, provider = rng.choice(ev.MODELS)
        out.append(ev.Event(t, rng.choice(users), rng.choice(workspaces), model, provider, rng.choice(ev.AGENTS),
                            rng.randrange(1, 20_000), rng.randrange(1, 4_000),
                            Decimal(rng.randrange(0, 5_000_000)) / Decimal(10**6)))
    return out


def _rollup(target: Target):  # type: ignore[no-untyped-def]
    db = target.database
    with target.connect() as ch:
        rows = ch.query(f"SELECT day, user_id, workspace_id, model, agent_id, sum(total_prompt_tokens), "
                        f"sum(total_completion_tokens), sum(total_tokens), sum(total_cost_usd), "
                        f"sum(request_count) FROM `{db}`.llm_usage_daily GROUP BY day, user_id, workspace_id, "
                        "model, agent_id")
    return {tuple(r[:5]): tuple(r[5:]) for r in rows}


@pytest.fixture
def missed(target: Target):  # type: ignore[no-untyped-def]
    return _miss(target)


def _miss(target: Target):  # type: ignore[no-untyped-def]
    """Events inserted while the view did not exist: the rollup has none of them."""
    api.up(target.settings())
    ch = target.connect()
    db = target.database
    now = ch.query("SELECT now('UTC')")[0][0].replace(tzinfo=timezone.utc)
    ch.execute(f"DROP VIEW `{db}`.{VIEW}")
    events = _events(now, 6_000)
    rng = random.Random(3)
    ch.insert("llm_usage", [e.row(rng) for e in events], ev.COLUMNS, database=db)
    ch.use_database(db)
    ch.execute(_view_sql())
    ch.close()
    assert _rollup(target) == {}
    return target, events


def _sql(target: Target, sql: str):  # type: ignore[no-untyped-def]
    with target.connect() as ch:
        return ch.query(sql, {"d": target.database})


def test_backfill_makes_the_rollup_equal_the_raw_aggregates(missed) -> None:  # type: ignore[no-untyped-def]
    target, events = missed
    expected = ev.daily(events)
    t0 = time.perf_counter()
    result = api.backfill(target.settings(), VIEW)
    seconds = time.perf_counter() - t0
    rebuilt = [p for p in result.partitions if p.status == "rebuilt"]
    assert len(rebuilt) >= 5 and sum(p.source_rows for p in rebuilt) == len(events)
    print(f"backfill throughput ({target.kind}): {len(events) / seconds:,.0f} rows/s")
    assert _rollup(target) == expected
    _sql(target, f"OPTIMIZE TABLE `{target.database}`.llm_usage_daily FINAL")
    assert _rollup(target) == expected
    again = api.backfill(target.settings(), VIEW)  # a rerun recomputes, never adds
    assert [p.status for p in again.partitions] == [p.status for p in result.partitions]
    assert _rollup(target) == expected
    recorded = _sql(target, f"SELECT name, cumulative_hash FROM `{target.database}`.chmigrate_ledger "
                        "WHERE event = 'backfilled'")
    assert len(recorded) == 2 * len(rebuilt)
    status = api.status(target.settings()).targets[0]
    assert [m.state for m in status.migrations] == ["applied"] * 3  # the ledger's version readers skip them
    leftovers = _sql(target, "SELECT name FROM system.tables WHERE database = {d:String} AND name LIKE "
                     "'chmigrate_backfill%'")
    assert leftovers == []


def test_dry_run_changes_nothing(missed) -> None:  # type: ignore[no-untyped-def]
    target, events = missed
    result = api.backfill(target.settings(), VIEW, dry_run=True)
    assert {p.status for p in result.partitions} == {"would_rebuild"}
    assert sum(p.source_rows for p in result.partitions) == len(events)
    assert _rollup(target) == {}


def test_the_current_partition_is_left_alone_or_refused(missed) -> None:  # type: ignore[no-untyped-def]
    target, events = missed
    now = datetime.now(timezone.utc)
    _sql(target, f"INSERT INTO `{target.database}`.llm_usage (event_time, user_id, workspace_id, model, agent_id, "
               "prompt_tokens) VALUES (now(), generateUUIDv4(), generateUUIDv4(), 'm', 'a', 5)")
    before = _rollup(target)  # the view rolled the new row up
    with pytest.raises(Refused, match="rows may still arrive"):
        api.backfill(target.settings(), VIEW, date_to=now.strftime("%Y-%m-%d"))
    assert _rollup(target) == before
    result = api.backfill(target.settings(), VIEW)
    assert result.partitions[-1].status == "current"
    forced = api.backfill(target.settings(), VIEW, include_current=True)
    assert forced.partitions[-1].status == "rebuilt"
    assert sum(v[4] for v in _rollup(target).values()) == len(events) + 1


def test_a_killed_backfill_rerun_is_exact(missed) -> None:  # type: ignore[no-untyped-def]
    target, events = missed
    expected = ev.daily(events)
    env = {**target.cli_env(), "CHMIGRATE_MIGRATIONS_DIR": str(SEED)}
    proc = subprocess.Popen([sys.executable, "-m", "chmigrate", "backfill", VIEW], cwd=target.workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = 0
    for line in proc.stderr:  # kill it after the first partition is swapped in, mid-way through the rest
        if "rebuilt from" in line:
            seen += 1
            if seen == 2:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert seen == 2, "the first run ended before it was killed"
    rerun = subprocess.run([sys.executable, "-m", "chmigrate", "backfill", VIEW, "--format", "json"],
                           cwd=target.workdir, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["partitions"]
    assert _rollup(target) == expected


def test_a_table_that_is_not_a_view_is_a_usage_error(target: Target, tmp_path: Path) -> None:
    from chmigrate.errors import UsageError

    api.up(target.settings())
    with pytest.raises(UsageError, match="llm_usage is a MergeTree, not a materialized view"):
        api.backfill(target.settings(), "llm_usage")
    with pytest.raises(UsageError, match="no table or view of that name"):
        api.backfill(target.settings(), "nope")
    with pytest.raises(UsageError, match="give a date as YYYY-MM-DD"):  # not a day of the calendar
        api.backfill(target.settings(), VIEW, date_from="2026-13-01")


def _insert(target: Target, events: list[ev.Event], seed: int = 5) -> None:
    rng = random.Random(seed)
    with target.connect() as ch:
        ch.insert("llm_usage", [e.row(rng) for e in events], ev.COLUMNS, database=target.database)


def test_partitions_whose_raw_rows_are_gone_or_expiring_are_left_alone(missed) -> None:  # type: ignore[no-untyped-def]
    """Raw events live 13 months, the rollup 25: a month whose raw rows the TTL is deleting, or whose oldest
    day was deleted, cannot be recomputed; a rebuild would drop their rollup, so backfill leaves it alone."""
    target, events = missed
    # the seed's TTL is 13 months: these rows expire in about 12 hours
    horizon = _sql(target, "SELECT now('UTC') - INTERVAL 13 MONTH + INTERVAL 12 HOUR")[0][0]
    horizon = horizon.replace(tzinfo=timezone.utc)
    old = [ev.Event(horizon + timedelta(minutes=i), events[i].user_id, events[i].workspace_id, "gpt-4o", "openai",
                    "coder", 10, 2, Decimal("0.5")) for i in range(50)]
    _insert(target, old)  # the view is back: their rollup is made as they arrive
    first = api.backfill(target.settings(), VIEW)
    by_month = {p.partition: p for p in first.partitions}
    edge = by_month[str(int(horizon.strftime("%Y%m")))]
    assert edge.status == "expiring" and "expire" in edge.note and "TTL" in edge.note
    assert _rollup(target) == ev.daily(events + old)  # the edge month kept its rollup, the others rebuilt
    # the oldest day of a rebuilt month loses its raw rows (a delete): that month is left alone too
    rebuilt = sorted(p.partition for p in first.partitions if p.status == "rebuilt")
    day = min(e.event_time.date() for e in events if e.event_time.strftime("%Y%m") == rebuilt[0])
    with target.connect() as ch:
        ch.execute(f"ALTER TABLE `{target.database}`.llm_usage DELETE WHERE toDate(event_time) = '{day}'",
                   settings={"mutations_sync": 2})
    second = {p.partition: p for p in api.backfill(target.settings(), VIEW).partitions}
    assert second[rebuilt[0]].status == "expiring" and f"from {day}" in second[rebuilt[0]].note
    assert all(second[m].status == "rebuilt" for m in rebuilt[1:])
    assert _rollup(target) == ev.daily(events + old)


def _python248() -> str | None:
    from tests.schema.engine248 import PYTHON248

    return str(PYTHON248) if PYTHON248.exists() else None


@pytest.mark.parametrize("engine", ["local", "24.8"])
def test_a_backfilled_rollup_survives_a_server_restart(engine: str, tmp_path: Path) -> None:
    """The swap survives a restart of the server right after it (before any background cleanup): on 24.8
    (DROP + ATTACH PARTITION, because its REPLACE PARTITION brings the replaced parts back) and on the local
    engine (REPLACE PARTITION, fixed there)."""
    from dataclasses import replace

    from tests.support.endpoint import start_endpoint

    python = sys.executable if engine == "local" else _python248()
    if python is None:
        from tests.schema.engine248 import NO_248

        pytest.skip(NO_248)
    data = tmp_path / "data"
    ep = start_endpoint(data, password="restart-pw", python=python)
    try:
        target = Target("http", tmp_path, "t_restart", url=ep.url, password="restart-pw", endpoint=ep)
        _, events = _miss(target)
        version = _sql(target, "SELECT version()")[0][0]
        api.backfill(target.settings(), VIEW)
        result = api.backfill(target.settings(), VIEW)  # this one swaps out the parts the first swapped in
        assert _rollup(target) == ev.daily(events)
        assert result.swap == ("drop-attach" if version.startswith("24.8") else "replace"), version
    finally:
        ep.stop()  # kills the server: no cleanup of outdated parts ran
    ep = start_endpoint(data, password="restart-pw", python=python)
    try:
        again = replace(target, url=ep.url, endpoint=ep)
        assert _rollup(again) == ev.daily(events)
    finally:
        ep.stop()
