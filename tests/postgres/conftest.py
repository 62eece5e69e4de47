"""PostgreSQL fixtures: one server per session, one fresh database per test.

The server is chmigrate's embedded PostgreSQL in a temporary directory, or the server named by
CHMIGRATE_TEST_POSTGRES_URL (a role that may CREATE DATABASE; its password in the URL).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import pytest

from chmigrate.embedded_postgres import EmbeddedPostgres
from chmigrate.targets.postgres import Postgres, PostgresConfig

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "postgres"
TEST_URL = os.environ.get("CHMIGRATE_TEST_POSTGRES_URL") or None
PRICE_COLUMNS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
)


def _price_list_path() -> Path | None:
    path = REPO / "tests" / "data" / "litellm_model_prices.json"  # a copy of shared/data (SOURCES.md)
    return path if path.exists() else None


@dataclass(frozen=True)
class Server:
    """Where the session's server is: a URL without password, and the password apart."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    admin_db: str

    def url(self, database: str, *, user: str | None = None, password: str | None = None) -> str:
        auth = quote(user or self.user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="*")
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    def connect(self, database: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               dbname=database or self.admin_db, autocommit=True, **kwargs)


@dataclass(frozen=True)
class Database:
    """A fresh database for one test."""

    server: Server
    name: str

    @property
    def url(self) -> str:  # without the password: tests pass it apart, as the settings layer does
        return self.server.url(self.name)

    def config(self, **overrides: Any) -> PostgresConfig:
        values: dict[str, Any] = {"url": self.url, "password": self.server.password, "project_dir": PROJECT,
                                  "connect_timeout": 10.0, "lock_timeout": 30.0}
        values.update(overrides)
        return PostgresConfig(**values)

    def connect(self) -> psycopg.Connection[Any]:
        return self.server.connect(self.name)

    def rows(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Any = None) -> None:
        with self.connect() as conn:
            conn.execute(sql, params)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    if TEST_URL:
        parts = urlsplit(TEST_URL)
        password = parts.password or os.environ.get("PGPASSWORD", "")
        yield Server(host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                     user=parts.username or "postgres", password=password,
                     admin_db=parts.path.lstrip("/") or "postgres")
        return
    root = Path(tempfile.mkdtemp(prefix="chmigrate-pg-tests-"))
    try:
        with EmbeddedPostgres(root / "pg") as running:
            parts = urlsplit(running.admin_url)
            yield Server(host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                         user=parts.username or "postgres", password=running.password, admin_db="postgres")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_db(pg_server: Server) -> Iterator[Database]:
    name = f"chm_test_{uuid.uuid4().hex[:12]}"
    with pg_server.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database(pg_server, name)
    finally:
        with pg_server.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_target(pg_db: Database) -> Iterator[Postgres]:
    with Postgres.connect(pg_db.config()) as target:
        yield target


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the Alembic project that a test may add revisions to."""
    dest = tmp_path / "postgres"
    shutil.copytree(PROJECT, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture(scope="session")
def price_list() -> dict[str, dict[str, Any]]:
    path = _price_list_path()
    if path is None:
        pytest.skip("shared/data/litellm_model_prices.json is not beside the repository")
    data: dict[str, dict[str, Any]] = json.loads(path.read_text())
    data.pop("sample_spec", None)
    return data


def is_price(key: str, value: Any) -> bool:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return "cost" in key and (numeric or isinstance(value, dict))


def priced_entries(price_list: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every entry that has any price (per token, per image, per second, ...)."""
    return {model: entry for model, entry in price_list.items()
            if any(is_price(k, v) for k, v in entry.items())}


def exact(value: Any) -> Decimal | None:
    """The price as the JSON states it: Decimal(str(value)), None when absent."""
    return None if value is None else Decimal(str(value))


def copy_prices(conn: psycopg.Connection[Any], entries: dict[str, dict[str, Any]], *,
                effective_at: str | None = None, source: str = "litellm") -> int:
    """Load entries into model_pricing with COPY, as the daily refresh would; returns the row count."""
    from psycopg.types.json import Jsonb

    columns = ["provider", "model", "mode", *PRICE_COLUMNS, "source", "raw"]
    if effective_at is not None:
        columns.append("effective_at")
    with conn.cursor() as cur, cur.copy(
        f"COPY orchestrator.model_pricing ({', '.join(columns)}) FROM STDIN"
    ) as copy:
        for model, entry in entries.items():
            row: list[Any] = [entry["litellm_provider"], model, entry.get("mode"),
                              *(exact(entry.get(c)) for c in PRICE_COLUMNS), source, Jsonb(entry)]
            if effective_at is not None:
                row.append(effective_at)
            copy.write_row(row)
    return len(entries)


def catalog(db: Database, tables: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Definitions of the given (schema, table) pairs, from the catalogs, for before/after comparisons."""
    out: dict[str, Any] = {}
    for schema, table in tables:
        qualified = f"{schema}.{table}"
        out[qualified] = {
            "columns": db.rows(
                "SELECT column_name, data_type, udt_name, character_maximum_length, numeric_precision, "
                "numeric_scale, is_nullable, column_default, is_identity, identity_generation "
                "FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position", (schema, table)),
            "constraints": db.rows(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = to_regclass(%s) ORDER BY conname", (qualified,)),
            "indexes": db.rows(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
                "ORDER BY indexname", (schema, table)),
            "comments": db.rows(
                "SELECT obj_description(to_regclass(%s), 'pg_class'), "
                "array_agg(col_description(to_regclass(%s), attnum) ORDER BY attnum) "
                "FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0",
                (qualified, qualified, qualified)),
            "owner": db.rows("SELECT relowner::regrole::text FROM pg_class WHERE oid = to_regclass(%s)",
                             (qualified,)),
        }
    return out
