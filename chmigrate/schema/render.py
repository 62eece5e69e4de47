"""Renderers for a diff: text, JSON, SQL and GitHub annotations. Each returns a string; none prints.

SQL policy (documented for `chmigrate diff --format sql`):
- in-place changes become ALTER/CREATE statements, one per line group, each ending in `;`;
- a change marked `destructive` (an extra table, view or column to drop, a column type
  change, an MV's inner engine) is emitted as a commented-out statement prefixed
  `-- destructive:` unless `allow_destructive=True`;
- a change that `needs_rebuild` (engine, PARTITION BY, PRIMARY KEY, SAMPLE BY, an ORDER BY
  other than appending new columns, settings fixed at creation) is only described in a
  `-- needs rebuild:` comment, never as a statement;
- ADD INDEX / ADD PROJECTION do not build the structure for existing parts: a comment names
  the MATERIALIZE statement to run when that is wanted;
- TTL changes carry `SETTINGS materialize_ttl_after_modify = 0` (no rewrite of old parts);
- a materialized view's query: `ALTER TABLE mv MODIFY QUERY` (24.8 and 26.x, with TO or an
  inner engine); a plain view: `CREATE OR REPLACE VIEW`; an MV's TO target: `DROP VIEW` then
  `CREATE MATERIALIZED VIEW` (an MV with TO stores nothing; rows inserted in between are not
  rolled up); missing tables and views: CREATE from the desired definition;
- MODIFY COLUMN restates the type where 24.8's grammar needs it (type, TTL, position);
- the statements qualify object names with the target database but leave names inside
  queries unqualified: run them with the target database as the current database (over
  HTTP: `settings={"database": db}`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chmigrate.schema.ddl import add_column_command, change_statements, qualified
from chmigrate.schema.diff import Change, ChangeKind, key_items
from chmigrate.schema.objects import Schema
from chmigrate.schema.textdiff import Hunk, differences, hunk_text

JSON_VERSION = 1

_LABELS: Mapping[ChangeKind, str] = {
    ChangeKind.TABLE_MISSING: "table missing",
    ChangeKind.TABLE_EXTRA: "table not in the migrations",
    ChangeKind.COLUMN_MISSING: "column missing",
    ChangeKind.COLUMN_EXTRA: "column not in the migrations",
    ChangeKind.COLUMN_CHANGED: "column differs",
    ChangeKind.ENGINE_CHANGED: "engine differs",
    ChangeKind.KEY_CHANGED: "key differs",
    ChangeKind.TTL_CHANGED: "TTL differs",
    ChangeKind.SETTING_CHANGED: "setting differs",
    ChangeKind.COMMENT_CHANGED: "comment differs",
    ChangeKind.INDEX_MISSING: "index missing",
    ChangeKind.INDEX_EXTRA: "index not in the migrations",
    ChangeKind.INDEX_CHANGED: "index differs",
    ChangeKind.PROJECTION_MISSING: "projection missing",
    ChangeKind.PROJECTION_EXTRA: "projection not in the migrations",
    ChangeKind.PROJECTION_CHANGED: "projection differs",
    ChangeKind.CONSTRAINT_MISSING: "constraint missing",
    ChangeKind.CONSTRAINT_EXTRA: "constraint not in the migrations",
    ChangeKind.CONSTRAINT_CHANGED: "constraint differs",
    ChangeKind.VIEW_MISSING: "view missing",
    ChangeKind.VIEW_EXTRA: "view not in the migrations",
    ChangeKind.VIEW_QUERY_CHANGED: "view query differs",
    ChangeKind.MV_TARGET_CHANGED: "materialized view target differs",
    ChangeKind.VIEW_CHANGED: "view differs",
}


# Changes whose texts are expressions or queries: shown as the tokens that differ, with context.
_EXPRESSION_KINDS = frozenset({
    ChangeKind.VIEW_QUERY_CHANGED, ChangeKind.KEY_CHANGED, ChangeKind.TTL_CHANGED, ChangeKind.INDEX_CHANGED,
    ChangeKind.PROJECTION_CHANGED, ChangeKind.CONSTRAINT_CHANGED,
})
_EXPRESSION_COLUMN_ATTRIBUTES = frozenset({"default", "codec", "ttl"})
_FULL_TEXT_LIMIT = 60  # both texts this short are shown in full besides the differing tokens


def expression_hunks(change: Change) -> list[Hunk] | None:
    """The differing tokens of a changed expression or query; None for other changes."""
    expression = change.kind in _EXPRESSION_KINDS or (
        change.kind is ChangeKind.COLUMN_CHANGED and change.attribute in _EXPRESSION_COLUMN_ATTRIBUTES)
    if not expression or change.expected is None or change.actual is None:
        return None
    return differences(change.expected, change.actual)


def output_note(change: Change) -> str:
    if change.output_changed is None:
        return ""
    return "output columns or types differ" if change.output_changed else "output columns and types unchanged"


def describe(change: Change) -> str:
    """One line: what differs, expected and found (for an expression: where the two differ)."""
    label = _LABELS[change.kind]
    what = change.object
    if change.attribute and change.kind not in (
        ChangeKind.INDEX_CHANGED,
        ChangeKind.PROJECTION_CHANGED,
        ChangeKind.CONSTRAINT_CHANGED,
    ):
        what += f" {change.attribute}"
    text = f"{label}: {what}"
    hunks = expression_hunks(change)
    if hunks and change.expected is not None and change.actual is not None:
        if max(len(change.expected), len(change.actual)) <= _FULL_TEXT_LIMIT:
            text += f": expected {_short(change.expected)}, found {_short(change.actual)}"
        places = "1 place differs" if len(hunks) == 1 else f"{len(hunks)} places differ"
        text += f"; {places} (expected vs found): " + "; ".join(hunk_text(h) for h in hunks)
    elif change.expected is not None and change.actual is not None:
        text += f": expected {_short(change.expected)}, found {_short(change.actual)}"
    elif change.expected is not None:
        text += f": expected {_short(change.expected)}, found none"
    elif change.actual is not None:
        text += f": found {_short(change.actual)}, expected none"
    note = output_note(change)
    return text + (f"; {note}" if note else "")


def _short(value: str, limit: int = 160) -> str:
    value = value if value != "" else "''"
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _flags(change: Change) -> str:
    flags = [
        f for f, on in (("destructive", change.destructive), ("needs rebuild", change.needs_rebuild)) if on
    ]
    return f"  [{', '.join(flags)}]" if flags else ""


def render_text(changes: Sequence[Change]) -> str:
    """Human-readable report grouped by table or view; ends with a one-line summary."""
    if not changes:
        return "No differences: the database matches the migrations.\n"
    groups: dict[str, list[Change]] = {}
    for change in changes:
        owner = (
            change.object if change.object.endswith("." + change.table) else change.object.rsplit(".", 1)[0]
        )
        groups.setdefault(owner, []).append(change)
    lines: list[str] = []
    for owner, items in groups.items():
        lines.append(owner)
        for change in items:
            lines.append(f"  {change.kind.value:<20} {describe(change)}{_flags(change)}")
    destructive = sum(c.destructive for c in changes)
    rebuild = sum(c.needs_rebuild for c in changes)
    lines.append("")
    lines.append(
        f"{len(changes)} difference{'s' if len(changes) != 1 else ''} in {len(groups)} "
        f"object{'s' if len(groups) != 1 else ''} ({destructive} destructive, {rebuild} need a rebuild)"
    )
    return "\n".join(lines) + "\n"


def change_dict(change: Change) -> dict[str, Any]:
    return {
        "kind": change.kind.value,
        "object": change.object,
        "attribute": change.attribute,
        "expected": change.expected,
        "actual": change.actual,
        "destructive": change.destructive,
        "needs_rebuild": change.needs_rebuild,
        **_expression_facts(change),
    }


def _expression_facts(change: Change) -> dict[str, Any]:
    """For a changed expression or query: where the texts differ; for a view: whether its output does."""
    facts: dict[str, Any] = {}
    hunks = expression_hunks(change)
    if hunks is not None:
        facts["differences"] = [{"before": h.before, "expected": h.expected, "found": h.found, "after": h.after}
                                for h in hunks]
    if change.output_changed is not None:
        facts["output_changed"] = change.output_changed
    return facts


def render_json(changes: Sequence[Change], *, postgres: Mapping[str, Any] | None = None) -> str:
    """`{"version": 1, "clickhouse": {"changes": [...]}[, "postgres": {...}]}`, stable key order."""
    document: dict[str, Any] = {
        "version": JSON_VERSION,
        "clickhouse": {"changes": [change_dict(c) for c in changes]},
    }
    if postgres is not None:
        document["postgres"] = dict(postgres)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _sql_lines(
    changes: Sequence[Change], desired: Schema, database: str, allow_destructive: bool
) -> list[tuple[str, bool]]:
    """(line, is_statement) pairs: statements end in `;`, everything else is a comment."""
    k = ChangeKind
    merged = _order_key_merges(changes, desired)
    out: list[tuple[str, bool]] = []
    for change in changes:
        if change in merged.absorbed:
            continue
        if change.needs_rebuild:
            out.append((f"-- needs rebuild: {describe(change)}", False))
            out.append(
                ("--   recreate the table from the migrations and copy the data; no ALTER does this", False)
            )
            continue
        statements = merged.replaced.get(change) or change_statements(change, desired, database)
        if not statements:
            out.append((f"-- no in-place statement: {describe(change)}", False))
            continue
        for statement in statements:
            if change.destructive and not allow_destructive:
                out.append((f"-- destructive: {describe(change)}", False))
                out.extend(("-- " + line, False) for line in (statement + ";").splitlines())
            else:
                out.append((statement + ";", True))
        table = qualified(database, change.table)
        sub = change.object.rsplit(".", 1)[-1]
        if change.kind in (k.INDEX_MISSING, k.INDEX_CHANGED):
            out.append((f"-- to index existing parts: ALTER TABLE {table} MATERIALIZE INDEX {sub};", False))
        if change.kind in (k.PROJECTION_MISSING, k.PROJECTION_CHANGED):
            out.append(
                (
                    f"-- to build it for existing parts: ALTER TABLE {table} MATERIALIZE PROJECTION {sub};",
                    False,
                )
            )
    return out


def reconcile_statements(
    changes: Sequence[Change], desired: Schema, *, database: str, allow_destructive: bool = False
) -> tuple[str, ...]:
    """The statements `render_sql` emits live (without the trailing `;`), in order."""
    return tuple(
        line[:-1] for line, live in _sql_lines(changes, desired, database, allow_destructive) if live
    )


def render_sql(
    changes: Sequence[Change], desired: Schema, *, database: str, allow_destructive: bool = False
) -> str:
    """Statements that reconcile the target in place (see the module docstring for the policy)."""
    header = f"-- chmigrate: reconcile {database} with the migrations ({len(changes)} differences)"
    lines = [header] + [line for line, _ in _sql_lines(changes, desired, database, allow_destructive)]
    return "\n".join(lines) + "\n"


class _Merges:
    def __init__(self) -> None:
        self.absorbed: set[Change] = set()
        self.replaced: dict[Change, list[str]] = {}


def _order_key_merges(changes: Sequence[Change], desired: Schema) -> _Merges:
    """An ORDER BY extended with new columns must change in the same ALTER that adds them."""
    merges = _Merges()
    for change in changes:
        if (
            change.kind is not ChangeKind.KEY_CHANGED
            or change.attribute != "order_key"
            or change.needs_rebuild
        ):
            continue
        table = desired.table(change.table)
        if table is None:
            continue
        adds = [c for c in changes if c.kind is ChangeKind.COLUMN_MISSING and c.table == change.table]
        added = [table.column(c.object.rsplit(".", 1)[-1]) for c in adds]
        commands = [add_column_command(table, col) for col in added if col is not None]
        key = key_items(table.order_key)
        commands.append(f"MODIFY ORDER BY ({', '.join(key)})")
        db = change.object.rsplit(".", 1)[0]
        statement = f"ALTER TABLE {qualified(db, table.name)} " + ", ".join(commands)
        merges.replaced[change] = [statement]
        merges.absorbed.update(adds)
    return merges


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(message: str, *, level: str = "error", **properties: str) -> str:
    """One GitHub Actions workflow command (`::error file=...,title=...::message`), escaped as GitHub reads
    them: `%`, CR and LF in the message; also `:` and `,` in property values. A message can never end the
    line early or inject a second command."""
    props = ",".join(f"{k}={_escape_property(v)}" for k, v in properties.items())
    return f"::{level}{' ' + props if props else ''}::{_escape_data(message)}"


def render_github(changes: Sequence[Change], files: Mapping[str, str | Path] | None = None) -> str:
    """GitHub Actions annotations, one `::error` line per change, at the file that defines the object.

    `files` maps a table or view name (unqualified) or a full object name to a migration path.
    """
    files = files or {}
    lines = []
    for change in changes:
        path = files.get(change.object) or files.get(change.table)
        props = {"file": str(path)} if path is not None else {}
        lines.append(github_annotation(describe(change) + _flags(change), **props,
                                       title="schema drift: " + change.kind.value))
    return "\n".join(lines) + ("\n" if lines else "")


def count_by_kind(changes: Sequence[Change]) -> str:
    """`21 column_changed (comment), 2 comment_changed, 1 view_query_changed`: a one-line tally by kind (by
    attribute for column changes)."""
    counts: dict[str, int] = {}
    for change in changes:
        key = change.kind.value
        if change.kind is ChangeKind.COLUMN_CHANGED and change.attribute:
            key += f" ({change.attribute})"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {key}" for key, n in counts.items())
