"""Which differences ClickHouse can change in place without touching data (for `baseline --reconcile`).

Metadata-only: comments (`COMMENT COLUMN`, `MODIFY COMMENT`), a view's query whose output columns and
types stay the same (`ALTER TABLE mv MODIFY QUERY`, `CREATE OR REPLACE VIEW`), and MergeTree settings
that are not fixed at creation (`MODIFY SETTING` / `RESET SETTING`). All of them run on 24.8 as on 26.x
(`MODIFY QUERY` needs no setting since 23.12). Everything else is refused with the reason. Pure.
"""

from __future__ import annotations

from typing import Literal

from chmigrate.schema.diff import Change, ChangeKind

K = ChangeKind

# Why a difference is not reconciled in place (the CLI says it in words: cli/wording.py)
Refusal = Literal["output_changes", "needs_rebuild", "type_rewrite", "default_changes_values", "missing_object",
                  "extra_object", "ttl", "data_structures", "codec_rewrite", "not_metadata_only"]


def refusal(change: Change) -> Refusal | None:
    """None when `change` is metadata-only; otherwise why `--reconcile` will not apply it."""
    if change.kind is K.COMMENT_CHANGED:
        return None
    if change.kind is K.COLUMN_CHANGED and change.attribute == "comment":
        return None
    if change.kind is K.VIEW_QUERY_CHANGED:
        if change.output_changed is False:
            return None
        return "output_changes"
    if change.kind is K.SETTING_CHANGED and not change.needs_rebuild:
        return None
    if change.needs_rebuild:
        return "needs_rebuild"
    if change.kind is K.COLUMN_CHANGED and change.attribute == "type":
        return "type_rewrite"
    if change.kind is K.COLUMN_CHANGED and change.attribute == "default":
        return "default_changes_values"
    if change.kind in (K.TABLE_MISSING, K.VIEW_MISSING, K.COLUMN_MISSING):
        return "missing_object"
    if change.kind in (K.TABLE_EXTRA, K.VIEW_EXTRA, K.COLUMN_EXTRA):
        return "extra_object"
    if change.kind is K.TTL_CHANGED or (change.kind is K.COLUMN_CHANGED and change.attribute == "ttl"):
        return "ttl"
    if change.kind in (K.INDEX_MISSING, K.INDEX_EXTRA, K.INDEX_CHANGED, K.PROJECTION_MISSING,
                       K.PROJECTION_EXTRA, K.PROJECTION_CHANGED):
        return "data_structures"
    if change.kind is K.COLUMN_CHANGED and change.attribute == "codec":
        return "codec_rewrite"
    return "not_metadata_only"


def split(changes: tuple[Change, ...]) -> tuple[tuple[Change, ...], tuple[tuple[Change, Refusal], ...]]:
    """(the changes that can be reconciled in place, the others with the reason)."""
    ok: list[Change] = []
    refused: list[tuple[Change, Refusal]] = []
    for change in changes:
        reason = refusal(change)
        if reason is None:
            ok.append(change)
        else:
            refused.append((change, reason))
    return tuple(ok), tuple(refused)
