"""chmigrate, the peer (clickhouse-migrations) and a bare clickhouse-connect loop as whole processes on one
endpoint, in alternating runs; medians and ratios (not a test).

    .venv/bin/python bench/bench.py --only side [--migrations 200] [--tables 1000] [--rounds 3]

The peer comes from the `bench` extra (`pip install -e '.[bench]'`); without it only chmigrate and the
bare loop run. Each run is checked for its work (tables created, ledger rows) and its requests are
counted from the endpoint's log. The endpoint is chDB (this interpreter's) over HTTP, its data on
/dev/shm where there is one.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_diff import write_tables

PASSWORD = "bench-pw"

BARE_LOOP = """
import sys, clickhouse_connect
url, db, files = sys.argv[1], sys.argv[2], sys.argv[3:]
from urllib.parse import urlsplit
u = urlsplit(url)
c = clickhouse_connect.get_client(host=u.hostname, port=u.port, username=u.username or 'default',
                                  password=%r)
c.command(f'CREATE DATABASE IF NOT EXISTS {db}')
for f in files:
    for sql in open(f).read().split(';'):
        if sql.strip():
            c.command(sql, settings={'database': db})
"""


@dataclass
class Series:
    seconds: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def line(self) -> str:
        reqs = f", {statistics.median(self.requests):.0f} requests" if self.requests else ""
        return f"{self.median:.2f} s{reqs}"


def _peer() -> str | None:
    here = Path(sys.executable).parent / "clickhouse-migrations"
    return str(here) if here.exists() else shutil.which("clickhouse-migrations")


def _chmigrate_env(url: str, db: str, work: Path, migrations: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHMIGRATE_")}
    return env | {"CHMIGRATE_ONLY": "clickhouse", "CHMIGRATE_DATABASE": db, "CHMIGRATE_CLICKHOUSE_URL": url,
                  "CLICKHOUSE_PASSWORD": PASSWORD, "CHMIGRATE_LOCAL_DIR": str(work / ".chmigrate"),
                  "CHMIGRATE_MIGRATIONS_DIR": str(migrations)}


def _peer_args(url: str, db: str, migrations: Path | None) -> list[str]:
    host_port = url.split("://", 1)[1].rstrip("/")
    return [f"--db-url=http://default:{PASSWORD}@{host_port}/{db}", "--driver=clickhouse-connect",
            *([f"--migrations-dir={migrations}"] if migrations else [])]


def _run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, ok: tuple[int, ...] = (0,)
         ) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if p.returncode not in ok:
        raise SystemExit(f"bench: {' '.join(cmd[:3])} exited {p.returncode}: {p.stderr.strip()[-600:]}")
    return seconds


def _measured(endpoint: Any, series: Series, cmd: list[str], env: dict[str, str] | None = None,
              cwd: Path | None = None) -> None:
    endpoint.clear_log()
    series.seconds.append(_run(cmd, env, cwd))
    series.requests.append(len(endpoint.log()))


def _count(ch: Any, sql: str) -> int:
    return int(ch.query(sql)[0][0])


def bench_up(endpoint: Any, ch: Any, count: int, rounds: int) -> dict[str, Series]:
    from bench.bench import write_migrations

    peer = _peer()
    out = {"bare loop": Series(), "chmigrate": Series(), **({"clickhouse-migrations": Series()} if peer else {})}
    for r in range(rounds):
        order = list(out)
        order = order[r % len(order):] + order[:r % len(order)]  # alternate who goes first
        for who in order:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                write_migrations(work / "mig", count)
                db = "side_" + uuid.uuid4().hex[:8]
                files = sorted(str(p) for p in (work / "mig").glob("*.sql"))
                if who == "bare loop":
                    cmd = [sys.executable, "-c", BARE_LOOP % PASSWORD, endpoint.url, db, *files]
                    _measured(endpoint, out[who], cmd)
                    ledger = count
                elif who == "chmigrate":
                    env = _chmigrate_env(endpoint.url, db, work, work / "mig")
                    _measured(endpoint, out[who], [sys.executable, "-m", "chmigrate", "up"], env, work)
                    ledger = _count(ch, f"SELECT uniqExact(version) FROM {db}.chmigrate_ledger "
                                        "WHERE event = 'applied'")
                else:
                    assert peer is not None
                    cmd = [peer, "migrate", *_peer_args(endpoint.url, db, work / "mig"),
                           "--create-db-if-not-exists"]
                    _measured(endpoint, out[who], cmd)
                    ledger = _count(ch, f"SELECT count() FROM {db}.schema_versions")
                tables = _count(ch, f"SELECT count() FROM system.tables WHERE database = '{db}' "
                                    "AND name LIKE 'b\\\\_%'")
                if tables != count * 5 or ledger != count:
                    raise SystemExit(f"bench: {who} did not do the work: {tables} tables, {ledger} ledger rows")
                ch.execute(f"DROP DATABASE {db} SYNC")
    return out


def bench_drift(endpoint: Any, ch: Any, tables: int, rounds: int) -> dict[str, Series]:
    peer = _peer()
    out = {"chmigrate cold": Series(), "chmigrate cold, committed snapshot": Series(), "chmigrate warm": Series(),
           **({"clickhouse-migrations dump --check": Series()} if peer else {})}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_tables(work / "mig", tables)
        db = "side_" + uuid.uuid4().hex[:8]
        env = _chmigrate_env(endpoint.url, db, work, work / "mig")
        _run([sys.executable, "-m", "chmigrate", "up"], env, work)
        if peer:
            _run([peer, "dump", *_peer_args(endpoint.url, db, None), f"--out={work / 'schema.sql'}"])
        diff = [sys.executable, "-m", "chmigrate", "diff", "--exit-code"]
        snapshot = work / "mig" / "schema.snapshot.json"
        for _ in range(rounds):
            snapshot.unlink(missing_ok=True)
            shutil.rmtree(work / ".chmigrate" / "cache", ignore_errors=True)  # a fresh CI runner
            _measured(endpoint, out["chmigrate cold"], diff, env, work)
            _measured(endpoint, out["chmigrate warm"], diff, env, work)
            _run([sys.executable, "-m", "chmigrate", "snapshot"], env, work)  # committed with the migrations
            shutil.rmtree(work / ".chmigrate" / "cache", ignore_errors=True)
            _measured(endpoint, out["chmigrate cold, committed snapshot"], diff, env, work)
            if peer:
                cmd = [peer, "dump", *_peer_args(endpoint.url, db, None), f"--check={work / 'schema.sql'}"]
                _measured(endpoint, out["clickhouse-migrations dump --check"], cmd)
        ch.execute(f"DROP DATABASE {db} SYNC")
    return out


def bench_status_and_startup(endpoint: Any, rounds: int) -> dict[str, Series]:
    from bench.bench import write_migrations

    peer = _peer()
    out: dict[str, Series] = {"python -c 'import typer'": Series(), "chmigrate --help": Series(),
                              "chmigrate --version": Series(), "chmigrate status": Series()}
    if peer:
        out["clickhouse-migrations status"] = Series()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_migrations(work / "mig", 20)
        db = "side_" + uuid.uuid4().hex[:8]
        env = _chmigrate_env(endpoint.url, db, work, work / "mig")
        _run([sys.executable, "-m", "chmigrate", "up"], env, work)
        if peer:
            _run([peer, "migrate", *_peer_args(endpoint.url, db, work / "mig"), "--create-db-if-not-exists"])
        chm = Path(sys.executable).parent / "chmigrate"
        for _ in range(max(rounds, 5)):
            out["python -c 'import typer'"].seconds.append(_run([sys.executable, "-c", "import typer"]))
            out["chmigrate --help"].seconds.append(_run([str(chm), "--help"], env, work))
            out["chmigrate --version"].seconds.append(_run([str(chm), "--version"], env, work))
            _measured(endpoint, out["chmigrate status"], [str(chm), "status"], env, work)
            if peer:
                cmd = [peer, "status", *_peer_args(endpoint.url, db, work / "mig")]
                _measured(endpoint, out["clickhouse-migrations status"], cmd)
    return out


def _ratio(a: Series, b: Series) -> str:
    return f"{a.median / b.median:.2f}x"


def run(migrations: int, tables: int, rounds: int) -> None:
    from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig
    from tests.support.endpoint import start_endpoint

    shm = Path("/dev/shm")
    data = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() else None, prefix="chmigrate-side-"))
    endpoint = start_endpoint(data / "data", password=PASSWORD, python=sys.executable)
    peer = _peer()
    print(f"side by side on {endpoint.url} (chDB over HTTP, data in {data}); peer: {peer or 'not installed'}")
    try:
        with ClickHouse.connect(ClickHouseConfig(url=endpoint.url, password=PASSWORD)) as ch:
            up = bench_up(endpoint, ch, migrations, rounds)
            for who, s in up.items():
                print(f"up {migrations} x 5: {who}: {s.line()}")
            print(f"up: chmigrate / bare loop {_ratio(up['chmigrate'], up['bare loop'])}"
                  + (f", clickhouse-migrations / bare loop {_ratio(up['clickhouse-migrations'], up['bare loop'])}"
                     if peer else ""))
            drift = bench_drift(endpoint, ch, tables, rounds)
            for who, s in drift.items():
                print(f"drift check, {tables} tables: {who}: {s.line()}")
            if peer:
                ref = drift["clickhouse-migrations dump --check"]
                print(f"drift: cold / peer {_ratio(drift['chmigrate cold'], ref)}, cold with the committed snapshot "
                      f"/ peer {_ratio(drift['chmigrate cold, committed snapshot'], ref)}, "
                      f"warm / peer {_ratio(drift['chmigrate warm'], ref)}")
        start = bench_status_and_startup(endpoint, rounds)
        for who, s in start.items():
            print(f"start-up: {who}: {s.line()}")
        typer_s = start["python -c 'import typer'"]
        print(f"start-up: --help / import typer {_ratio(start['chmigrate --help'], typer_s)}, --version / import "
              f"typer {_ratio(start['chmigrate --version'], typer_s)}"
              + (f", status / peer status {_ratio(start['chmigrate status'], start['clickhouse-migrations status'])}"
                 if peer else ""))
    finally:
        endpoint.stop()
        shutil.rmtree(data, ignore_errors=True)
