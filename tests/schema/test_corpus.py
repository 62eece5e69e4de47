"""The DDL corpus on the current engine: apply a source's files to a target, build the desired schema
from the same files in the scratch subprocess, and the diff must be empty."""

from __future__ import annotations

import pytest

from chmigrate.schema.compare import compare
from chmigrate.schema.render import render_text
from chmigrate.targets.clickhouse import ClickHouse
from tests.schema.helpers import (
    CORPUS,
    apply,
    corpus_migrations,
    corpus_sources,
    statements,
    use_fresh_database,
)

SOURCES = corpus_sources() if (CORPUS / "MANIFEST.tsv").exists() else []
STATEMENT_COUNTS = {"langfuse": 83, "laminar": 195, "umami": 10, "posthog": 7, "clickhouse-tests": 109}


@pytest.mark.usefixtures("corpus_available")
@pytest.mark.parametrize("source", SOURCES)
def test_corpus_source_has_no_drift(engine: ClickHouse, source: str) -> None:
    migrations = corpus_migrations(source)
    sqls = statements(migrations)
    assert len(sqls) == STATEMENT_COUNTS[source]
    use_fresh_database(engine, "corpus")  # the corpus names `corpus` explicitly in places
    apply(engine, sqls)

    result = compare(engine, migrations, database="corpus")

    assert result.changes == (), render_text(result.changes)
    assert result.actual.tables or result.actual.views
    assert result.target_queries <= 6


def test_corpus_covers_every_source() -> None:
    if not SOURCES:
        pytest.skip("corpus not available")
    assert SOURCES == ["langfuse", "laminar", "umami", "posthog", "clickhouse-tests"]
