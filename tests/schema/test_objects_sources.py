"""The schema model's serialisation and the migration-source helpers (pure)."""

from __future__ import annotations

from pathlib import Path

from chmigrate.schema.objects import Column, Constraint, Index, Projection, Schema, Table, View
from chmigrate.schema.sources import defining_files, source_files, statement_targets, statements_digest

SCHEMA = Schema(
    "default",
    tables=(
        Table(
            "t",
            "ReplacingMergeTree",
            "ver",
            "toYYYYMM(d)",
            "a, b",
            "a",
            "",
            "d + toIntervalDay(1)",
            (("index_granularity", "1024"),),
            "comment",
            columns=(
                Column(
                    "a",
                    "UInt8",
                    "DEFAULT",
                    "1",
                    "CODEC(ZSTD(1))",
                    "d + toIntervalDay(1)",
                    "c",
                    (("max_compress_block_size", "1"),),
                ),
            ),
            indices=(Index("i", "a", "minmax", 2),),
            projections=(Projection("p", "SELECT * ORDER BY b"),),
            constraints=(Constraint("k", "CHECK", "a > 0"),),
        ),
    ),
    views=(
        View(
            "mv",
            "materialized_view",
            "SELECT 1",
            target="t",
            columns=(Column("x", "UInt8"),),
            security="SQL SECURITY INVOKER",
            refresh="REFRESH EVERY 1 HOUR",
        ),
    ),
    engine_version="26.9.2.1",
)


def test_schema_round_trips_through_json_and_is_hashable() -> None:
    text = SCHEMA.to_json()
    again = Schema.from_json(text)
    assert again == SCHEMA
    assert hash(again) == hash(SCHEMA)
    assert again.to_json() == text  # stable
    assert {SCHEMA, again} == {SCHEMA}


def test_schema_lookups() -> None:
    assert SCHEMA.table("t") is not None and SCHEMA.table("mv") is None
    assert SCHEMA.view("mv") is not None
    assert SCHEMA.tables[0].engine_full == "ReplacingMergeTree(ver)"
    assert SCHEMA.without({"t"}).tables == ()


def test_statement_targets() -> None:
    assert statement_targets("CREATE TABLE IF NOT EXISTS db.t (a UInt8) ENGINE = Memory") == (
        "CREATE",
        [("db", "t")],
    )
    assert statement_targets("create or replace view v as select 1") == ("CREATE", [(None, "v")])
    assert statement_targets("CREATE MATERIALIZED VIEW mv TO t AS SELECT 1") == ("CREATE", [(None, "mv")])
    assert statement_targets("ALTER TABLE `x` ADD COLUMN b UInt8") == ("ALTER", [(None, "x")])
    assert statement_targets("RENAME TABLE a TO b, c TO d") == (
        "RENAME",
        [(None, "a"), (None, "b"), (None, "c"), (None, "d")],
    )
    assert statement_targets("EXCHANGE TABLES a AND b") == ("EXCHANGE", [(None, "a"), (None, "b")])


def test_defining_files() -> None:
    files = source_files(
        [
            (Path("0001_a.sql"), ["CREATE TABLE t (a UInt8) ENGINE = Memory", "CREATE VIEW v AS SELECT 1"]),
            (
                Path("0002_b.sql"),
                ["ALTER TABLE t ADD COLUMN b UInt8", "ALTER TABLE only_altered ADD COLUMN c UInt8"],
            ),
            (Path("0003_c.sql"), ["DROP VIEW v", "CREATE VIEW v AS SELECT 2", "RENAME TABLE new_t TO t2"]),
        ]
    )
    assert defining_files(files) == {
        "t": "0001_a.sql",
        "v": "0003_c.sql",
        "only_altered": "0002_b.sql",
        "t2": "0003_c.sql",
    }


def test_statements_digest_sees_substituted_text() -> None:
    a = source_files([(Path("0001_a.sql"), ["SELECT 1"])])
    b = source_files([(Path("0001_a.sql"), ["SELECT 2"])])
    assert statements_digest(a) != statements_digest(b)
    assert statements_digest(a) == statements_digest(
        source_files([(Path("/elsewhere/0001_a.sql"), ["SELECT 1"])])
    )
