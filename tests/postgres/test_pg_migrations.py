"""The Alembic project applied through the Postgres seam: up, again, down, plan, status, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from chmigrate.errors import StateError, StatementFailed, UsageError
from chmigrate.targets.postgres import Postgres

from .conftest import PRICE_COLUMNS, Database, catalog

pytestmark = pytest.mark.postgres

OWNED = (("orchestrator", "model_pricing"), ("orchestrator", "chmigrate_alembic_version"))


def versions(db: Database) -> list[str]:
    rows = db.rows("SELECT version_num FROM orchestrator.chmigrate_alembic_version ORDER BY 1")
    return [r[0] for r in rows]


def table_exists(db: Database, qualified: str) -> bool:
    return db.rows("SELECT to_regclass(%s) IS NOT NULL", (qualified,))[0][0] is True


def schema_exists(db: Database, schema: str) -> bool:
    return bool(db.rows("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)))


def test_up_on_an_empty_database_creates_schema_table_and_index(pg_db: Database, pg_target: Postgres) -> None:
    assert not schema_exists(pg_db, "orchestrator")

    result = pg_target.up()

    assert [(a.version, a.name) for a in result.applied] == [("0001", "model pricing")]
    assert result.applied[0].statements == 17  # DO, CREATE TABLE, 14 COMMENT ON, CREATE INDEX
    assert result.engine == "postgres" and not result.dry_run
    assert schema_exists(pg_db, "orchestrator")
    assert versions(pg_db) == ["0001"]
    assert not table_exists(pg_db, "public.alembic_version")  # chmigrate's version table only
    definition = catalog(pg_db, OWNED)["orchestrator.model_pricing"]
    columns = {c[0]: c for c in definition["columns"]}
    assert list(columns) == ["id", "provider", "model", "mode", *PRICE_COLUMNS, "source", "effective_at",
                             "fetched_at", "raw"]
    assert columns["id"][1] == "bigint" and columns["id"][8:] == ("YES", "ALWAYS")
    for price in PRICE_COLUMNS:  # unconstrained numeric: no precision or scale to round to
        assert columns[price][1] == "numeric" and columns[price][4:6] == (None, None)
        assert columns[price][6] == "YES"
    for key in ("provider", "model", "source", "effective_at", "fetched_at"):
        assert columns[key][6] == "NO", key
    assert columns["effective_at"][1] == "timestamp with time zone"
    assert columns["fetched_at"][7] == "now()"
    assert columns["raw"][1] == "jsonb"
    constraints = dict(definition["constraints"])
    assert constraints["model_pricing_pkey"] == "PRIMARY KEY (id)"
    assert "input_cost_per_token >= (0)::numeric" in constraints["model_pricing_input_cost_per_token_valid"]
    assert dict(definition["indexes"])["model_pricing_latest_idx"].endswith(
        "USING btree (model, effective_at DESC, id DESC)")
    table_comment, column_comments = definition["comments"][0]
    assert table_comment.startswith("Per-token model prices")
    assert all(column_comments), "every column has a comment"


def test_up_again_changes_nothing(pg_db: Database, pg_target: Postgres) -> None:
    pg_target.up()
    before = catalog(pg_db, OWNED), versions(pg_db)

    again = pg_target.up()

    assert again.applied == ()
    assert again.at == ("0001",)  # nothing to apply: already at the head
    assert (catalog(pg_db, OWNED), versions(pg_db)) == before
    assert pg_target.plan().statements == ()
    assert pg_target.drift() == ()


def test_upgrade_downgrade_upgrade_round_trip(pg_db: Database, pg_target: Postgres) -> None:
    pg_target.up()
    first = catalog(pg_db, OWNED)
    pg_db.execute("INSERT INTO orchestrator.model_pricing (provider, model, source) "
                  "VALUES ('openai', 'x', 'test')")

    down = pg_target.down("base")

    assert [a.version for a in down.applied] == ["0001"]
    assert not table_exists(pg_db, "orchestrator.model_pricing")
    assert schema_exists(pg_db, "orchestrator"), "the shared schema is never dropped"
    assert versions(pg_db) == []
    assert [m.state for m in pg_target.status().migrations] == ["pending"]

    again = pg_target.up()

    assert [a.version for a in again.applied] == ["0001"]
    assert catalog(pg_db, OWNED) == first
    assert pg_db.rows("SELECT count(*) FROM orchestrator.model_pricing") == [(0,)]
    assert [m.state for m in pg_target.status().migrations] == ["applied"]


def test_status_and_plan_before_and_after(pg_db: Database, pg_target: Postgres) -> None:
    status = pg_target.status()
    assert status.engine == "postgres" and not status.embedded and not status.clean
    assert [(m.version, m.name, m.state) for m in status.migrations] == [("0001", "model pricing", "pending")]
    assert "***" not in status.target or pg_db.server.password not in status.target

    plan = pg_target.plan()

    assert {s.version for s in plan.statements} == {"0001"}
    assert [s.index for s in plan.statements] == list(range(1, len(plan.statements) + 1))
    sqls = [s.sql for s in plan.statements]
    assert any(s.startswith("CREATE TABLE orchestrator.chmigrate_alembic_version") for s in sqls)
    assert any(s.startswith("CREATE TABLE orchestrator.model_pricing") for s in sqls)
    assert any(s.startswith("CREATE INDEX model_pricing_latest_idx") for s in sqls)
    assert sqls[-1].startswith("INSERT INTO orchestrator.chmigrate_alembic_version")
    assert not any(s in ("BEGIN", "COMMIT") or s.startswith("--") or s.endswith(";") for s in sqls)
    assert plan.statements[0].path.endswith("versions/0001_model_pricing.py")
    assert not schema_exists(pg_db, "orchestrator"), "plan only renders SQL"

    pg_target.up()
    assert pg_target.status().clean
    assert pg_target.plan().statements == ()


def test_dry_run_reports_and_changes_nothing(pg_db: Database, pg_target: Postgres) -> None:
    result = pg_target.up(dry_run=True)

    assert result.dry_run
    assert [(a.version, a.statements) for a in result.applied] == [("0001", 17)]
    assert not schema_exists(pg_db, "orchestrator")


SECOND = '''"""add pricing region

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("model_pricing", sa.Column("region", sa.Text()), schema="orchestrator")
    op.execute("{statement}")


def downgrade() -> None:
    op.drop_column("model_pricing", "region", schema="orchestrator")
'''


def add_second(project: Path, statement: str = "SELECT 1") -> Path:
    path = project / "versions" / "0002_add_pricing_region.py"
    path.write_text(SECOND.replace("{statement}", statement))
    return path


def test_up_to_a_revision_then_the_rest_then_down_to_a_revision(pg_db: Database, project_copy: Path) -> None:
    add_second(project_copy)
    with Postgres.connect(pg_db.config(project_dir=project_copy)) as target:
        assert [a.version for a in target.up(to="0001").applied] == ["0001"]
        assert [(m.version, m.state) for m in target.status().migrations] == [("0001", "applied"),
                                                                              ("0002", "pending")]
        assert {s.version for s in target.plan().statements} == {"0002"}

        assert [a.version for a in target.up().applied] == ["0002"]
        assert versions(pg_db) == ["0002"]
        assert pg_db.rows("SELECT count(*) FROM information_schema.columns "
                          "WHERE table_name = 'model_pricing' AND column_name = 'region'") == [(1,)]

        down = target.down("0001")
        assert [a.version for a in down.applied] == ["0002"]
        assert versions(pg_db) == ["0001"]
        assert table_exists(pg_db, "orchestrator.model_pricing")

        with pytest.raises(UsageError, match="nope"):
            target.up(to="nope")


def test_a_revision_recorded_but_missing_on_disk_is_unknown_and_blocks_up(
        pg_db: Database, project_copy: Path) -> None:
    second = add_second(project_copy)
    with Postgres.connect(pg_db.config(project_dir=project_copy)) as target:
        target.up()
    second.unlink()
    with Postgres.connect(pg_db.config(project_dir=project_copy)) as target:
        status = target.status()
        assert [(m.version, m.state) for m in status.migrations] == [("0001", "unknown"), ("0002", "unknown")]
        first, second_row = status.migrations
        assert first.detail is not None and first.detail.reason == "undecided" and first.detail.heads == ("0002",)
        assert second_row.detail is not None and second_row.detail.reason == "no_revision_file"
        assert second_row.detail.where == str(project_copy / "versions")
        with pytest.raises(StateError, match="records revision 0002") as err:
            target.up()
        assert err.value.exit_code == 1
    assert versions(pg_db) == ["0002"]


def test_a_failing_revision_names_its_file_and_keeps_the_earlier_one(pg_db: Database,
                                                                    project_copy: Path) -> None:
    add_second(project_copy, statement="ALTER TABLE orchestrator.no_such_table ADD COLUMN x int")
    config = pg_db.config(project_dir=project_copy)
    with Postgres.connect(config) as target, pytest.raises(StatementFailed) as err:
        target.up()
    message = str(err.value)
    assert "versions/0002_add_pricing_region.py statement 2" in message
    assert "no_such_table" in message and "42P01" in message
    assert "\n" not in message and err.value.exit_code == 3
    assert versions(pg_db) == ["0001"], "0001 committed in its own transaction; 0002 rolled back"
    region = pg_db.rows("SELECT count(*) FROM information_schema.columns WHERE column_name = 'region'")
    assert region == [(0,)]
