"""Turn Settings into open targets. The only place that knows both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chmigrate.settings import Settings
from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig, parse_url


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


def clickhouse_database(settings: Settings) -> str:
    """The target database: --database, else the URL's path, else `default`."""
    if settings.database:
        return settings.database
    if settings.clickhouse_url:
        db = parse_url(settings.clickhouse_url).database
        if db:
            return db
    return "default"


@contextmanager
def open_clickhouse(settings: Settings) -> Iterator[ClickHouse]:
    ch = ClickHouse.connect(clickhouse_config(settings))
    try:
        yield ch
    finally:
        ch.close()
