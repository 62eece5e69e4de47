"""The engine seam: what api.py asks of each database, and its two implementations.

ClickHouse and Postgres each implement `Engine` (status, plan, a dry run of `up`, drift, verify checks).
Settings are resolved once into each engine's target (`engines`); api.py then composes the engines the
same way for every read-only command. Writing commands add the run locks on top (api.writing).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from chmigrate.connect import ClickHouseTarget, load_migrations, resolve_clickhouse
from chmigrate.results import Check, TargetPlan, TargetStatus, TargetUpResult
from chmigrate.settings import Settings

if TYPE_CHECKING:
    from chmigrate.operations.drift import ClickHouseDrift
    from chmigrate.targets.postgres import Postgres, PostgresConfig


@dataclass(frozen=True)
class RunOptions:
    """What a run of `up` (or its dry run) is asked to do, for either engine."""

    to: str | None = None
    allow_changed: Collection[str] = ()  # ClickHouse: versions whose edited files are accepted
    retry: bool = False  # ClickHouse: run a failed statement again
    protected: str | None = None  # the setting that protects this environment (None when it is not)


@dataclass(frozen=True)
class PostgresDrift:
    target: str
    embedded: bool
    differences: tuple[str, ...]


class Engine(Protocol):
    name: Literal["clickhouse", "postgres"]

    def status(self) -> TargetStatus: ...

    def plan(self, options: RunOptions) -> TargetPlan: ...

    def dry_run(self, options: RunOptions) -> TargetUpResult: ...

    def drift(self, dev_database: str | None) -> ClickHouseDrift | PostgresDrift: ...

    def checks(self, dev_database: str | None) -> list[Check]: ...


@dataclass(frozen=True)
class ClickHouseEngine:
    target: ClickHouseTarget
    name: Literal["clickhouse"] = field(default="clickhouse", init=False)

    def status(self) -> TargetStatus:
        from chmigrate.operations import clickhouse as ch_ops

        return ch_ops.status(self.target)

    def plan(self, options: RunOptions) -> TargetPlan:
        from chmigrate.operations import clickhouse as ch_ops

        return ch_ops.plan(self.target, to=options.to)

    def dry_run(self, options: RunOptions) -> TargetUpResult:
        from chmigrate.operations import clickhouse as ch_ops

        load_migrations(self.target)
        return ch_ops.dry_run(self.target, to=options.to, allow_changed=options.allow_changed,
                              retry=options.retry, protected=options.protected)

    def drift(self, dev_database: str | None) -> ClickHouseDrift:
        from chmigrate.operations.drift import clickhouse_diff

        return clickhouse_diff(self.target, dev_database=dev_database)

    def checks(self, dev_database: str | None) -> list[Check]:
        from chmigrate.operations.drift import clickhouse_verify

        return clickhouse_verify(self.target, dev_database=dev_database)


@dataclass(frozen=True)
class PostgresEngine:
    """Opens its server (or starts the embedded one) for each call: a command makes one call."""

    config: PostgresConfig
    name: Literal["postgres"] = field(default="postgres", init=False)

    @contextmanager
    def open(self) -> Iterator[Postgres]:
        from chmigrate.targets.postgres import Postgres

        with Postgres.connect(self.config) as pg:
            yield pg

    def status(self) -> TargetStatus:
        with self.open() as pg:
            return pg.status()

    def plan(self, options: RunOptions) -> TargetPlan:
        with self.open() as pg:
            return pg.plan(options.to)

    def dry_run(self, options: RunOptions) -> TargetUpResult:
        with self.open() as pg:
            return pg.up(to=options.to, dry_run=True)

    def drift(self, dev_database: str | None) -> PostgresDrift:
        with self.open() as pg:
            return PostgresDrift(pg.label, pg.embedded, pg.drift())

    def checks(self, dev_database: str | None) -> list[Check]:
        from chmigrate.operations.drift import postgres_checks

        with self.open() as pg:
            return postgres_checks(pg.status(), pg.drift())


def resolve_postgres(settings: Settings) -> PostgresConfig:
    from chmigrate.targets.postgres import PostgresConfig

    return PostgresConfig(url=settings.postgres_url, password=settings.postgres_password,
                          local_dir=settings.local_dir / "postgres", project_dir=settings.postgres_dir,
                          connect_timeout=settings.connect_timeout, lock_timeout=settings.lock_timeout)


def engines(settings: Settings) -> list[ClickHouseEngine | PostgresEngine]:
    """The engines a run uses, in the order every command uses them (ClickHouse, then Postgres), each with
    its target resolved from `settings` here, once. Checks first that embedded and server engines are not
    mixed (Settings.check_servers)."""
    settings.check_servers()
    found: list[ClickHouseEngine | PostgresEngine] = []
    if settings.wants("clickhouse"):
        found.append(ClickHouseEngine(resolve_clickhouse(settings)))
    if settings.wants("postgres"):
        found.append(PostgresEngine(resolve_postgres(settings)))
    return found
