"""Fixtures for the schema tests: one embedded chDB per test module.

chDB opens one data directory per process at a time, so each module that needs an
in-process target opens its own directory and closes it when the module is done;
the desired schema is always built in a subprocess (chmigrate.schema.replay).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig
from tests.schema.helpers import CORPUS


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    ch = ClickHouse.connect(ClickHouseConfig(local_dir=tmp_path_factory.mktemp("chdb")))
    try:
        yield ch
    finally:
        ch.close()


@pytest.fixture(scope="session")
def corpus_available() -> None:
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.skip(f"DDL corpus not found at {CORPUS} (set CHMIGRATE_CORPUS)")
