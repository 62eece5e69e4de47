"""The server-version rules against the engines themselves: every statement the rules flag for 24.8 is
rejected by ClickHouse 24.8.4 (chdb 2.1.1) and accepted by the current engine (the 26.x scratch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chmigrate.schema.desired import run_replay
from tests.lint.helpers import lint_text
from tests.schema import engine248

FLAGGED = [
    "CREATE TABLE v_ttl (id UInt64, ts DateTime64(3)) ENGINE = MergeTree ORDER BY id TTL ts + INTERVAL 13 MONTH",
    "CREATE TABLE v_json (id UInt64, j JSON) ENGINE = MergeTree ORDER BY id",
    "CREATE TABLE v_variant (id UInt64, x Variant(String, UInt64)) ENGINE = MergeTree ORDER BY id",
    "CREATE TABLE v_dynamic (id UInt64, d Dynamic) ENGINE = MergeTree ORDER BY id",
    "CREATE TABLE v_bf16 (id UInt64, f BFloat16) ENGINE = MergeTree ORDER BY id",
    "CREATE TABLE v_text (id UInt64, s String, INDEX i s TYPE text(tokenizer = 'splitByNonAlpha')) "
    "ENGINE = MergeTree ORDER BY id",
    "CREATE TABLE v_vector (id UInt64, v Array(Float32), INDEX i v TYPE vector_similarity('hnsw', 'L2Distance', 3)) "
    "ENGINE = MergeTree ORDER BY id",
    "CREATE TABLE v_setting (id UInt64) ENGINE = MergeTree ORDER BY id SETTINGS prewarm_mark_cache = 1",
]
# what 24.8.4 says to each, in order (TTL type, experimental types, unknown type, index, setting)
CODES_248 = ["Code 450", "Code 44", "Code 44", "Code 44", "Code 50", "Code 80", "Code 80", "Code 115"]
# near misses: the rules leave them alone, and 24.8 accepts them
ACCEPTED = [
    "CREATE TABLE n_ttl (id UInt64, ts DateTime64(3)) ENGINE = MergeTree ORDER BY id "
    "TTL toDateTime(ts) + INTERVAL 13 MONTH",
    "CREATE TABLE n_index (id UInt64, s String, INDEX i s TYPE bloom_filter GRANULARITY 1) "
    "ENGINE = MergeTree ORDER BY id SETTINGS index_granularity = 8192",
]


def test_flagged_for_248_exactly_as_expected() -> None:
    for sql in FLAGGED:
        codes = {f.code for f in lint_text(sql + ";", target="24.8")}
        assert codes & {"CH501", "CH502"}, sql
        assert not {f.code for f in lint_text(sql + ";", target="26.9")} & {"CH501", "CH502"}, sql
    for sql in ACCEPTED:
        assert not {f.code for f in lint_text(sql + ";", target="24.8")} & {"CH501", "CH502"}, sql


@pytest.mark.skipif(not engine248.available(), reason=engine248.NO_248)
def test_248_rejects_what_is_flagged_and_accepts_the_near_misses(tmp_path: Path) -> None:
    engine = engine248.Engine248(tmp_path / "data", "lint")
    try:
        errors = engine.run_script(FLAGGED + ACCEPTED)
    finally:
        engine.close()
    rejected = dict(zip(FLAGGED + ACCEPTED, errors))
    assert [(sql, rejected[sql]) for sql, code in zip(FLAGGED, CODES_248)
            if not (rejected[sql] or "").startswith(code)] == []
    assert [(sql, rejected[sql]) for sql in ACCEPTED if rejected[sql] is not None] == []


def test_current_engine_accepts_everything_flagged() -> None:
    reply = run_replay({"database": "default", "exclude": [], "settings": {},
                        "files": [{"path": "v.sql", "statements": [
                            {"index": i, "line": i, "sql": sql} for i, sql in enumerate(FLAGGED + ACCEPTED, 1)]}]})
    assert reply.get("ok"), reply.get("error")
