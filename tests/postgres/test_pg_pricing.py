"""orchestrator.model_pricing holds the real LiteLLM price list exactly, rejects bad rows, reads fast."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import errors

from chmigrate.targets.postgres import Postgres

from .conftest import PRICE_COLUMNS, Database, copy_prices, exact, priced_entries

pytestmark = pytest.mark.postgres

LATEST_PER_MODEL = (
    "SELECT DISTINCT ON (model) model, provider, input_cost_per_token, output_cost_per_token "
    "FROM orchestrator.model_pricing ORDER BY model, effective_at DESC, id DESC"
)
LATEST_OF_ONE = (
    "SELECT * FROM orchestrator.model_pricing WHERE model = %s ORDER BY effective_at DESC, id DESC LIMIT 1"
)
# The same answer as LATEST_PER_MODEL by a loose index scan: one index probe per model, so its
# cost follows the number of models, not the length of the history.
LATEST_PER_MODEL_SKIP = """
WITH RECURSIVE models(model) AS (
    (SELECT model FROM orchestrator.model_pricing ORDER BY model LIMIT 1)
    UNION ALL
    SELECT (SELECT p.model FROM orchestrator.model_pricing p WHERE p.model > m.model ORDER BY p.model LIMIT 1)
    FROM models m WHERE m.model IS NOT NULL
)
SELECT latest.model, latest.provider, latest.input_cost_per_token, latest.output_cost_per_token
FROM models m CROSS JOIN LATERAL (
    SELECT * FROM orchestrator.model_pricing p WHERE p.model = m.model
    ORDER BY p.effective_at DESC, p.id DESC LIMIT 1
) latest"""


@pytest.fixture
def migrated(pg_db: Database, pg_target: Postgres) -> Database:
    pg_target.up()
    return pg_db


def decimals(value: Any) -> Any:
    """The JSON value with every float as Decimal(str(float)): what the entry states."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decimals(v) for v in value]
    return value


def test_every_priced_entry_loads_exactly(migrated: Database, price_list: dict[str, dict[str, Any]]) -> None:
    entries = priced_entries(price_list)
    assert len(entries) > 4000
    with migrated.connect() as conn:
        copy_prices(conn, entries)  # COPY stops at the first rejected row: none may be

    rows = migrated.rows(f"SELECT model, provider, mode, {', '.join(PRICE_COLUMNS)}, source, raw::text, "
                         "effective_at IS NOT NULL AND fetched_at IS NOT NULL "
                         "FROM orchestrator.model_pricing")
    assert len(rows) == len(entries)
    by_model = {r[0]: r for r in rows}
    assert set(by_model) == set(entries)
    checked = 0
    for model, entry in entries.items():
        _, provider, mode, *prices, source, raw, stamped = by_model[model]
        expected_keys = (entry["litellm_provider"], entry.get("mode"), "litellm", True)
        assert (provider, mode, source, stamped) == expected_keys
        for column, stored in zip(PRICE_COLUMNS, prices, strict=True):
            expected = exact(entry.get(column))
            assert stored == expected, f"{model}.{column}: stored {stored}, list says {expected}"
            assert (stored is None) == (column not in entry)
            checked += int(stored is not None)
        assert json.loads(raw, parse_float=Decimal) == decimals(entry), model
    assert checked > 10_000  # prices compared one by one
    # The values that need the most digits are there, unrounded.
    assert by_model["fireworks_ai/accounts/fireworks/models/SSD-1B"][3] == Decimal("1.3E-10")
    assert by_model["novita/nvidia/nemotron-3-nano-30b-a3b"][3] == Decimal("5.0000000000000004E-8")


def test_a_fixed_scale_would_have_rounded_the_list(migrated: Database,
                                                    price_list: dict[str, dict[str, Any]]) -> None:
    """Why the prices are unconstrained numeric: NUMERIC(20,12) would change some of them."""
    with migrated.connect() as conn:
        copy_prices(conn, priced_entries(price_list))
    changed = migrated.rows(
        "SELECT " + " + ".join(f"count(*) FILTER (WHERE {c}::numeric(20,12) <> {c})" for c in PRICE_COLUMNS)
        + " FROM orchestrator.model_pricing")[0][0]
    values = [Decimal(str(e[c])) for e in price_list.values() for c in PRICE_COLUMNS if c in e]
    expected = len([v for v in values if v != v.quantize(Decimal("1E-12"))])
    assert changed == expected > 0


@pytest.mark.parametrize(
    ("columns", "values", "error", "constraint"),
    [
        ("provider, model, source, input_cost_per_token", ("openai", "m", "t", Decimal("-0.000001")),
         errors.CheckViolation, "model_pricing_input_cost_per_token_valid"),
        ("provider, model, source, output_cost_per_token", ("openai", "m", "t", Decimal("-1E-10")),
         errors.CheckViolation, "model_pricing_output_cost_per_token_valid"),
        ("provider, model, source, cache_read_input_token_cost", ("openai", "m", "t", Decimal("NaN")),
         errors.CheckViolation, "model_pricing_cache_read_input_token_cost_valid"),
        ("provider, model, source, output_cost_per_reasoning_token",
         ("openai", "m", "t", Decimal("Infinity")),
         errors.CheckViolation, "model_pricing_output_cost_per_reasoning_token_valid"),
        ("provider, source, input_cost_per_token", ("openai", "t", Decimal("1E-6")),
         errors.NotNullViolation, None),
        ("provider, model, source", ("openai", "", "t"),
         errors.CheckViolation, "model_pricing_model_not_empty"),
        ("model, source", ("m", "t"), errors.NotNullViolation, None),
        ("provider, model", ("openai", "m"), errors.NotNullViolation, None),
        ("provider, model, source, effective_at", ("openai", "m", "t", None), errors.NotNullViolation, None),
    ],
    ids=["negative-input", "negative-output", "nan", "infinity", "missing-model", "empty-model",
         "missing-provider", "missing-source", "null-effective_at"],
)
def test_constraints_reject_bad_rows(migrated: Database, columns: str, values: tuple[Any, ...],
                                     error: type[Exception], constraint: str | None) -> None:
    placeholders = ", ".join(["%s"] * len(values))
    insert = f"INSERT INTO orchestrator.model_pricing ({columns}) VALUES ({placeholders})"
    with pytest.raises(error) as raised:
        migrated.execute(insert, values)
    if constraint is not None:
        assert isinstance(raised.value, psycopg.Error)
        assert raised.value.diag.constraint_name == constraint
    assert migrated.rows("SELECT count(*) FROM orchestrator.model_pricing") == [(0,)]


def test_defaults_and_identity(migrated: Database) -> None:
    migrated.execute("INSERT INTO orchestrator.model_pricing (provider, model, source, input_cost_per_token) "
                     "VALUES ('openai', 'gpt-4o', 'litellm', 0.0000025)")
    assert migrated.rows("SELECT id, effective_at = fetched_at, fetched_at > now() - interval '1 minute', "
                         "input_cost_per_token FROM orchestrator.model_pricing") == [(1, True, True,
                                                                                       Decimal("0.0000025"))]
    with pytest.raises(psycopg.Error, match="GENERATED ALWAYS"):
        migrated.execute("INSERT INTO orchestrator.model_pricing (id, provider, model, source) "
                         "VALUES (99, 'openai', 'x', 't')")


def plan_of(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> str:
    rows = conn.execute("EXPLAIN " + sql, params).fetchall()
    return "\n".join(r[0] for r in rows)


def test_latest_price_reads_use_the_index(migrated: Database, price_list: dict[str, dict[str, Any]]) -> None:
    entries = priced_entries(price_list)
    refreshes = 10  # ten daily refreshes of the whole list: about 46,000 rows of history
    with migrated.connect() as conn:
        for day in range(1, refreshes + 1):
            copy_prices(conn, entries, effective_at=f"2025-01-{day:02d}T00:00:00Z")
        conn.execute("UPDATE orchestrator.model_pricing SET input_cost_per_token = 0.000042 "
                     "WHERE model = 'gpt-4o' AND effective_at = '2025-01-10T00:00:00Z'")
        conn.execute("VACUUM ANALYZE orchestrator.model_pricing")

        # One model (the pricing cache on a miss, on-call checks): an index scan with default settings.
        one = plan_of(conn, LATEST_OF_ONE, ("gpt-4o",))
        assert "Index Scan using model_pricing_latest_idx" in one and "Sort" not in one, one
        newest = conn.execute(LATEST_OF_ONE, ("gpt-4o",)).fetchone()
        assert newest is not None and newest[4] == Decimal("0.000042")

        # Every model (the cache at start-up) reads every row whichever way, so at the default
        # random_page_cost = 4 the planner may prefer a sequential scan and a sort. What the index
        # must give is the order: with sequential scans off, the plan is the index and no sort.
        conn.execute("SET enable_seqscan = off")
        forced = plan_of(conn, LATEST_PER_MODEL)
        conn.execute("RESET enable_seqscan")
        assert "Index Scan using model_pricing_latest_idx" in forced and "Sort" not in forced, forced
        assert "Unique" in forced
        # On SSD-style costing (random_page_cost = 1.1, common in managed PostgreSQL) the planner
        # takes the index by itself.
        conn.execute("SET random_page_cost = 1.1")
        ssd = plan_of(conn, LATEST_PER_MODEL)
        conn.execute("RESET random_page_cost")
        assert "Index Scan using model_pricing_latest_idx" in ssd and "Seq Scan" not in ssd, ssd

        # The loose index scan: index probes only, with default settings.
        skip = plan_of(conn, LATEST_PER_MODEL_SKIP)
        assert "model_pricing_latest_idx" in skip and "Seq Scan" not in skip and "Sort" not in skip, skip

        latest = conn.execute(LATEST_PER_MODEL).fetchall()
        assert sorted(latest) == sorted(conn.execute(LATEST_PER_MODEL_SKIP).fetchall())
    assert len(latest) == len(entries)
    assert dict((r[0], r[2]) for r in latest)["gpt-4o"] == Decimal("0.000042")
