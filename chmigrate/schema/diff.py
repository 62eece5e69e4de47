"""The differ: a pure function from (desired, actual) normalised schemas to a tuple of changes.

Changes belong to a closed set of kinds (`ChangeKind`). Each says which object
(`db.table`, `db.table.column`, `db.table.index`), which attribute, what was
expected and what was found, whether reconciling it is `destructive` (it drops a
table, view or column that holds or serves data, changes a column's type, or
replaces an MV's inner storage) and whether it cannot be done in place
(`needs_rebuild`: engine, PARTITION BY, PRIMARY KEY, a new SAMPLE BY, an ORDER BY
other than appending new columns, settings fixed at creation, a view's kind).
Order is deterministic: tables by name, then views by name; within an object, a
fixed order of checks (engine, keys, TTL, settings, comment, columns in desired
order then extra ones, indices, projections, constraints).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from chmigrate.schema.objects import Column, Schema, Table, View
from chmigrate.schema.tokens import ident_sql, join, split_top, tokenize

N = TypeVar("N")


class ChangeKind(str, Enum):
    TABLE_MISSING = "table_missing"
    TABLE_EXTRA = "table_extra"
    COLUMN_MISSING = "column_missing"
    COLUMN_EXTRA = "column_extra"
    COLUMN_CHANGED = "column_changed"  # attribute: type, default, codec, ttl, comment, settings, position
    ENGINE_CHANGED = "engine_changed"
    KEY_CHANGED = "key_changed"  # attribute: partition_key, order_key, primary_key, sample_key
    TTL_CHANGED = "ttl_changed"
    SETTING_CHANGED = "setting_changed"  # attribute: the setting's name
    COMMENT_CHANGED = "comment_changed"
    INDEX_MISSING = "index_missing"
    INDEX_EXTRA = "index_extra"
    INDEX_CHANGED = "index_changed"
    PROJECTION_MISSING = "projection_missing"
    PROJECTION_EXTRA = "projection_extra"
    PROJECTION_CHANGED = "projection_changed"
    CONSTRAINT_MISSING = "constraint_missing"
    CONSTRAINT_EXTRA = "constraint_extra"
    CONSTRAINT_CHANGED = "constraint_changed"
    VIEW_MISSING = "view_missing"
    VIEW_EXTRA = "view_extra"
    VIEW_QUERY_CHANGED = "view_query_changed"
    MV_TARGET_CHANGED = "mv_target_changed"
    VIEW_CHANGED = "view_changed"  # attribute: kind, columns, inner_engine, security, refresh

    def __str__(self) -> str:
        return self.value


# Settings a MergeTree table takes only at creation.
FIXED_SETTINGS = frozenset(
    {
        "index_granularity",
        "index_granularity_bytes",
        "storage_policy",
        "allow_nullable_key",
        "enable_mixed_granularity_parts",
    }
)


@dataclass(frozen=True, order=True)
class Change:
    kind: ChangeKind
    object: str  # "db.table" or "db.table.column" (column, index, projection, constraint)
    attribute: str | None
    expected: str | None
    actual: str | None
    destructive: bool = False
    needs_rebuild: bool = False
    table: str = ""  # the table or view the object belongs to (unqualified), for grouping and mapping
    # view_query_changed only: whether the view's output columns (names and types) differ too
    output_changed: bool | None = field(default=None, compare=False)


def column_definition(c: Column) -> str:
    """`Type [DEFAULT expr] [COMMENT '...'] [CODEC(...)] [TTL expr] [SETTINGS (...)]` of a column."""
    parts = [c.type]
    if c.default_kind:
        parts.append(f"{c.default_kind} {c.default_expr}".rstrip())
    if c.comment:
        parts.append("COMMENT " + sql_string(c.comment))
    if c.codec:
        parts.append(c.codec)
    if c.ttl:
        parts.append("TTL " + c.ttl)
    if c.settings:
        parts.append("SETTINGS (" + ", ".join(f"{k} = {v}" for k, v in c.settings) + ")")
    return " ".join(parts)


def sql_string(value: str) -> str:
    """A ClickHouse string literal (one line: newlines are escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return "'" + escaped + "'"


def _default(c: Column) -> str | None:
    return f"{c.default_kind} {c.default_expr}".strip() or None


def _settings_text(pairs: Sequence[tuple[str, str]]) -> str | None:
    return ", ".join(f"{k} = {v}" for k, v in pairs) or None


def _or_none(text: str) -> str | None:
    return text or None


def diff(desired: Schema, actual: Schema, *, replicated: bool = False) -> tuple[Change, ...]:
    """Every difference between two normalised schemas, in a deterministic order. With `replicated` (a cluster
    is configured: the migrations were sent with Replicated* engines), a table whose engine is the Replicated*
    form of the one in the files is not a change; without it, it is (someone converted it by hand)."""
    db = actual.database
    changes: list[Change] = []
    want_tables = {t.name: t for t in desired.tables}
    have_tables = {t.name: t for t in actual.tables}
    for name in sorted(want_tables.keys() | have_tables.keys()):
        want, have = want_tables.get(name), have_tables.get(name)
        obj = f"{db}.{name}"
        if have is None and want is not None:
            changes.append(Change(ChangeKind.TABLE_MISSING, obj, None, want.engine_full, None, table=name))
        elif want is None and have is not None:
            changes.append(
                Change(
                    ChangeKind.TABLE_EXTRA, obj, None, None, have.engine_full, destructive=True, table=name
                )
            )
        elif want is not None and have is not None:
            changes.extend(_table(obj, want, have, replicated))
    want_views = {v.name: v for v in desired.views}
    have_views = {v.name: v for v in actual.views}
    for name in sorted(want_views.keys() | have_views.keys()):
        wv, hv = want_views.get(name), have_views.get(name)
        obj = f"{db}.{name}"
        if hv is None and wv is not None:
            changes.append(Change(ChangeKind.VIEW_MISSING, obj, None, wv.kind, None, table=name))
        elif wv is None and hv is not None:
            changes.append(
                Change(ChangeKind.VIEW_EXTRA, obj, None, None, hv.kind, destructive=True, table=name)
            )
        elif wv is not None and hv is not None:
            changes.extend(_view(obj, wv, hv))
    return tuple(changes)


# -- tables --------------------------------------------------------------------------------------------


def same_engine(want: Table, have: Table) -> bool:
    """The engines are equal, or `have` is the Replicated* form of `want` that the cluster rewrite sends
    (migrations/cluster.py): `ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', ...)` equals
    `MergeTree(...)` when its own arguments after the Keeper path and the replica name are the same."""
    if (want.engine, want.engine_args) == (have.engine, have.engine_args):
        return True
    if have.engine != "Replicated" + want.engine:
        return False
    from chmigrate.schema.tokens import STRING, join, split_top, tokenize

    args = split_top(tokenize(have.engine_args))
    if len(args) >= 2 and all(len(a) == 1 and a[0].kind == STRING for a in args[:2]):
        args = args[2:]
    return ", ".join(join(a) for a in args) == ", ".join(join(a) for a in split_top(tokenize(want.engine_args)))


def _table(obj: str, want: Table, have: Table, replicated: bool = False) -> Iterator[Change]:
    name = want.name
    if (want.engine, want.engine_args) != (have.engine, have.engine_args) and not (
            replicated and same_engine(want, have)):
        yield Change(
            ChangeKind.ENGINE_CHANGED,
            obj,
            "engine",
            want.engine_full,
            have.engine_full,
            needs_rebuild=True,
            table=name,
        )
    yield from _keys(obj, want, have)
    if want.ttl != have.ttl:
        yield Change(ChangeKind.TTL_CHANGED, obj, "ttl", _or_none(want.ttl), _or_none(have.ttl), table=name)
    want_settings, have_settings = dict(want.settings), dict(have.settings)
    for key in sorted(want_settings.keys() | have_settings.keys()):
        if want_settings.get(key) != have_settings.get(key):
            yield Change(
                ChangeKind.SETTING_CHANGED,
                obj,
                key,
                want_settings.get(key),
                have_settings.get(key),
                needs_rebuild=key in FIXED_SETTINGS,
                table=name,
            )
    if want.comment != have.comment:
        yield Change(ChangeKind.COMMENT_CHANGED, obj, "comment", want.comment, have.comment, table=name)
    yield from _columns(obj, name, want.columns, have.columns)
    yield from _named(
        obj,
        name,
        {i.name: i for i in want.indices},
        {i.name: i for i in have.indices},
        (ChangeKind.INDEX_MISSING, ChangeKind.INDEX_EXTRA, ChangeKind.INDEX_CHANGED),
        lambda i: f"{i.expr} TYPE {i.type} GRANULARITY {i.granularity}",
    )
    yield from _named(
        obj,
        name,
        {p.name: p for p in want.projections},
        {p.name: p for p in have.projections},
        (ChangeKind.PROJECTION_MISSING, ChangeKind.PROJECTION_EXTRA, ChangeKind.PROJECTION_CHANGED),
        lambda p: p.query,
    )
    yield from _named(
        obj,
        name,
        {c.name: c for c in want.constraints},
        {c.name: c for c in have.constraints},
        (ChangeKind.CONSTRAINT_MISSING, ChangeKind.CONSTRAINT_EXTRA, ChangeKind.CONSTRAINT_CHANGED),
        lambda c: f"{c.kind} {c.expr}",
    )


def _keys(obj: str, want: Table, have: Table) -> Iterator[Change]:
    for attr in ("partition_key", "order_key", "primary_key", "sample_key"):
        expected, found = getattr(want, attr), getattr(have, attr)
        if expected == found:
            continue
        rebuild = not (attr == "order_key" and order_key_extends(want, have))
        if attr == "primary_key" and _effective_primary(want) == _effective_primary(have):
            continue  # an implied PRIMARY KEY equal to the explicit one
        if attr == "sample_key" and not expected:
            rebuild = False  # REMOVE SAMPLE BY works in place
        yield Change(
            ChangeKind.KEY_CHANGED,
            obj,
            attr,
            _or_none(expected),
            _or_none(found),
            needs_rebuild=rebuild,
            table=want.name,
        )


def _effective_primary(t: Table) -> str:
    return t.primary_key or t.order_key


def key_items(text: str) -> list[str]:
    """`a, (b + 1)` -> ["a", "(b + 1)"] in canonical spelling."""
    return [join(part) for part in split_top(tokenize(text))]


def order_key_extends(want: Table, have: Table) -> bool:
    """ORDER BY can change in place only by appending columns that are being added in the same ALTER."""
    wanted, found = key_items(want.order_key), key_items(have.order_key)
    if len(wanted) <= len(found) or wanted[: len(found)] != found:
        return False
    if _effective_primary(want) != _effective_primary(have):
        return False  # after MODIFY ORDER BY the primary key stays the old sorting key
    existing = {c.name for c in have.columns}
    new_names = {ident_sql(c.name) for c in want.columns if c.name not in existing}
    return all(item in new_names for item in wanted[len(found) :])


# -- columns -------------------------------------------------------------------------------------------


def _columns(obj: str, table: str, want: Sequence[Column], have: Sequence[Column]) -> Iterator[Change]:
    have_by_name = {c.name: c for c in have}
    want_names = {c.name for c in want}
    moved = moved_columns([c.name for c in want], [c.name for c in have])
    for c in want:
        cobj = f"{obj}.{c.name}"
        h = have_by_name.get(c.name)
        if h is None:
            yield Change(ChangeKind.COLUMN_MISSING, cobj, None, column_definition(c), None, table=table)
            continue
        for attr, expected, found, destructive in (
            ("type", c.type, h.type, True),
            ("default", _default(c), _default(h), False),
            ("codec", c.codec, h.codec, False),
            ("ttl", c.ttl, h.ttl, False),
            ("comment", c.comment, h.comment, False),
            ("settings", _settings_text(c.settings), _settings_text(h.settings), False),
        ):
            if (expected or None) != (found or None):
                yield Change(
                    ChangeKind.COLUMN_CHANGED,
                    cobj,
                    attr,
                    expected or None,
                    found or None,
                    destructive=destructive,
                    table=table,
                )
        if c.name in moved:
            yield Change(
                ChangeKind.COLUMN_CHANGED,
                cobj,
                "position",
                _position(want, c.name, have_by_name),
                _position(have, c.name, {x.name: x for x in want}),
                table=table,
            )
    for h in have:
        if h.name not in want_names:
            yield Change(
                ChangeKind.COLUMN_EXTRA,
                f"{obj}.{h.name}",
                None,
                None,
                column_definition(h),
                destructive=True,
                table=table,
            )


def _position(columns: Sequence[Column], name: str, others: dict[str, Column]) -> str:
    """Where `name` sits among the columns both sides share: `FIRST` or `AFTER x`."""
    shared = [c.name for c in columns if c.name in others or c.name == name]
    i = shared.index(name)
    return "FIRST" if i == 0 else f"AFTER {shared[i - 1]}"


def moved_columns(want: Sequence[str], have: Sequence[str]) -> set[str]:
    """Shared columns outside a longest common subsequence of the two orders (the fewest to move)."""
    shared = set(want) & set(have)
    a = [n for n in want if n in shared]
    b = [n for n in have if n in shared]
    if a == b:
        return set()
    lengths = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            lengths[i][j] = (
                lengths[i + 1][j + 1] + 1 if a[i] == b[j] else max(lengths[i + 1][j], lengths[i][j + 1])
            )
    keep: set[str] = set()
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            keep.add(a[i])
            i += 1
            j += 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return shared - keep


def _named(
    obj: str,
    table: str,
    want: Mapping[str, N],
    have: Mapping[str, N],
    kinds: tuple[ChangeKind, ChangeKind, ChangeKind],
    render: Callable[[N], str],
) -> Iterator[Change]:
    missing, extra, changed = kinds
    for name in sorted(want.keys() | have.keys()):
        w, h = want.get(name), have.get(name)
        sub = f"{obj}.{name}"
        if h is None and w is not None:
            yield Change(missing, sub, None, render(w), None, table=table)
        elif w is None and h is not None:
            yield Change(extra, sub, None, None, render(h), table=table)
        elif w is not None and h is not None and w != h:
            yield Change(changed, sub, "definition", render(w), render(h), table=table)


# -- views ---------------------------------------------------------------------------------------------


def _view(obj: str, want: View, have: View) -> Iterator[Change]:
    name = want.name
    if want.kind != have.kind:
        yield Change(
            ChangeKind.VIEW_CHANGED,
            obj,
            "kind",
            want.kind,
            have.kind,
            destructive=True,
            needs_rebuild=True,
            table=name,
        )
        return
    query_changed = want.query != have.query
    if query_changed:
        yield Change(ChangeKind.VIEW_QUERY_CHANGED, obj, "query", want.query, have.query, table=name,
                     output_changed=_output(want.columns) != _output(have.columns))
    if want.target != have.target:
        yield Change(
            ChangeKind.MV_TARGET_CHANGED,
            obj,
            "target",
            _or_none(want.target),
            _or_none(have.target),
            needs_rebuild=not (want.target and have.target),
            table=name,
        )
    if want.inner_engine != have.inner_engine:
        yield Change(
            ChangeKind.VIEW_CHANGED,
            obj,
            "inner_engine",
            _or_none(want.inner_engine),
            _or_none(have.inner_engine),
            destructive=True,
            needs_rebuild=True,
            table=name,
        )
    if not query_changed and want.columns != have.columns:
        yield Change(
            ChangeKind.VIEW_CHANGED,
            obj,
            "columns",
            _column_list(want.columns),
            _column_list(have.columns),
            table=name,
        )
    for attr in ("security", "refresh"):
        expected, found = getattr(want, attr), getattr(have, attr)
        if expected != found:
            yield Change(ChangeKind.VIEW_CHANGED, obj, attr, _or_none(expected), _or_none(found), table=name)
    if want.comment != have.comment:
        yield Change(ChangeKind.COMMENT_CHANGED, obj, "comment", want.comment, have.comment, table=name)


def _output(columns: Sequence[Column]) -> list[tuple[str, str]]:
    return [(c.name, c.type) for c in columns]


def _column_list(columns: Sequence[Column]) -> str:
    return ", ".join(f"{ident_sql(c.name)} {column_definition(c)}" for c in columns)
