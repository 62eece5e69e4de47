"""Shared helpers for the schema tests: the seed migrations, the DDL corpus, applying statements."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from chmigrate.migrations.discovery import discover
from chmigrate.schema.sources import MigrationLike
from chmigrate.targets.clickhouse import ClickHouse, quote_ident

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "clickhouse"
FIXTURES = Path(__file__).with_name("fixtures")
_SHIPPED = Path(__file__).resolve().parents[1] / "data" / "corpus" / "clickhouse"  # copy of shared/corpus
CORPUS = Path(os.environ.get("CHMIGRATE_CORPUS", _SHIPPED))


class Executor(Protocol):
    def execute(self, sql: str, *, settings: Any = None, parameters: Any = None) -> None: ...


def corpus_sources() -> list[str]:
    """Source folders in MANIFEST.tsv order."""
    seen: list[str] = []
    for line in (CORPUS / "MANIFEST.tsv").read_text().splitlines()[1:]:
        source = line.split("\t", 1)[0].split("/", 1)[0]
        if source and source not in seen:
            seen.append(source)
    return seen


def corpus_migrations(source: str) -> tuple[MigrationLike, ...]:
    return discover(CORPUS / source, {}, allow_gaps=True)  # the projects number their files with gaps


def seed_migrations(extra: Path | None = None) -> tuple[MigrationLike, ...]:
    """The platform's seed DDL; with `extra`, a directory whose files are appended (copied next to it)."""
    migrations: tuple[MigrationLike, ...] = discover(SEED, {})
    if extra is not None:
        migrations += discover(extra, {})
    return migrations


def statements(migrations: Iterable[MigrationLike]) -> list[str]:
    return [s.sql for m in migrations for s in m.up]


def apply(ch: Executor, sqls: Sequence[str]) -> None:
    for sql in sqls:
        ch.execute(sql)


def use_fresh_database(ch: ClickHouse, name: str) -> None:
    """(Re)create `name` on an embedded engine and make it the session's current database."""
    ch.execute("USE default")
    ch.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} SYNC")
    ch.execute(f"CREATE DATABASE {quote_ident(name)}")
    ch.execute(f"USE {quote_ident(name)}")
