"""The Postgres tables chmigrate owns, as SQLAlchemy metadata.

This is the schema as it should be after the latest revision; comparison (drift, autogenerate)
checks the database against it and looks at nothing else: other tables in `orchestrator`
(River's `river_job`, ...) are not chmigrate's. Revisions in versions/ never import this
module: each spells out its own DDL so that it stays what it was when it ran.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    Numeric,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "orchestrator"

metadata = MetaData(schema=SCHEMA)

# Per-token prices in USD, named as in LiteLLM's price list. Unconstrained `numeric` stores each
# value exactly as given: the list has values such as 5.0000000000000004e-08 (17 significant
# digits, scale 24); NUMERIC(20,12) would round 53 of its 10,373 per-token prices.
PRICE_COLUMNS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
)

PRICE_COMMENTS = {
    "input_cost_per_token": "USD per input (prompt) token; NULL when the list gives none",
    "output_cost_per_token": "USD per output (completion) token; NULL when the list gives none",
    "cache_read_input_token_cost": "USD per input token served from the provider's prompt cache",
    "cache_creation_input_token_cost": "USD per input token written to the provider's prompt cache",
    "output_cost_per_reasoning_token": "USD per reasoning (thinking) token, when priced apart from output",
}


def _price_check(column: str) -> CheckConstraint:
    # `< 'Infinity'` also rejects NaN, which PostgreSQL sorts above every number.
    return CheckConstraint(f"{column} >= 0 AND {column} < 'Infinity'::numeric",
                           name=f"model_pricing_{column}_valid")


model_pricing = Table(
    "model_pricing",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True, comment="row id; larger is newer"),
    Column("provider", Text, nullable=False, comment="LiteLLM provider (litellm_provider), e.g. openai"),
    Column("model", Text, nullable=False, comment="model name: the key of the entry in the price list"),
    Column("mode", Text, comment="LiteLLM mode, e.g. chat, embedding, image_generation"),
    *(Column(name, Numeric, comment=PRICE_COMMENTS[name]) for name in PRICE_COLUMNS),
    Column("source", Text, nullable=False, comment="where the prices came from, e.g. litellm"),
    Column("effective_at", DateTime(timezone=True), nullable=False, server_default=text("now()"),
           comment="when these prices took effect"),
    Column("fetched_at", DateTime(timezone=True), nullable=False, server_default=text("now()"),
           comment="when the refresh job fetched them"),
    Column("raw", JSONB, comment="the price list entry as fetched (tiered, batch and non-token prices)"),
    *(_price_check(name) for name in PRICE_COLUMNS),
    CheckConstraint("provider <> ''", name="model_pricing_provider_not_empty"),
    CheckConstraint("model <> ''", name="model_pricing_model_not_empty"),
    comment="Per-token model prices; one row per model and refresh, history kept. "
    "Latest per model: SELECT DISTINCT ON (model) * FROM orchestrator.model_pricing "
    "ORDER BY model, effective_at DESC, id DESC",
)

Index(
    "model_pricing_latest_idx",
    model_pricing.c.model,
    model_pricing.c.effective_at.desc(),
    model_pricing.c.id.desc(),
)
