"""`doctor` and `backfill` as whole processes on N synthetic events over loopback HTTP (the test endpoint).

    .venv/bin/python bench/bench.py --only ops [--events 100000] [--rounds 3] [--python .venv-248/bin/python]

The events span the last five months; the view is dropped while they are inserted and recreated, so the
rollup has none of them. Then, alternating per round: `chmigrate doctor --format json` (ClickHouse checks;
Postgres is not configured, so its checks skip) and `chmigrate backfill llm_usage_daily_mv --format json`;
each run is checked (the doctor ran its rollup check, the backfill rebuilt every event), and the medians are
printed with the backfill's source rows per second. A rerun of backfill recomputes, so each round does the
same work.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta, timezone
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "clickhouse"
VIEW = "llm_usage_daily_mv"


def _events(now, n: int):  # type: ignore[no-untyped-def]
    from tests.support import events as ev

    rng = random.Random(17)
    users = [ev.uuid.UUID(int=rng.getrandbits(128)) for _ in range(50)]
    workspaces = [ev.uuid.UUID(int=rng.getrandbits(128)) for _ in range(10)]
    start = (now - timedelta(hours=2)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out = []
    for _ in range(n):
        t = (start - timedelta(seconds=rng.uniform(3600, 150 * 86400))).replace(microsecond=0)
        model, provider = rng.choice(ev.MODELS)
        out.append(ev.Event(t, rng.choice(users), rng.choice(workspaces), model, provider, rng.choice(ev.AGENTS),
                            rng.randrange(1, 20_000), rng.randrange(1, 4_000),
                            Decimal(rng.randrange(0, 5_000_000)) / Decimal(10**6)))
    return out


def run(events: int, rounds: int, python: str | None) -> None:
    from chmigrate import api
    from chmigrate.settings import load
    from tests.support import events as ev
    from tests.support.endpoint import start_endpoint

    work = Path(tempfile.mkdtemp(prefix="chmigrate-bench-ops-"))
    ep = start_endpoint(work / "data", password="bench-pw", python=python or sys.executable)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHMIGRATE_")} | {
            "CHMIGRATE_CLICKHOUSE_URL": ep.url, "CLICKHOUSE_PASSWORD": "bench-pw", "CHMIGRATE_ONLY": "clickhouse",
            "CHMIGRATE_DATABASE": "bench_ops", "CHMIGRATE_MIGRATIONS_DIR": str(SEED)}
        settings = load(cwd=work, flags={"clickhouse_url": ep.url, "only": "clickhouse", "database": "bench_ops",
                                         "migrations_dir": SEED}, env={"CLICKHOUSE_PASSWORD": "bench-pw"})
        api.up(settings)
        from chmigrate.connect import open_clickhouse, resolve_clickhouse

        with open_clickhouse(resolve_clickhouse(settings)) as ch:
            version = ch.server_version
            now = ch.query("SELECT now('UTC')")[0][0].replace(tzinfo=timezone.utc)
            create = ch.query("SELECT create_table_query FROM system.tables WHERE database = 'bench_ops' AND "
                              "name = {n:String}", {"n": VIEW})[0][0]
            ch.execute(f"DROP VIEW bench_ops.{VIEW}")
            rows = _events(now, events)
            rng = random.Random(5)
            for i in range(0, len(rows), 20_000):
                ch.insert("llm_usage", [e.row(rng) for e in rows[i:i + 20_000]], ev.COLUMNS, database="bench_ops")
            ch.execute(create)
        doctor: list[float] = []
        backfill: list[float] = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            d = subprocess.run([sys.executable, "-m", "chmigrate", "doctor", "--format", "json"], cwd=work, env=env,
                               capture_output=True, text=True)
            doctor.append(time.perf_counter() - t0)
            checks = {f["check"] for f in json.loads(d.stdout)["findings"]}
            assert any("rollup" in c for c in checks), d.stdout[:500]
            t0 = time.perf_counter()
            b = subprocess.run([sys.executable, "-m", "chmigrate", "backfill", VIEW, "--format", "json"], cwd=work,
                               env=env, capture_output=True, text=True)
            backfill.append(time.perf_counter() - t0)
            assert b.returncode == 0, b.stderr
            doc = json.loads(b.stdout)
            rebuilt = sum(p["source_rows"] for p in doc["partitions"] if p["status"] == "rebuilt")
            assert rebuilt == events, (rebuilt, events)
        db, bf = statistics.median(doctor), statistics.median(backfill)
        print(f"ClickHouse {version} over HTTP, {events:,} events, medians of {rounds} whole processes:")
        print(f"  chmigrate doctor:   {db:.2f} s (runs: {', '.join(f'{x:.2f}' for x in doctor)})")
        print(f"  chmigrate backfill: {bf:.2f} s, {events / bf:,.0f} source rows/s as a process "
              f"(swap: {doc['swap']}, {len(doc['partitions'])} partitions; in-command rate "
              f"{doc['source_rows_per_second']:,} rows/s)")
    finally:
        ep.stop()
