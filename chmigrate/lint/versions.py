"""The server-version table: the first ClickHouse release that accepts each construct without an
experimental setting. The 24.8 rows are checked against ClickHouse 24.8.4 itself (chdb 2.1.1) in
tests/lint/test_lint_versions.py; the other boundaries come from the ClickHouse changelogs."""

from __future__ import annotations

from dataclasses import dataclass

from chmigrate.lint import settings248

Version = tuple[int, int]


@dataclass(frozen=True)
class Feature:
    key: str
    what: str
    since: Version


FEATURES: dict[str, Feature] = {f.key: f for f in (
    Feature("ttl_datetime64", "a TTL on a bare DateTime64 column (write toDateTime(col) + INTERVAL ...)", (25, 7)),
    Feature("json_type", "the JSON type", (25, 3)),
    Feature("variant_type", "the Variant type", (25, 3)),
    Feature("dynamic_type", "the Dynamic type", (25, 3)),
    Feature("bfloat16_type", "the BFloat16 type", (25, 1)),
    Feature("text_index", "a `text` (full-text) index", (25, 9)),
    Feature("vector_index", "a `vector_similarity` index", (25, 8)),
)}

TYPE_FEATURES = {"JSON": "json_type", "VARIANT": "variant_type", "DYNAMIC": "dynamic_type",
                 "BFLOAT16": "bfloat16_type"}
INDEX_FEATURES = {"text": "text_index", "vector_similarity": "vector_index"}
SETTINGS_KNOWN = (24, 8)  # the release whose setting names settings248 lists


def parse(text: str) -> Version:
    """`24.8`, `24.8.4.1` -> (24, 8); ValueError otherwise."""
    parts = text.strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise ValueError(f"{text!r} is not a version like 24.8")
    return int(parts[0]), int(parts[1])


def rejects(feature: str, target: Version) -> bool:
    return target < FEATURES[feature].since


def unknown_setting(name: str, target: Version) -> bool:
    """Whether a target at or before 24.8 does not know setting `name` (later targets: not checked)."""
    return target <= SETTINGS_KNOWN and name not in settings248.NAMES


def label(v: Version) -> str:
    return f"{v[0]}.{v[1]}"
