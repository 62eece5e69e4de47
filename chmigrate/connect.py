"""Turn Settings into targets, once per run: the only place that knows both.

`resolve_clickhouse` derives everything the ClickHouse half of a command needs (connection, database,
ledger and lock tables, lock policy, migrations) from the settings at the top of a command, like goose's
Provider; operations/ then works from that target alone and never re-reads Settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chmigrate.settings import Settings
from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig, parse_url

if TYPE_CHECKING:
    from chmigrate.migrations.discovery import Migration


def clickhouse_config(settings: Settings) -> ClickHouseConfig:
    return ClickHouseConfig(
        url=settings.clickhouse_url,
        local_dir=settings.local_dir / "clickhouse",
        user=settings.clickhouse_user,
        password=settings.clickhouse_password,
        connect_timeout=settings.connect_timeout,
        query_timeout=settings.query_timeout,
        verify_tls=settings.tls_verify,
        ca_cert=settings.tls_ca_cert,
        client_cert=settings.tls_client_cert,
        client_cert_key=settings.tls_client_key,
        open_timeout=settings.lock_timeout,
    )


@dataclass(frozen=True)
class ClickHouseTarget:
    """One ClickHouse database to migrate, resolved from Settings once per run."""

    config: ClickHouseConfig  # how to connect (its repr masks the password)
    database: str  # the target database (--database, else the URL's path, else default)
    ledger_table: str
    lock: str  # "auto" | "keeper" | "lease"
    lock_lease: float  # seconds a lock claim lives without renewal
    lock_timeout: float  # seconds to wait for another run's lock, or a running statement
    migrations_dir: Path
    variables: Mapping[str, str] = field(default_factory=dict)
    allow_version_gaps: bool = False
    local_dir: Path = Path(".chmigrate")  # the embedded engine's data and the desired-schema cache
    cluster: str | None = None  # DDL goes ON CLUSTER this cluster with Replicated* engines (migrations/cluster.py)
    replica_path: str | None = None
    replica_name: str | None = None
    ddl_timeout: float = 600.0  # distributed_ddl_task_timeout, seconds

    @property
    def keeper_lock_table(self) -> str:
        return self.ledger_table + "_keeper_lock"

    @property
    def lease_table(self) -> str:
        return self.ledger_table + "_lock"

    @property
    def snapshot_path(self) -> Path:
        """The committed desired-schema snapshot, beside the migrations (`chmigrate snapshot`)."""
        return self.migrations_dir / "schema.snapshot.json"


def resolve_clickhouse(settings: Settings) -> ClickHouseTarget:
    return ClickHouseTarget(
        config=clickhouse_config(settings), database=clickhouse_database(settings),
        ledger_table=settings.ledger_table, lock=settings.lock, lock_lease=settings.lock_lease,
        lock_timeout=settings.lock_timeout, migrations_dir=settings.migrations_dir,
        variables=dict(settings.variables), allow_version_gaps=settings.allow_version_gaps,
        local_dir=settings.local_dir, cluster=settings.cluster, replica_path=settings.replica_path,
        replica_name=settings.replica_name, ddl_timeout=settings.ddl_timeout)


def clickhouse_database(settings: Settings) -> str:
    """The target database: --database, else the URL's path, else `default`."""
    if settings.database:
        return settings.database
    if settings.clickhouse_url:
        db = parse_url(settings.clickhouse_url).database
        if db:
            return db
    return "default"


def load_migrations(target: ClickHouseTarget) -> tuple[Migration, ...]:
    """The target's migration files, read and checked (a bad file is an error naming it)."""
    from chmigrate.migrations.discovery import discover

    return discover(target.migrations_dir, target.variables, allow_gaps=target.allow_version_gaps)


@contextmanager
def open_clickhouse(target: ClickHouseTarget) -> Iterator[ClickHouse]:
    ch = ClickHouse.connect(target.config)
    try:
        yield ch
    finally:
        ch.close()
