"""chmigrate performance figures (not a test): prints numbers and ratios.

    .venv/bin/python bench/bench.py [--only up,startup,diff,lock,side] [--migrations 200] [--tables 1000]

- up: 200 migrations x 5 statements through `chmigrate up` vs a bare clickhouse-connect loop sending the
  same statements (ratio, requests per migration), embedded and over loopback HTTP (the test endpoint);
- startup: `chmigrate --help` and `chmigrate status` wall time;
- diff: inspect + diff of a database with 1,000 tables, first run and cached, with the number of queries;
- side: chmigrate, the peer (clickhouse-migrations, `bench` extra) and a bare clickhouse-connect loop as
  whole processes on one endpoint, alternating, with medians and ratios (bench/side_by_side.py);
- ops: `doctor` and `backfill` as whole processes on 100,000 events over HTTP (bench/bench_operations.py;
  `--python .venv-248/bin/python` serves the endpoint on ClickHouse 24.8);
- lock: taking and releasing the run lock over HTTP, KeeperMap claim vs lease (the endpoint runs the
  in-memory test Keeper, so Keeper's own latency is not in the figure).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chmigrate import api  # noqa: E402
from chmigrate.migrations.discovery import discover  # noqa: E402
from chmigrate.settings import load  # noqa: E402
from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig  # noqa: E402


def write_migrations(d: Path, count: int, per: int = 5) -> None:
    d.mkdir(parents=True)
    for v in range(1, count + 1):
        stmts = [f"CREATE TABLE IF NOT EXISTS b_{v}_{i} (id UInt64, v String) ENGINE = MergeTree ORDER BY id"
                 for i in range(per)]
        (d / f"{v:04d}_bench.sql").write_text(";\n".join(stmts) + ";\n")


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class CountingClickHouse:
    """Counts the statements and ledger writes `up` sends (every request goes through execute or query)."""

    def __init__(self) -> None:
        self.count = 0
        self._original = ClickHouse.execute

    def __enter__(self) -> CountingClickHouse:
        original = self._original

        def counting(ch: ClickHouse, *a: Any, **k: Any) -> None:
            self.count += 1
            original(ch, *a, **k)

        ClickHouse.execute = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        ClickHouse.execute = self._original  # type: ignore[method-assign]


def run_bare(cfg: ClickHouseConfig, db: str, statements: list[str]) -> None:
    with ClickHouse.connect(cfg) as ch:
        ch.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
        ch.use_database(db)
        for sql in statements:
            ch.execute(sql)


def bench_up(kind: str, count: int, url: str | None, password: str, rounds: int) -> None:
    ours, bare, reqs = [], [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            write_migrations(work / "mig", count)
            statements = [s.sql for m in discover(work / "mig") for s in m.up]
            cfg = ClickHouseConfig(url=url, password=password, local_dir=work / ".chmigrate" / "clickhouse")
            bare.append(timed(functools.partial(run_bare, cfg, "bench_" + uuid.uuid4().hex[:8], statements)))
            flags: dict[str, Any] = {"migrations_dir": work / "mig", "only": "clickhouse",
                                     "database": "bench_" + uuid.uuid4().hex[:8]}
            if url:
                flags["clickhouse_url"] = url
            env = {"CLICKHOUSE_PASSWORD": password, "CHMIGRATE_LOCAL_DIR": str(work / ".chmigrate")}
            settings = load(flags, env=env, cwd=work)
            with CountingClickHouse() as counter:
                ours.append(timed(functools.partial(api.up, settings)))
            reqs.append(counter.count)
    o, b = statistics.median(ours), statistics.median(bare)
    print(f"up [{kind}] {count} migrations x 5 statements: chmigrate {o:.2f} s, bare loop {b:.2f} s, "
          f"ratio {o / b:.2f}x; requests sent per migration {statistics.median(reqs) / count:.2f} "
          f"(budget: 5 statements + 2)")


def bench_lock(url: str, password: str, rounds: int = 20) -> None:
    from chmigrate.migrations.keeper_lock import KeeperLock
    from chmigrate.migrations.lock import LeaseLock

    db = "bench_" + uuid.uuid4().hex[:8]
    with ClickHouse.connect(ClickHouseConfig(url=url, password=password)) as ch:
        for name, make in (("keeper-map", lambda: KeeperLock(ch, db, "chmigrate_ledger_keeper_lock")),
                           ("lease", lambda: LeaseLock(ch, db, "chmigrate_ledger_lock"))):
            times, reqs = [], []
            for _ in range(rounds):
                lock, before = make(), ch.requests
                t0 = time.perf_counter()
                lock.acquire(timeout=10)
                lock.release()
                times.append(time.perf_counter() - t0)
                reqs.append(ch.requests - before)
            print(f"lock [{name}] acquire + release over HTTP: median {statistics.median(times) * 1000:.0f} ms, "
                  f"{statistics.median(reqs):.0f} requests")
        ch.execute(f"DROP DATABASE IF EXISTS {db}")


def bench_startup() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_migrations(work / "clickhouse", 3)
        env = {"CHMIGRATE_ONLY": "clickhouse", "PATH": "/usr/bin:/bin"}
        for args in (["--help"], ["status"]):
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "chmigrate", *args], cwd=work, env=env, capture_output=True,
                               check=True)
                times.append(time.perf_counter() - t0)
            print(f"startup: chmigrate {' '.join(args)}: median {statistics.median(times) * 1000:.0f} ms "
                  f"(min {min(times) * 1000:.0f} ms)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="up,startup,diff,lock")
    ap.add_argument("--migrations", type=int, default=200)
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--python", default=None, help="interpreter whose chdb serves the ops endpoint")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    if "ops" in parts:
        from bench.bench_operations import run as run_ops

        run_ops(args.events, args.rounds, args.python)
        parts.discard("ops")
    if "side" in parts:
        from bench.side_by_side import run

        run(args.migrations, args.tables, args.rounds)
        parts.discard("side")
    endpoint = None
    if parts & {"up", "diff", "lock"}:
        from tests.support.endpoint import start_endpoint

        endpoint = start_endpoint(Path(tempfile.mkdtemp()) / "data", password="bench-pw", python=sys.executable)
    try:
        if "up" in parts:
            bench_up("embedded", args.migrations, None, "", args.rounds)
            assert endpoint is not None
            bench_up("http endpoint", args.migrations, endpoint.url, "bench-pw", args.rounds)
        if "lock" in parts:
            assert endpoint is not None
            bench_lock(endpoint.url, "bench-pw")
        if "startup" in parts:
            bench_startup()
        if "diff" in parts:
            from bench.bench_diff import bench_diff

            bench_diff(args.tables, endpoint)
    finally:
        if endpoint is not None:
            endpoint.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
