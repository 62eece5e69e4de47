"""model pricing

Revision ID: 0001
Revises:
Create Date: 2025-11-28

Creates the schema `orchestrator` when missing (it is shared with River and the orchestrator,
so no revision ever drops it) and `orchestrator.model_pricing`: one row per model and pricing
refresh, history kept, prices as exact `numeric`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "orchestrator"

PRICES = {
    "input_cost_per_token": "USD per input (prompt) token; NULL when the list gives none",
    "output_cost_per_token": "USD per output (completion) token; NULL when the list gives none",
    "cache_read_input_token_cost": "USD per input token served from the provider's prompt cache",
    "cache_creation_input_token_cost": "USD per input token written to the provider's prompt cache",
    "output_cost_per_reasoning_token": "USD per reasoning (thinking) token, when priced apart from output",
}


def upgrade() -> None:
    # Look before creating: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the
    # database even when the schema is already there.
    op.execute(
        f"""DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{SCHEMA}') THEN
        CREATE SCHEMA IF NOT EXISTS {SCHEMA};
    END IF;
END
$$"""
    )
    op.create_table(
        "model_pricing",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True,
                  comment="row id; larger is newer"),
        sa.Column("provider", sa.Text(), nullable=False,
                  comment="LiteLLM provider (litellm_provider), e.g. openai"),
        sa.Column("model", sa.Text(), nullable=False,
                  comment="model name: the key of the entry in the price list"),
        sa.Column("mode", sa.Text(), nullable=True,
                  comment="LiteLLM mode, e.g. chat, embedding, image_generation"),
        *(sa.Column(name, sa.Numeric(), nullable=True, comment=comment) for name, comment in PRICES.items()),
        sa.Column("source", sa.Text(), nullable=False, comment="where the prices came from, e.g. litellm"),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"),
                  comment="when these prices took effect"),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"),
                  comment="when the refresh job fetched them"),
        sa.Column("raw", postgresql.JSONB(), nullable=True,
                  comment="the price list entry as fetched (tiered, batch and non-token prices)"),
        # `< 'Infinity'` also rejects NaN, which PostgreSQL sorts above every number.
        *(sa.CheckConstraint(f"{name} >= 0 AND {name} < 'Infinity'::numeric",
                             name=f"model_pricing_{name}_valid") for name in PRICES),
        sa.CheckConstraint("provider <> ''", name="model_pricing_provider_not_empty"),
        sa.CheckConstraint("model <> ''", name="model_pricing_model_not_empty"),
        schema=SCHEMA,
        comment="Per-token model prices; one row per model and refresh, history kept. "
        "Latest per model: SELECT DISTINCT ON (model) * FROM orchestrator.model_pricing "
        "ORDER BY model, effective_at DESC, id DESC",
    )
    # Serves "latest price per model" (DISTINCT ON (model) ... ORDER BY model, effective_at DESC,
    # id DESC) and "latest price of one model" (WHERE model = ... LIMIT 1) without a sort.
    op.create_index(
        "model_pricing_latest_idx",
        "model_pricing",
        ["model", sa.text("effective_at DESC"), sa.text("id DESC")],
        schema=SCHEMA,
    )


def downgrade() -> None:
    # The schema stays: River and the orchestrator keep their own tables in it.
    op.drop_index("model_pricing_latest_idx", table_name="model_pricing", schema=SCHEMA)
    op.drop_table("model_pricing", schema=SCHEMA)
