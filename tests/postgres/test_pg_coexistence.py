"""chmigrate shares `orchestrator` with River and maybe another Alembic project: it touches neither."""

from __future__ import annotations

import pytest

from chmigrate.targets.postgres import Postgres

from .conftest import Database, catalog

pytestmark = pytest.mark.postgres

# River's job table as River 0.x creates it (abridged: the parts that would show any change).
RIVER = """
CREATE SCHEMA orchestrator;
CREATE TYPE orchestrator.river_job_state AS ENUM (
    'available', 'cancelled', 'completed', 'discarded', 'pending', 'retryable', 'running', 'scheduled');
CREATE TABLE orchestrator.river_job (
    id bigserial PRIMARY KEY,
    state orchestrator.river_job_state NOT NULL DEFAULT 'available',
    attempt smallint NOT NULL DEFAULT 0,
    max_attempts smallint NOT NULL,
    attempted_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    finalized_at timestamptz,
    scheduled_at timestamptz NOT NULL DEFAULT now(),
    priority smallint NOT NULL DEFAULT 1,
    args jsonb NOT NULL DEFAULT '{}',
    errors jsonb[],
    kind text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    queue text NOT NULL DEFAULT 'default',
    tags varchar(255)[] NOT NULL DEFAULT '{}',
    CONSTRAINT finalized_or_finalized_at_null CHECK (
        (finalized_at IS NULL AND state NOT IN ('cancelled', 'completed', 'discarded'))
        OR (finalized_at IS NOT NULL AND state IN ('cancelled', 'completed', 'discarded'))),
    CONSTRAINT kind_length CHECK (char_length(kind) > 0 AND char_length(kind) < 128)
);
CREATE INDEX river_job_kind ON orchestrator.river_job USING btree (kind);
CREATE INDEX river_job_state_and_finalized_at_index ON orchestrator.river_job
    USING btree (state, finalized_at) WHERE finalized_at IS NOT NULL;
COMMENT ON TABLE orchestrator.river_job IS 'River jobs';
INSERT INTO orchestrator.river_job (state, max_attempts, kind, finalized_at, args)
VALUES ('completed', 25, 'pricing_refresh', now(), '{"source": "litellm"}'),
       ('retryable', 25, 'usage_write', NULL, '{"batch": 17}');
-- Another tool's Alembic project, in both places one may be.
CREATE TABLE public.alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
INSERT INTO public.alembic_version VALUES ('4f2a9c1d7e88');
CREATE TABLE orchestrator.alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
INSERT INTO orchestrator.alembic_version VALUES ('ae1027a6acf0');
"""

FOREIGN = (("orchestrator", "river_job"), ("public", "alembic_version"), ("orchestrator", "alembic_version"))


def snapshot(db: Database) -> tuple[object, ...]:
    return (
        catalog(db, FOREIGN),
        db.rows("SELECT id, state::text, kind, args::text, finalized_at IS NOT NULL "
                "FROM orchestrator.river_job ORDER BY id"),
        db.rows("SELECT version_num FROM public.alembic_version"),
        db.rows("SELECT version_num FROM orchestrator.alembic_version"),
        db.rows("SELECT enum_range(NULL::orchestrator.river_job_state)::text"),
        db.rows("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'orchestrator'"),
    )


def test_foreign_tables_are_untouched_and_unreported(pg_db: Database, pg_target: Postgres) -> None:
    pg_db.execute(RIVER)
    before = snapshot(pg_db)

    assert [m.version for m in pg_target.status().migrations] == ["0001"]
    drift_before = pg_target.drift()
    assert drift_before and not any("river" in d or ".alembic_version" in d for d in drift_before)

    result = pg_target.up()

    assert [a.version for a in result.applied] == ["0001"]
    assert snapshot(pg_db) == before
    status = pg_target.status()
    assert [(m.version, m.state) for m in status.migrations] == [("0001", "applied")]
    text = repr(status)
    assert "river" not in text and "4f2a9c1d7e88" not in text and "ae1027a6acf0" not in text
    assert pg_target.drift() == ()
    assert "river" not in "".join(s.sql for s in pg_target.plan().statements)

    pg_target.down("base")
    assert snapshot(pg_db) == before, "down never drops the shared schema or foreign tables"
    assert pg_db.rows("SELECT to_regclass('orchestrator.model_pricing') IS NULL") == [(True,)]
