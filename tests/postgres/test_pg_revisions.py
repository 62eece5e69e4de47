"""New revisions from script.py.mako; autogenerate sees only chmigrate's tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from chmigrate.targets.postgres import Postgres

from .conftest import Database
from .test_pg_coexistence import RIVER, snapshot

pytestmark = pytest.mark.postgres

MODE_COLUMN = '    Column("mode", Text, comment="LiteLLM mode, e.g. chat, embedding, image_generation"),\n'


def test_an_empty_revision_continues_the_numbering(pg_db: Database, project_copy: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    with Postgres.connect(pg_db.config(project_dir=project_copy)) as target:
        path = target.new_revision("note pricing tiers")

        assert path == project_copy / "versions" / "0002_note_pricing_tiers.py"
        text = path.read_text()
        assert 'revision = \'0002\'' in text and "down_revision: str | None = '0001'" in text
        assert "note pricing tiers" in text and "def upgrade() -> None:\n    pass" in text
        assert [(m.version, m.state) for m in target.status().migrations] == [("0001", "pending"),
                                                                              ("0002", "pending")]
        assert [a.version for a in target.up().applied] == ["0001", "0002"]
        target.plan()
        target.down("base")
    assert capfd.readouterr() == ("", ""), "the library prints nothing"


def test_autogenerate_writes_only_what_models_add(pg_db: Database, project_copy: Path) -> None:
    pg_db.execute(RIVER)
    models = project_copy / "models.py"
    assert MODE_COLUMN in models.read_text()
    models.write_text(models.read_text().replace(
        MODE_COLUMN, MODE_COLUMN + '    Column("region", Text, comment="pricing region"),\n'))
    with Postgres.connect(pg_db.config(project_dir=project_copy)) as target:
        target.up()
        before = snapshot(pg_db)
        assert target.drift() == ("add_column orchestrator.model_pricing.region",)

        path = target.new_revision("add pricing region", autogenerate=True)

        text = path.read_text()
        assert "op.add_column('model_pricing', sa.Column('region'" in text
        assert "op.drop_column('model_pricing', 'region', schema='orchestrator')" in text
        assert "river" not in text and "alembic_version" not in text
        assert [a.version for a in target.up().applied] == ["0002"]
        assert target.drift() == ()
        assert snapshot(pg_db) == before
