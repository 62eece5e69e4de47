"""Which differences ClickHouse can change in place without touching data (for `baseline --reconcile`).

Metadata-only: comments (`COMMENT COLUMN`, `MODIFY COMMENT`), a view's query whose output columns and
types stay the same (`ALTER TABLE mv MODIFY QUERY`, `CREATE OR REPLACE VIEW`), and MergeTree settings
that are not fixed at creation (`MODIFY SETTING` / `RESET SETTING`). All of them run on 24.8 as on 26.x
(`MODIFY QUERY` needs no setting since 23.12). Everything else is refused with the reason. Pure.
"""

from __future__ import annotations

from chmigrate.schema.diff import Change, ChangeKind

K = ChangeKind


def refusal(change: Change) -> str | None:
    """None when `change` is metadata-only; otherwise why `--reconcile` will not apply it."""
    if change.kind is K.COMMENT_CHANGED:
        return None
    if change.kind is K.COLUMN_CHANGED and change.attribute == "comment":
        return None
    if change.kind is K.VIEW_QUERY_CHANGED:
        if change.output_changed is False:
            return None
        return "the view's output columns or types change: its readers or target would see other data"
    if change.kind is K.SETTING_CHANGED and not change.needs_rebuild:
        return None
    if change.needs_rebuild:
        return "needs a rebuild (the table or view must be recreated)"
    if change.kind is K.COLUMN_CHANGED and change.attribute == "type":
        return "changing a column's type rewrites its data"
    if change.kind is K.COLUMN_CHANGED and change.attribute == "default":
        return "a different default changes the values of rows that do not store the column"
    if change.kind in (K.TABLE_MISSING, K.VIEW_MISSING, K.COLUMN_MISSING):
        return "creates an object that is missing: apply it with a migration, not at adoption"
    if change.kind in (K.TABLE_EXTRA, K.VIEW_EXTRA, K.COLUMN_EXTRA):
        return "an object the migrations do not have: dropping it loses data"
    if change.kind is K.TTL_CHANGED or (change.kind is K.COLUMN_CHANGED and change.attribute == "ttl"):
        return "a TTL decides which rows are deleted"
    if change.kind in (K.INDEX_MISSING, K.INDEX_EXTRA, K.INDEX_CHANGED, K.PROJECTION_MISSING,
                       K.PROJECTION_EXTRA, K.PROJECTION_CHANGED):
        return "builds or drops data structures stored with the parts"
    if change.kind is K.COLUMN_CHANGED and change.attribute == "codec":
        return "a codec change rewrites the column's data at merges"
    return "not a metadata-only change"


def split(changes: tuple[Change, ...]) -> tuple[tuple[Change, ...], tuple[tuple[Change, str], ...]]:
    """(the changes that can be reconciled in place, the others with the reason)."""
    ok: list[Change] = []
    refused: list[tuple[Change, str]] = []
    for change in changes:
        reason = refusal(change)
        if reason is None:
            ok.append(change)
        else:
            refused.append((change, reason))
    return tuple(ok), tuple(refused)
