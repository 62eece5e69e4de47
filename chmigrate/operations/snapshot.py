"""`chmigrate snapshot`: the desired schema, committed beside the migrations, so that a drift check on a
fresh CI runner replays nothing (diff and verify read it when its key is theirs).

The key is the desired-schema cache's: every statement that runs, the scratch engine's version,
chmigrate's version, the database and the exclusions. A snapshot whose key is not the current one is
stale: `verify` fails, `diff` replays (and says so), `snapshot --check` exits 1. No server is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chmigrate.connect import ClickHouseTarget
from chmigrate.errors import CheckFailed
from chmigrate.migrations.discovery import Migration
from chmigrate.schema.compare import ledger_tables
from chmigrate.schema.desired import (
    Snapshot,
    build_desired,
    cache_key,
    read_snapshot,
    scratch_engine_version,
    write_snapshot,
)

SnapshotState = Literal["current", "stale", "missing"]


@dataclass(frozen=True)
class SnapshotResult:
    path: str
    before: SnapshotState  # the file's state when the command started
    written: bool
    source: str  # how the desired schema was had: "replay", "cache" or "snapshot"
    tables: int
    views: int


def current_key(tgt: ClickHouseTarget, migrations: tuple[Migration, ...]) -> str:
    return cache_key(migrations, engine=scratch_engine_version(), database=tgt.database,
                     exclude=ledger_tables(tgt.ledger_table))


def state(tgt: ClickHouseTarget, migrations: tuple[Migration, ...]) -> SnapshotState:
    return _state(read_snapshot(tgt.snapshot_path), tgt, migrations)


def _state(found: Snapshot | None, tgt: ClickHouseTarget, migrations: tuple[Migration, ...]) -> SnapshotState:
    if found is None:
        return "missing"
    return "current" if found.key == current_key(tgt, migrations) else "stale"


def snapshot(tgt: ClickHouseTarget, migrations: tuple[Migration, ...], *, check: bool = False) -> SnapshotResult:
    """Write the snapshot (replaying the migrations, or from the cache); with `check`, write nothing and
    raise CheckFailed unless it is current."""
    path = tgt.snapshot_path
    found = read_snapshot(path)
    before = _state(found, tgt, migrations)
    if check:
        if found is None or before != "current":
            raise CheckFailed(f"{path} is {before}" + (": the migrations changed since it was written"
                                                        if before == "stale" else ""),
                              hint="run `chmigrate snapshot` and commit the file")
        return SnapshotResult(str(path), before, False, "snapshot", len(found.canonical.tables),
                              len(found.canonical.views))
    desired = build_desired(migrations, database=tgt.database, exclude=ledger_tables(tgt.ledger_table),
                            cache_dir=tgt.local_dir / "cache")
    written = before != "current"
    if written:
        write_snapshot(path, desired, database=tgt.database)
    return SnapshotResult(str(path), before, written, desired.source, len(desired.canonical.tables),
                          len(desired.canonical.views))


def refresh_if_stale(tgt: ClickHouseTarget, migrations: tuple[Migration, ...]) -> bool:
    """After `up` on the embedded local engine: keep an existing snapshot current (a developer's run).
    Never creates one, and never runs against a server (CI must see a stale snapshot fail)."""
    found = read_snapshot(tgt.snapshot_path)
    if _state(found, tgt, migrations) != "stale":
        return False
    desired = build_desired(migrations, database=tgt.database, exclude=ledger_tables(tgt.ledger_table),
                            cache_dir=tgt.local_dir / "cache")
    write_snapshot(tgt.snapshot_path, desired, database=tgt.database)
    return True
