"""A warm `diff` takes unchanged tables' CREATE texts from .chmigrate/cache: it must still see every change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chmigrate.migrations.discovery import discover
from chmigrate.schema.compare import Comparison, compare
from chmigrate.targets.clickhouse import ClickHouse
from tests.cli.helpers import chmigrate
from tests.conftest import SEED, Target


def _up(target: Target, tmp_path: Path) -> None:
    """The seed applied, and the server's clock past the second its tables were made in (texts read in the
    second a table last changed are not kept)."""
    import time

    r = chmigrate("up", cwd=tmp_path, env=target.cli_env() | {"CHMIGRATE_MIGRATIONS_DIR": str(SEED)})
    assert r.code == 0, r.all
    with target.connect() as ch:
        newest = int(ch.query("SELECT max(toUnixTimestamp(metadata_modification_time)) FROM system.tables "
                              f"WHERE database = '{target.database}'")[0][0])
        while _server_second(ch) <= newest:
            time.sleep(0.1)


def _compare(ch: ClickHouse, target: Target, cache: Path) -> Comparison:
    return compare(ch, discover(SEED), database=target.database, cache_dir=cache)


def _ttl(cmp: Comparison) -> str:
    table = cmp.actual.table("llm_usage")
    assert table is not None
    return table.ttl


def _months(ttl: str) -> set[int]:
    """The month counts a TTL names: 13 is not read as 3."""
    import re

    return {int(n) for n in re.findall(r"(?:toIntervalMonth\(|INTERVAL )(\d+)", ttl)}


def _server_second(ch: ClickHouse) -> int:
    return int(ch.query("SELECT toUnixTimestamp(now())")[0][0])


def _set_ttl(ch: ClickHouse, target: Target, months: int) -> None:
    ch.execute(f"ALTER TABLE `{target.database}`.llm_usage MODIFY TTL toDateTime(event_time) + "
               f"INTERVAL {months} MONTH")


def test_changes_made_in_the_second_of_the_last_read_are_seen(target: Target, tmp_path: Path) -> None:
    """The metadata time has whole seconds: a table changed, read and changed again within one second keeps
    its time, so what was read in that second must not be reused by the next `diff`."""
    from chmigrate.schema.inspect import inspect
    from chmigrate.schema.inspect_cache import TableCache

    _up(target, tmp_path)
    cache = tmp_path / "cache"
    with target.connect() as ch:
        first = _compare(ch, target, cache)
        assert not first.changes, first.changes
        (kept,) = cache.glob("inspect-*.json")
        names = json.loads(json.loads(kept.read_text())["tables"])
        if target.kind == "embedded":  # chDB's `default` is an Overlay database: no metadata times, none kept
            assert names == {}, names
        else:
            assert "llm_usage_daily_mv" in names, "the texts were not kept"
        same_second = read_in_its_second = 0
        for attempt in range(12):
            months = 20 + 2 * attempt  # never the desired 13: each TTL set here is drift
            start = _next_second(ch)  # the change, the read and the second change get a whole second to fit in
            _set_ttl(ch, target, months)
            read = inspect(ch, target.database, cache=TableCache(cache, ch.label, ch.user, target.database))
            table = read.table("llm_usage")
            assert table is not None and _months(table.ttl) == {months}, table
            doc = json.loads(kept.read_text())
            _set_ttl(ch, target, months + 1)
            # both changes and the read between them fell in second `start` when the table's time is still it
            # (chDB's embedded `default` keeps no times: there the server's clock tells)
            changed = int(ch.query("SELECT toUnixTimestamp(metadata_modification_time) FROM system.tables "
                                   f"WHERE database = '{target.database}' AND name = 'llm_usage'")[0][0])
            same_second += (changed or _server_second(ch)) == start  # the clock read before the next diff
            again = _compare(ch, target, cache)
            assert _months(_ttl(again)) == {months + 1}, (attempt, _ttl(again))
            assert any(c.object.endswith("llm_usage") for c in again.changes), again.changes
            if doc["read_at"] == start:  # read in the second of its change: the table's texts were not kept
                assert "llm_usage" not in json.loads(doc["tables"]), (attempt, doc["read_at"])
                read_in_its_second += 1
            if same_second >= 2:
                break
        # a server whose queries take 0.1 s each (chdb 2.1.1 forks an engine per call) rarely fits both changes
        # and the read in one second; the read alone, it does
        assert same_second or read_in_its_second, "no attempt read the table in its change's second"
        _set_ttl(ch, target, 13)
        assert not _compare(ch, target, cache).changes


def _next_second(ch: ClickHouse) -> int:
    """The server's second, seen just after it began."""
    import time

    now = _server_second(ch)
    while (second := _server_second(ch)) == now:
        time.sleep(0.02)
    return second


@pytest.mark.server
def test_a_table_replaced_under_the_same_name_is_read_again(http_target: Target, tmp_path: Path) -> None:
    target = http_target
    _up(target, tmp_path)
    cache = tmp_path / "cache"
    db = target.database
    with target.connect() as ch:
        assert not _compare(ch, target, cache).changes
        assert not _compare(ch, target, cache).changes  # now every text is kept
        create = str(ch.query(f"SELECT create_table_query FROM system.tables WHERE database = '{db}' "
                              "AND name = 'llm_usage'")[0][0])
        ch.execute(f"DROP TABLE `{db}`.llm_usage SYNC")
        ch.execute(create.replace("INTERVAL 13 MONTH", "INTERVAL 3 MONTH").replace("toIntervalMonth(13)",
                                                                                    "toIntervalMonth(3)"))
        replaced = _compare(ch, target, cache)
        assert _months(_ttl(replaced)) == {3}, _ttl(replaced)
        assert any(c.object.endswith("llm_usage") for c in replaced.changes), replaced.changes


@pytest.mark.server
def test_an_edited_or_broken_cache_file_is_ignored(http_target: Target, tmp_path: Path) -> None:
    target = http_target
    _up(target, tmp_path)
    cache = tmp_path / "cache"
    with target.connect() as ch:
        assert not _compare(ch, target, cache).changes
        assert not _compare(ch, target, cache).changes
        (kept,) = cache.glob("inspect-*.json")
        doc = json.loads(kept.read_text())
        assert "INTERVAL 13 MONTH" in doc["tables"] or "toIntervalMonth(13)" in doc["tables"]
        # a hand edit that would hide a TTL change: the file no longer matches its sha256
        _set_ttl(ch, target, 7)
        mtime = ch.query(f"SELECT toUnixTimestamp(metadata_modification_time) FROM system.tables "
                         f"WHERE database = '{target.database}' AND name = 'llm_usage'")[0][0]
        tables = json.loads(doc["tables"])
        tables["llm_usage"][1] = int(mtime)  # claims to hold the table as it now is, with the old TTL
        doc["tables"] = json.dumps(tables)
        kept.write_text(json.dumps(doc))
        edited = _compare(ch, target, cache)
        assert _months(_ttl(edited)) == {7}, _ttl(edited)
        assert any(c.object.endswith("llm_usage") for c in edited.changes), edited.changes
        kept.write_text('{"format": 1, "tables": ')  # cut short
        assert _months(_ttl(_compare(ch, target, cache))) == {7}
        _set_ttl(ch, target, 13)
        assert not _compare(ch, target, cache).changes


def _wait_past_changes(ch: ClickHouse, database: str) -> None:
    import time

    newest = int(ch.query("SELECT max(toUnixTimestamp(metadata_modification_time)) FROM system.tables "
                          f"WHERE database = '{database}'")[0][0])
    while _server_second(ch) <= newest:
        time.sleep(0.1)


def test_a_warm_inspection_reads_what_a_fresh_one_reads_after_every_kind_of_change(target: Target,
                                                                                   tmp_path: Path) -> None:
    """Tables, columns, indices, projections and views taken from the cache equal a full read of the server
    after each change, made in the second of the last read or after it."""
    import uuid

    from chmigrate.schema.inspect import inspect
    from chmigrate.schema.inspect_cache import TableCache

    db = "cache_" + uuid.uuid4().hex[:10]
    changes = [
        "ALTER TABLE {db}.t1 ADD COLUMN note String DEFAULT 'n' COMMENT 'added'",
        "ALTER TABLE {db}.t1 COMMENT COLUMN v 'values'",
        "ALTER TABLE {db}.t1 MODIFY COLUMN note String CODEC(ZSTD(3))",
        "ALTER TABLE {db}.t1 ADD INDEX ix_note note TYPE bloom_filter GRANULARITY 2",
        "ALTER TABLE {db}.t1 DROP PROJECTION p_v",
        "ALTER TABLE {db}.t2 MODIFY TTL d + INTERVAL 3 MONTH",
        "ALTER TABLE {db}.mv MODIFY QUERY SELECT k, d, v * 2 AS v FROM {db}.t1",
        "ALTER TABLE {db}.t1 RENAME COLUMN note TO remark",
        "RENAME TABLE {db}.t2 TO {db}.t3",
        "CREATE TABLE {db}.t2 (k UInt64, d Date, v UInt64) ENGINE = SummingMergeTree ORDER BY (k, d)",
        "EXCHANGE TABLES {db}.ta AND {db}.tb",  # the names swap, each metadata file keeps its time
        "ALTER TABLE {db}.t1 DROP INDEX ix_note",
        "ALTER TABLE {db}.t1 DROP COLUMN remark",
    ]
    with target.connect() as ch:
        ch.execute(f"CREATE DATABASE {db} ENGINE = Atomic")
        try:
            ch.execute(f"CREATE TABLE {db}.t1 (k UInt64, d Date, v UInt64, PROJECTION p_v (SELECT k, sum(v) "
                       "GROUP BY k)) ENGINE = MergeTree ORDER BY (k, d)")
            ch.execute(f"CREATE TABLE {db}.t2 (k UInt64, d Date, v UInt64) ENGINE = SummingMergeTree "
                       "ORDER BY (k, d) TTL d + INTERVAL 2 MONTH")
            ch.execute(f"CREATE VIEW {db}.v AS SELECT * FROM {db}.t1")
            for name, ttl in (("ta", 1), ("tb", 2)):  # made in one second, most often: the same metadata time
                ch.execute(f"CREATE TABLE {db}.{name} (k UInt64, d Date) ENGINE = MergeTree ORDER BY k "
                           f"TTL d + INTERVAL {ttl} MONTH")
            ch.execute(f"CREATE MATERIALIZED VIEW {db}.mv TO {db}.t2 AS SELECT k, d, v FROM {db}.t1")
            cache = TableCache(tmp_path / "cache", ch.label, ch.user, db)
            _wait_past_changes(ch, db)
            assert inspect(ch, db, cache=cache) == inspect(ch, db)
            (kept,) = (tmp_path / "cache").glob("inspect-*.json")
            assert len(json.loads(json.loads(kept.read_text())["tables"])) == 6, "not every table was kept"
            for i, change in enumerate(changes):
                ch.execute(change.format(db=db))
                if i % 2:
                    _wait_past_changes(ch, db)
                assert inspect(ch, db, cache=cache) == inspect(ch, db), change
                assert inspect(ch, db, cache=cache) == inspect(ch, db), change  # read again from the cache
        finally:
            ch.execute(f"DROP DATABASE IF EXISTS {db} SYNC")
