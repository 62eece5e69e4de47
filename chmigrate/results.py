"""Frozen result objects returned by the library; the CLI renders them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

State = Literal["applied", "pending", "changed", "unknown", "failed", "dirty"]


@dataclass(frozen=True)
class MigrationStatus:
    """One version as seen by `status`: its file on disk and its ledger record."""

    version: str
    name: str
    state: State
    checksum: str | None
    applied_at: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class TargetStatus:
    """The state of one database: which target, which migrations in which state."""

    engine: Literal["clickhouse", "postgres"]
    target: str
    embedded: bool
    migrations: tuple[MigrationStatus, ...]

    @property
    def clean(self) -> bool:
        return all(m.state == "applied" for m in self.migrations)


@dataclass(frozen=True)
class StatusResult:
    targets: tuple[TargetStatus, ...]

    @property
    def clean(self) -> bool:
        return all(t.clean for t in self.targets)


@dataclass(frozen=True)
class PlannedStatement:
    version: str
    name: str
    path: str
    index: int  # 1-based within the file
    line: int
    sql: str
    exists: bool = False  # it creates (without IF NOT EXISTS) an object that already exists: `up` refuses


@dataclass(frozen=True)
class TargetPlan:
    engine: Literal["clickhouse", "postgres"]
    target: str
    embedded: bool
    statements: tuple[PlannedStatement, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanResult:
    targets: tuple[TargetPlan, ...]


@dataclass(frozen=True)
class AppliedMigration:
    version: str
    name: str
    statements: int  # statements executed by this run
    duration_ms: int
    resumed_from: int | None = None  # 1-based statement index when a run resumed a half-applied file


@dataclass(frozen=True)
class TargetUpResult:
    engine: Literal["clickhouse", "postgres"]
    target: str
    embedded: bool
    applied: tuple[AppliedMigration, ...]
    dry_run: bool = False
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class UpResult:
    targets: tuple[TargetUpResult, ...]

    @property
    def changed(self) -> bool:
        return any(t.applied for t in self.targets)
