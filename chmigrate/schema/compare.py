"""One call for `diff` / `verify`: desired (replayed, cached) vs actual (inspected), normalised, diffed.

Queries sent to the target: the inspection's four or five SELECTs, plus at most
one formatting query for expressions that still differ after the pure-Python
canonicalisation; none of them grows with the number of tables. With a
cluster, every replica is inspected by the same queries over clusterAllReplicas
(schema/replicas.py: six of them) and compared with the desired schema on its
own; still one formatting query at most, and none grows with the replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chmigrate.results import Replica
from chmigrate.schema.desired import Desired, build_desired
from chmigrate.schema.diff import Change, diff
from chmigrate.schema.inspect import inspect
from chmigrate.schema.inspect_cache import TableCache
from chmigrate.schema.normalize import normalize_many, normalize_pair
from chmigrate.schema.objects import Schema
from chmigrate.schema.sources import MigrationLike
from chmigrate.targets.clickhouse import ClickHouse

DEFAULT_LEDGER = "chmigrate_ledger"


def ledger_tables(ledger: str = DEFAULT_LEDGER) -> frozenset[str]:
    """chmigrate's own tables in the target database: the ledger and its lock."""
    return frozenset({ledger, f"{ledger}_lock", f"{ledger}_keeper_lock"})


@dataclass(frozen=True)
class ReplicaComparison:
    """One replica of the cluster: how its schema differs from the desired one, and from the first replica's
    (`disagreements`: what this replica has where the first has the expected side; the replica name argument
    of Replicated* engines aside)."""

    replica: Replica
    changes: tuple[Change, ...]
    engine_version: str
    disagreements: tuple[Change, ...] = ()


@dataclass(frozen=True)
class Comparison:
    changes: tuple[Change, ...]  # with a cluster: every replica's, each once
    desired: Schema  # normalised
    actual: Schema  # normalised
    desired_cached: bool
    desired_engine: str
    desired_source: str  # "replay", "cache" or "snapshot"
    snapshot: str  # the committed snapshot: "current", "stale" or "missing"
    target_queries: int  # requests sent to the target by inspect + normalise
    cluster: str | None = None  # the replicas of this cluster were inspected (`replicas`)
    replicas: tuple[ReplicaComparison, ...] = ()

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
    cluster: str | None = None,
) -> Comparison:
    """With `cluster`, every replica of it is inspected and compared (`Comparison.replicas`)."""
    skip = ledger_tables(ledger) | frozenset(exclude)
    before = target.requests
    if cluster is not None:
        return _compare_replicas(target, cluster, database, skip,
                                 lambda: build_desired(migrations, database=database, exclude=skip,
                                                       cache_dir=cache_dir, settings=settings,
                                                       dev_database=dev_database, target=target,
                                                       snapshot=snapshot),
                                 sequential=dev_database is not None)

    def desired_schema() -> Desired:
        return build_desired(migrations, database=database, exclude=skip, cache_dir=cache_dir,
                             settings=settings, dev_database=dev_database, target=target, snapshot=snapshot)

    if dev_database is None:
        # The replay waits on its scratch processes: inspect the target meanwhile (it shares nothing with them).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            texts = (TableCache(cache_dir, target.label, target.user, database)
                     if cache_dir is not None and isinstance(target, ClickHouse) else None)
            inspected = pool.submit(inspect, target, database, exclude=skip, cache=texts)
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


def _compare_replicas(target: ClickHouse, cluster: str, database: str, skip: frozenset[str],
                      desired_schema: Callable[[], Desired], *, sequential: bool) -> Comparison:
    from chmigrate.schema.replicas import inspect_replicas, without_replica_names

    before = target.requests
    if sequential:
        desired = desired_schema()
        before = target.requests
        inspected = inspect_replicas(target, database, cluster, exclude=skip)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(inspect_replicas, target, database, cluster, exclude=skip)
            desired = desired_schema()
            inspected = future.result()
    want, haves = normalize_many(desired.canonical, [s for _, s in inspected], target, desired_is_canonical=True)
    first = without_replica_names(haves[0])
    replicas = tuple(
        ReplicaComparison(replica, diff(want, have, replicated=True), raw.engine_version,
                          diff(first, without_replica_names(have)) if i else ())
        for i, ((replica, raw), have) in enumerate(zip(inspected, haves))
    )
    return Comparison(
        changes=tuple(dict.fromkeys(c for r in replicas for c in r.changes)),
        desired=want,
        actual=haves[0],
        desired_cached=desired.cached,
        desired_engine=desired.engine,
        desired_source=desired.source,
        snapshot=desired.snapshot,
        target_queries=target.requests - before,
        cluster=cluster,
        replicas=replicas,
    )
