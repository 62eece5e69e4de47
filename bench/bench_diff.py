"""inspect + diff of a database with N tables: first run (replays the migrations) and cached."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from chmigrate import api
from chmigrate.settings import load


def write_tables(d: Path, tables: int, per_file: int = 10) -> None:
    d.mkdir(parents=True)
    for f in range(tables // per_file):
        stmts = []
        for i in range(per_file):
            n = f * per_file + i
            stmts.append(
                f"CREATE TABLE t_{n:04d} (id UInt64, ts DateTime64(3, 'UTC'), user_id UUID, v Decimal64(6) "
                f"DEFAULT 1.0, s LowCardinality(String) CODEC(ZSTD(3)), INDEX ix_s s TYPE bloom_filter "
                f"GRANULARITY 4) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (user_id, ts, id) "
                f"TTL toDateTime(ts) + INTERVAL 13 MONTH SETTINGS index_granularity = 8192")
        (d / f"{f + 1:04d}_tables.sql").write_text(";\n".join(stmts) + ";\n")


def bench_diff(tables: int, endpoint: Any) -> None:
    targets: list[tuple[str, str | None, str]] = [("embedded", None, "")]
    if endpoint is not None:
        targets.append(("http endpoint", endpoint.url, "bench-pw"))
    for kind, url, password in targets:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            write_tables(work / "mig", tables)
            flags: dict[str, Any] = {"migrations_dir": work / "mig", "only": "clickhouse",
                                     "database": "bench_" + uuid.uuid4().hex[:8]}
            if url:
                flags["clickhouse_url"] = url
            settings = load(flags, env={"CLICKHOUSE_PASSWORD": password, "CHMIGRATE_LOCAL_DIR": str(work / ".cm")},
                            cwd=work)
            t0 = time.perf_counter()
            api.up(settings)
            up_s = time.perf_counter() - t0
            for label in ("first (replay)", "cached"):
                t0 = time.perf_counter()
                result = api.diff(settings)
                seconds = time.perf_counter() - t0
                ch = result.clickhouse
                assert ch is not None
                print(f"diff [{kind}] {tables} tables, {label}: {seconds:.2f} s, {ch.target_queries} queries to "
                      f"the target, {len(ch.changes)} changes (up of the same took {up_s:.1f} s)")
