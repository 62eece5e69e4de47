"""One call for `diff` / `verify`: desired (replayed, cached) vs actual (inspected), normalised, diffed.

Queries sent to the target: the inspection's four or five SELECTs, plus at most
one formatting query for expressions that still differ after the pure-Python
canonicalisation; none of them grows with the number of tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chmigrate.schema.desired import Desired, build_desired
from chmigrate.schema.diff import Change, diff
from chmigrate.schema.inspect import inspect
from chmigrate.schema.normalize import normalize_pair
from chmigrate.schema.objects import Schema
from chmigrate.schema.sources import MigrationLike
from chmigrate.targets.clickhouse import ClickHouse

DEFAULT_LEDGER = "chmigrate_ledger"


def ledger_tables(ledger: str = DEFAULT_LEDGER) -> frozenset[str]:
    """chmigrate's own tables in the target database: the ledger and its lock."""
    return frozenset({ledger, f"{ledger}_lock", f"{ledger}_keeper_lock"})


@dataclass(frozen=True)
class Comparison:
    changes: tuple[Change, ...]
    desired: Schema  # normalised
    actual: Schema  # normalised
    desired_cached: bool
    desired_engine: str
    desired_source: str  # "replay", "cache" or "snapshot"
    snapshot: str  # the committed snapshot: "current", "stale" or "missing"
    target_queries: int  # requests sent to the target by inspect + normalise

    @property
    def drift(self) -> bool:
        return bool(self.changes)


def compare(
    target: ClickHouse,
    migrations: Sequence[MigrationLike],
    *,
    database: str,
    ledger: str = DEFAULT_LEDGER,
    exclude: Iterable[str] = (),
    cache_dir: Path | None = None,
    settings: Mapping[str, Any] | None = None,
    dev_database: str | None = None,
    snapshot: Path | None = None,
    replicated: bool = False,
) -> Comparison:
    skip = ledger_tables(ledger) | frozenset(exclude)
    before = target.requests

    def desired_schema() -> Desired:
        return build_desired(migrations, database=database, exclude=skip, cache_dir=cache_dir,
                             settings=settings, dev_database=dev_database, target=target, snapshot=snapshot)

    if dev_database is None:
        # The replay waits on its scratch processes: inspect the target meanwhile (it shares nothing with them).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            inspected = pool.submit(inspect, target, database, exclude=skip)
            desired = desired_schema()
            actual = inspected.result()
    else:
        desired = desired_schema()  # replays on the target itself: one thing at a time on its connection
        before = target.requests
        actual = inspect(target, database, exclude=skip)
    want, have = normalize_pair(desired.canonical, actual, target, desired_is_canonical=True)
    return Comparison(
        changes=diff(want, have, replicated=replicated),
        desired=want,
        actual=have,
        desired_cached=desired.cached,
        desired_engine=desired.engine,
        desired_source=desired.source,
        snapshot=desired.snapshot,
        target_queries=target.requests - before,
    )
