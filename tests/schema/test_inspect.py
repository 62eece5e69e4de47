"""inspect(): what it reads from the system tables and the CREATE text, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from chmigrate.schema.compare import compare
from chmigrate.schema.createparse import parse_create
from chmigrate.schema.inspect import inspect
from chmigrate.schema.normalize import canonicalize
from chmigrate.schema.objects import Projection
from chmigrate.schema.render import render_text
from chmigrate.schema.sources import source_files
from chmigrate.targets.clickhouse import ClickHouse
from tests.schema.helpers import apply, use_fresh_database

DDL = [
    "CREATE TABLE src (id UInt64, d DateTime, s String TTL d + INTERVAL 1 DAY, "
    "big String SETTINGS (max_compress_block_size = 81920), "
    "CONSTRAINT positive CHECK id > 0, PROJECTION p (SELECT s, count() GROUP BY s)) "
    "ENGINE = MergeTree ORDER BY id SAMPLE BY id COMMENT 'source'",
    "CREATE MATERIALIZED VIEW inner_mv ENGINE = MergeTree ORDER BY id AS SELECT id FROM src",
    "CREATE TABLE dst (id UInt64) ENGINE = MergeTree ORDER BY id",
    "CREATE MATERIALIZED VIEW to_mv TO dst AS SELECT id FROM src",
    "CREATE VIEW v SQL SECURITY INVOKER AS SELECT id FROM src WHERE id = {p:UInt64}",
    "CREATE DICTIONARY dict (id UInt64, s String) PRIMARY KEY id SOURCE(CLICKHOUSE(TABLE 'src')) "
    "LIFETIME(0) LAYOUT(FLAT())",
    "CREATE TABLE chmigrate_ledger (v String) ENGINE = MergeTree ORDER BY v",
]


def test_inspect_reads_everything_in_five_queries(engine: ClickHouse) -> None:
    use_fresh_database(engine, "insp")
    apply(engine, DDL)
    before = engine.requests
    schema = inspect(engine, "insp", exclude={"chmigrate_ledger"})
    assert engine.requests - before == 5
    assert [t.name for t in schema.tables] == ["dst", "src"]  # inner table and excluded ledger left out
    src = schema.table("src")
    assert src is not None
    s = src.column("s")
    big = src.column("big")
    assert s is not None and s.ttl == "d + toIntervalDay(1)"
    assert big is not None and big.settings == (("max_compress_block_size", "81920"),)
    assert [c.name for c in src.constraints] == ["positive"]
    assert [p.name for p in src.projections] == ["p"]
    assert (src.sample_key, src.comment) == ("id", "source")
    views = {v.name: v for v in schema.views}
    assert views["inner_mv"].target == "" and views["inner_mv"].inner_engine.startswith(
        "MergeTree ORDER BY id"
    )
    assert views["to_mv"].target in ("insp.dst", "dst")
    assert views["v"].security == "SQL SECURITY INVOKER"
    assert views["dict"].kind == "dictionary" and "CREATE DICTIONARY" in views["dict"].query


def test_projections_from_create_text_equal_system_projections(engine: ClickHouse) -> None:
    """24.8 has no system.projections: the CREATE-text path must give the same normalised projections."""
    use_fresh_database(engine, "insp")
    apply(engine, DDL[:1])
    rows = engine.query(
        "SELECT create_table_query FROM system.tables WHERE database = 'insp' AND name = 'src'"
    )
    parsed = parse_create(str(rows[0][0])).projections
    assert parsed == (Projection("p", "SELECT s, count() GROUP BY s"),)
    schema = inspect(engine, "insp")
    from_create = replace(schema, tables=tuple(replace(t, projections=parsed) for t in schema.tables))
    assert canonicalize(from_create) == canonicalize(schema)


def test_every_kind_of_object_round_trips(engine: ClickHouse, tmp_path: Path) -> None:
    use_fresh_database(engine, "insp")
    apply(engine, DDL)
    files = source_files([(Path("0001_all.sql"), DDL[:-1])])
    result = compare(engine, files, database="insp", cache_dir=tmp_path)
    assert result.changes == (), render_text(result.changes)
