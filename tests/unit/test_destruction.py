"""Which statements destroy stored data, read from their tokens (no engine)."""

from __future__ import annotations

from chmigrate.operations.destruction import Destroys, current_ttl, destroys, ttl_seconds


def test_statements_that_destroy_data_name_their_object() -> None:
    assert destroys("DROP TABLE IF EXISTS llm_usage", "db") == [Destroys("db", "llm_usage", "table")]
    assert destroys("drop view `a b`.mv", "db") == [Destroys("a b", "mv", "table")]
    assert destroys("TRUNCATE TABLE IF EXISTS t", "db") == [Destroys("db", "t", "truncate")]
    assert destroys("ALTER TABLE t ON CLUSTER c DROP COLUMN IF EXISTS turn_id, ADD COLUMN x Int8", "db") == [
        Destroys("db", "t", "column", "turn_id")]
    assert destroys("ALTER TABLE t DROP PARTITION 202412", "db") == [Destroys("db", "t", "partition", "202412")]
    assert destroys("ALTER TABLE t MODIFY TTL d + INTERVAL 1 DAY", "db")[0].kind == "ttl"


def test_statements_that_keep_data_are_not_listed() -> None:
    for sql in ("CREATE TABLE t (x Int8) ENGINE = MergeTree ORDER BY x", "ALTER TABLE t ADD COLUMN y Int8",
                "INSERT INTO t SELECT 1", "SELECT 'DROP TABLE t'", "-- DROP TABLE t\nSELECT 1",
                "ALTER TABLE t COMMENT COLUMN x 'DROP COLUMN x'", "DROP DICTIONARY d"):
        assert destroys(sql, "db") == [], sql


def test_ttl_lengths_compare_across_spellings() -> None:
    assert ttl_seconds("toDateTime(event_time) + INTERVAL 13 MONTH") == ttl_seconds(
        "toDateTime(event_time) + toIntervalMonth(13)")
    assert ttl_seconds("d + INTERVAL 1 MONTH") < ttl_seconds("d + INTERVAL 13 MONTH")  # type: ignore[operator]
    assert ttl_seconds("d + INTERVAL 1 DAY TO DISK 'cold'") is None  # a move deletes nothing
    assert current_ttl("MergeTree ORDER BY x TTL d + toIntervalDay(3) SETTINGS index_granularity = 8192") == \
        "d + toIntervalDay(3)"
