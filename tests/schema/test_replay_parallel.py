"""A long replay spread over several scratch engines gives the schema one engine gives, and the same error."""

from __future__ import annotations

from pathlib import Path

import pytest

from chmigrate.errors import StatementFailed
from chmigrate.schema.desired import replay_in_subprocess
from chmigrate.schema.normalize import canonicalize
from chmigrate.schema.replay_groups import independent_groups, spread
from chmigrate.schema.sources import source_files
from tests.schema.helpers import CORPUS, corpus_migrations, corpus_sources, seed_migrations

SOURCES = corpus_sources() if (CORPUS / "MANIFEST.tsv").exists() else []


def _groups_of(files: dict[str, list[str]]) -> list[set[str]] | None:
    migrations = source_files({Path(k): v for k, v in files.items()})
    groups = independent_groups(migrations)
    if groups is None:
        return None
    return [{f"{migrations[f].path}:{s + 1}" for f, s in g} for g in groups]


def test_statements_on_one_object_or_naming_it_share_a_group() -> None:
    groups = _groups_of({
        "1.sql": ["CREATE TABLE a (x UInt8) ENGINE = MergeTree ORDER BY x",
                  "CREATE TABLE b (x UInt8) ENGINE = MergeTree ORDER BY x",
                  "CREATE TABLE c (x UInt8) ENGINE = Memory"],
        "2.sql": ["ALTER TABLE a ADD COLUMN y UInt8",
                  "CREATE MATERIALIZED VIEW mv TO b AS SELECT x FROM a",  # joins a and b
                  "CREATE DICTIONARY d (x UInt8) PRIMARY KEY x SOURCE(CLICKHOUSE(TABLE 'c')) LAYOUT(FLAT()) "
                  "LIFETIME(0)",  # names c in a string
                  "CREATE TABLE e (x UInt8) ENGINE = Memory"],
    })
    assert groups is not None
    assert sorted(map(sorted, groups)) == [["1.sql:1", "1.sql:2", "2.sql:1", "2.sql:2"], ["1.sql:3", "2.sql:3"],
                                           ["2.sql:4"]]


@pytest.mark.parametrize("statement", [
    "CREATE DATABASE other",
    "SET allow_experimental_object_type = 1",
    "CREATE FUNCTION f AS (x) -> x + 1",
    "CREATE TABLE m (x UInt8) ENGINE = Merge(currentDatabase(), '^t')",  # names tables by a pattern
    "RENAME DATABASE a TO b",
])
def test_anything_database_wide_keeps_the_replay_in_one_engine(statement: str) -> None:
    assert _groups_of({"1.sql": ["CREATE TABLE t (x UInt8) ENGINE = Memory", statement,
                                 "CREATE TABLE u (x UInt8) ENGINE = Memory"]}) is None


def test_spread_keeps_each_engine_in_file_order() -> None:
    loads = spread([[(0, 0), (2, 1)], [(0, 1)], [(1, 0), (1, 1), (3, 0)]], 2)
    assert sorted(map(len, loads)) == [3, 3]  # largest group first, then to the least loaded
    assert all(load == sorted(load) for load in loads)
    assert sorted(p for load in loads for p in load) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (3, 0)]


@pytest.mark.usefixtures("corpus_available")
@pytest.mark.parametrize("source", [s for s in SOURCES if s != "clickhouse-tests"])
def test_parallel_replay_of_the_corpus_equals_one_engine(source: str) -> None:
    migrations = corpus_migrations(source)
    assert independent_groups(migrations) is not None  # else this test would compare a replay with itself
    one = replay_in_subprocess(migrations, database="corpus", workers=1)
    three = replay_in_subprocess(migrations, database="corpus", workers=3)
    assert [t.name for t in three.tables] == [t.name for t in one.tables]
    assert [v.name for v in three.views] == [v.name for v in one.views]
    assert canonicalize(three) == canonicalize(one)


def test_parallel_replay_reports_the_first_failure_in_file_order() -> None:
    migrations = source_files({
        Path("0001_a.sql"): ["CREATE TABLE a (x UInt8) ENGINE = MergeTree ORDER BY x",
                             "CREATE TABLE b (x UInt8) ENGINE = MergeTree ORDER BY x"],
        Path("0002_b.sql"): ["ALTER TABLE b ADD COLUMN y NoSuchType"],  # fails first in file order
        Path("0003_c.sql"): ["ALTER TABLE a ADD COLUMN z NoSuchTypeEither"],
    })
    assert len(independent_groups(migrations) or []) == 2
    with pytest.raises(StatementFailed) as failed:
        replay_in_subprocess(migrations, database="app", workers=2)
    assert (failed.value.path, failed.value.statement) == ("0002_b.sql", 1)


def test_the_seed_replays_the_same_in_parallel() -> None:
    seed = seed_migrations()
    assert canonicalize(replay_in_subprocess(seed, database="app", workers=2)) == canonicalize(
        replay_in_subprocess(seed, database="app", workers=1))
