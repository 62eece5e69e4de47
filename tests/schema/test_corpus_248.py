"""The DDL corpus on ClickHouse 24.8 (chdb 2.1.1), production's version, with the production default:
the target is 24.8, the desired schema is replayed in the 26.x scratch subprocess, and both sides are
normalised on the 24.8 target.

A statement 24.8 rejects is left out of both sides (recorded with the engine's own error); so is a
statement the scratch engine then rejects given that (umami's MV `TO` a table 24.8 refused: 24.8 accepts
an MV whose target does not exist, 26.x does not).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chmigrate.errors import StatementFailed
from chmigrate.schema.compare import Comparison, compare
from chmigrate.schema.desired import replay_in_subprocess
from chmigrate.schema.render import render_text
from chmigrate.schema.sources import MigrationLike, SourceFile, SourceStatement
from tests.schema import engine248
from tests.schema.helpers import CORPUS, corpus_migrations, corpus_sources

pytestmark = [
    pytest.mark.skipif(not engine248.available(), reason=engine248.NO_248),
    pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").exists(), reason="DDL corpus not available"),
    pytest.mark.slow,
]

SOURCES = corpus_sources() if (CORPUS / "MANIFEST.tsv").exists() else []

# (file, statement, error code) left out on 24.8; "scratch" marks the one the 26.x scratch then refuses.
EXPECTED_LEFT_OUT = {
    "langfuse": [
        (
            "0039_create_events_full.sql",
            1,
            "80",
        ),  # text index arguments: "Only literals can be skip index arguments"
        ("0040_create_events_core.sql", 1, "80"),
        ("0041_create_events_core_mv.sql", 1, "60"),  # MV over events_full (left out above)
        *[("0042_add_events_ingestion_attribution_columns.sql", i, "115") for i in range(1, 10)],
        ("0042_add_events_ingestion_attribution_columns.sql", 10, "60"),
        ("0043_add_events_metadata_ngram_index.sql", 1, "115"),  # unknown setting enable_full_text_index
        ("0043_add_events_metadata_ngram_index.sql", 2, "115"),
    ],
    "laminar": [
        ("0025_clusters.sql", 1, "50"),  # BFloat16
        ("0028_indexed_clusters.sql", 1, "50"),
        ("0028_indexed_clusters.sql", 2, "60"),
        ("0034_hide_l0_clusters.sql", 1, "60"),
        ("0035_signal_messages_ttl.sql", 1, "450"),  # TTL on DateTime64
        ("0035_signal_messages_ttl.sql", 2, "60"),
        ("0048_clusters_centroid_dim_768.sql", 1, "50"),
        ("0048_clusters_centroid_dim_768.sql", 2, "60"),
        ("0048_clusters_centroid_dim_768.sql", 3, "60"),
        ("0048_clusters_centroid_dim_768.sql", 4, "60"),
    ],
    "umami": [
        ("0001_schema.sql", 4, "115"),  # allow_dimensions_outside_sorting_key is a 26.x setting
        ("0001_schema.sql", 5, "scratch"),  # its MV: 24.8 accepts a missing TO table, 26.x refuses
    ],
    "posthog": [
        ("0001_test_schema_snapshot_excerpt.sql", 3, "115"),
        ("0001_test_schema_snapshot_excerpt.sql", 4, "115"),
    ],
    "clickhouse-tests": [
        ("00915_simple_aggregate_function.sql", 2, "63"),  # anyLastRespectNulls
        ("01375_compact_parts_codecs.sql", 1, "115"),  # serialization_info_version
        ("01375_compact_parts_codecs.sql", 2, "115"),
        ("01375_compact_parts_codecs.sql", 3, "115"),
        ("02870_per_column_settings.sql", 6, "44"),  # the JSON type
        ("03290_mix_engine_and_query_settings.sql", 1, "455"),  # LowCardinality(UInt8)
        ("03290_mix_engine_and_query_settings.sql", 2, "455"),
        ("03290_mix_engine_and_query_settings.sql", 3, "455"),
        ("03290_mix_engine_and_query_settings.sql", 4, "455"),
    ],
}


@dataclass
class Run248:
    source: str
    accepted: int = 0
    left_out: list[tuple[str, int, str, str]] = field(default_factory=list)  # file, index, code, error
    comparison: Comparison | None = None


def _code(error: str) -> str:
    m = re.search(r"Code:? (\d+)", error)
    return m.group(1) if m else "?"


def _subset(migrations: tuple[MigrationLike, ...], keep: set[tuple[str, int]]) -> tuple[SourceFile, ...]:
    files = []
    for m in migrations:
        up = tuple(SourceStatement(s.index, s.line, s.sql) for s in m.up if (m.path.name, s.index) in keep)
        if up:
            files.append(SourceFile(m.path, up))
    return tuple(files)


def _run_source(source: str, workdir: Path) -> Run248:
    run = Run248(source)
    migrations = corpus_migrations(source)
    flat = [(m.path.name, s.index, s.sql) for m in migrations for s in m.up]
    target = engine248.Engine248(workdir / "a" / "data", "corpus")
    try:
        results = target.run_script([sql for _, _, sql in flat])
        keep = set()
        for (name, index, _), error in zip(flat, results):
            if error is None:
                keep.add((name, index))
            else:
                run.left_out.append((name, index, _code(error), error))
        # The scratch engine must accept what remains; drop what it refuses, then rebuild the target.
        rebuilt = False
        while True:
            try:
                replay_in_subprocess(_subset(migrations, keep), database="corpus")
                break
            except StatementFailed as exc:
                name = Path(exc.path).name
                keep.discard((name, exc.statement))
                run.left_out.append((name, exc.statement, "scratch", exc.error))
                rebuilt = True
        if rebuilt:
            target.close()
            target = engine248.Engine248(workdir / "b" / "data", "corpus")
            kept = [(n, i, sql) for n, i, sql in flat if (n, i) in keep]
            errors = [e for e in target.run_script([sql for _, _, sql in kept]) if e]
            assert not errors, errors
        run.accepted = len(keep)
        run.comparison = compare(
            target,
            _subset(migrations, keep),
            database="corpus",  # type: ignore[arg-type]
            cache_dir=workdir / "cache",
        )
    finally:
        target.close()
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run248]:
    base = tmp_path_factory.mktemp("corpus248")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {s: pool.submit(_run_source, s, base / s) for s in SOURCES}
        return {s: f.result() for s, f in futures.items()}


@pytest.mark.parametrize("source", SOURCES)
def test_248_source_has_no_drift(runs: dict[str, Run248], source: str) -> None:
    run = runs[source]
    assert run.comparison is not None
    assert run.comparison.changes == (), render_text(run.comparison.changes)
    assert run.comparison.target_queries <= 6  # 4 inspection queries on 24.8 (+ one formatting query)


@pytest.mark.parametrize("source", SOURCES)
def test_248_left_out_statements_are_the_known_ones(runs: dict[str, Run248], source: str) -> None:
    found = [(f, i, code) for f, i, code, _ in runs[source].left_out]
    assert found == EXPECTED_LEFT_OUT[source], "\n".join(
        f"{f} #{i}: {e}" for f, i, _, e in runs[source].left_out
    )


def test_248_runs_most_of_the_corpus(runs: dict[str, Run248]) -> None:
    accepted = sum(r.accepted for r in runs.values())
    assert accepted == 404 - sum(len(v) for v in EXPECTED_LEFT_OUT.values())
