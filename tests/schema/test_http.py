"""The schema layer over HTTP: the test endpoint (current engine), or CHMIGRATE_TEST_CLICKHOUSE_URL; the
24.8 parity run (`pytest -m server` against the chdb 2.1.1 endpoint) selects these too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chmigrate.schema.compare import compare
from chmigrate.schema.render import reconcile_statements, render_text
from chmigrate.targets.clickhouse import ClickHouse
from tests.schema.helpers import FIXTURES, seed_migrations, statements
from tests.schema.test_mutations import MUTATIONS, Mutation

pytestmark = pytest.mark.server

MIGRATIONS = seed_migrations(FIXTURES / "seed_extra")
IN_PLACE = [
    "column_dropped",
    "type_changed",
    "default_added",
    "column_ttl_added",
    "column_moved",
    "ttl_removed",
    "setting_changed",
    "index_changed",
    "mv_query_changed",
    "view_dropped",
    "table_dropped",
]


@pytest.fixture
def server(http_target: Any) -> Iterator[tuple[ClickHouse, str]]:
    db = http_target.database
    with http_target.connect() as ch:
        ch.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        for sql in statements(MIGRATIONS):
            ch.execute(sql, settings={"database": db})  # unqualified names land in the test database
        yield ch, db


def test_seed_over_http_has_no_drift(server: tuple[ClickHouse, str], tmp_path: Path) -> None:
    ch, db = server
    result = compare(ch, MIGRATIONS, database=db, cache_dir=tmp_path)
    assert result.changes == (), render_text(result.changes)
    assert result.target_queries <= 5


@pytest.mark.parametrize("mutation", [m for m in MUTATIONS if m.name in IN_PLACE], ids=lambda m: m.name)
def test_mutation_over_http(server: tuple[ClickHouse, str], tmp_path: Path, mutation: Mutation) -> None:
    ch, db = server
    for sql in mutation.sql:
        ch.execute(sql, settings={"database": db})
    result = compare(ch, MIGRATIONS, database=db, cache_dir=tmp_path)
    assert {(c.kind, c.object.split(".", 1)[1], c.attribute) for c in result.changes} == set(
        mutation.expected
    )
    for statement in reconcile_statements(
        result.changes, result.desired, database=db, allow_destructive=True
    ):
        ch.execute(statement, settings={"database": db})  # queries inside name tables unqualified
    after = compare(ch, MIGRATIONS, database=db, cache_dir=tmp_path)
    assert after.changes == (), render_text(after.changes)


def test_dev_database_over_http(server: tuple[ClickHouse, str]) -> None:
    ch, db = server
    dev = f"{db}_dev"
    result = compare(ch, MIGRATIONS, database=db, dev_database=dev)
    assert result.changes == (), render_text(result.changes)
    assert result.desired_engine.startswith(f"dev database {dev} on ClickHouse")
    assert ch.query(f"SELECT count() FROM system.databases WHERE name = '{dev}'")[0][0] == 0
