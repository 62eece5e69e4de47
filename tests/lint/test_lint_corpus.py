"""The DDL corpus (../shared/corpus, copied to tests/data/corpus) runs through lint without a crash, with
the findings per folder as reviewed data; the platform's own clickhouse/ gives no error and no warning."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from chmigrate.connect import ClickHouseTarget
from chmigrate.lint.config import LintConfig
from chmigrate.lint.run import lint
from chmigrate.targets.clickhouse import ClickHouseConfig
from tests.schema.helpers import CORPUS

REPO = Path(__file__).resolve().parents[2]

# Reviewed findings per folder, against production's version (--server-version 24.8). Notes on the review:
# CH402 in umami: Nullable(String) into String and Decimal(18, 2) into Decimal(18, 4) (verify's rule: only
# LowCardinality/Nullable/SimpleAggregateFunction wraps fit); in clickhouse-tests: an AggregateFunction
# state of another Decimal scale. CH302 in laminar 0017: signal_runs dropped and created with another ORDER
# BY. CH501/CH502: the constructs test_corpus_248.py records as rejected by 24.8 (text and vector indexes,
# BFloat16, a DateTime64 TTL, JSON, enable_full_text_index, allow_dimensions_outside_sorting_key, ...).
EXPECTED: dict[str, dict[str, int]] = {
    "clickhouse-tests": {"CH402": 1, "CH403": 3, "CH501": 1, "CH502": 3, "CH702": 25, "CH802": 9, "CH803": 4,
                         "CH804": 30},
    "laminar": {"CH101": 8, "CH302": 1, "CH501": 6, "CH702": 13, "CH804": 50},
    "langfuse": {"CH101": 13, "CH501": 6, "CH502": 18, "CH702": 6, "CH804": 46},
    "posthog": {"CH502": 2, "CH804": 1},
    "umami": {"CH402": 2, "CH502": 1, "CH702": 1, "CH804": 1},
}


def _target(directory: Path, local: Path) -> ClickHouseTarget:
    return ClickHouseTarget(config=ClickHouseConfig(local_dir=local / "clickhouse"), database="default",
                            ledger_table="chmigrate_ledger", lock="auto", lock_lease=30, lock_timeout=60,
                            migrations_dir=directory, allow_version_gaps=True, local_dir=local)


@pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").exists(), reason="DDL corpus not available")
@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_corpus_findings(folder: str, tmp_path: Path) -> None:
    directory = CORPUS / folder
    result = lint(_target(directory, tmp_path), LintConfig(), paths=[str(directory)], server_version="24.8", cwd=CORPUS)
    assert dict(sorted(Counter(f.code for f in result.findings).items())) == EXPECTED[folder]
    assert all(f.line >= 1 and f.file.startswith(folder + "/") for f in result.findings)


def test_platform_migrations_have_no_error_or_warning(tmp_path: Path) -> None:
    directory = REPO / "clickhouse"
    result = lint(_target(directory, tmp_path), LintConfig(), paths=[str(directory)], server_version="24.8", cwd=REPO)
    assert [f for f in result.findings if f.severity != "notice"] == []
    assert result.files == ("clickhouse/0001_create_llm_usage.sql", "clickhouse/0002_create_llm_usage_daily.sql",
                            "clickhouse/0003_create_llm_usage_daily_mv.sql")
