"""Materialized views whose output does not fit their target table.

ClickHouse 24.8 accepts `CREATE MATERIALIZED VIEW mv TO t AS SELECT ... AS misspelt` silently: the
misspelt column is dropped on insert and the target column stays at its default. This check compares
each `TO` view's output columns (system.columns of the view) with its target's columns.
"""

from __future__ import annotations

import re

from chmigrate.results import ViewMismatch
from chmigrate.targets.clickhouse import ClickHouse

_IDENT = r"(?:`(?:[^`\\]|\\.)+`|[A-Za-z_][A-Za-z0-9_]*)"
_TO = re.compile(rf"\bTO\s+(?:({_IDENT})\.)?({_IDENT})", re.I)


def _unquote(name: str | None) -> str | None:
    if name is None:
        return None
    return name[1:-1].replace("\\`", "`").replace("\\\\", "\\") if name.startswith("`") else name


def mv_target(create_query: str, database: str) -> tuple[str, str] | None:
    """(database, table) of an MV's `TO` clause, read from its CREATE query (24.8 has no target_table)."""
    head = create_query.split(" AS SELECT", 1)[0].split(" AS WITH", 1)[0]
    m = _TO.search(head)
    if not m:
        return None
    return _unquote(m.group(1)) or database, _unquote(m.group(2)) or ""


def _unwrap(typ: str, wrapper: str) -> str | None:
    """The argument list of `wrapper(...)` when `typ` is exactly that, else None."""
    t = typ.strip()
    if t.startswith(wrapper + "(") and t.endswith(")"):
        return t[len(wrapper) + 1:-1]
    return None


def fits(source: str, target: str) -> bool:
    """Whether ClickHouse inserts a `source` value into a `target` column without loss: the same type, or
    `target` wraps it in LowCardinality, Nullable or SimpleAggregateFunction(f, ...) (a LowCardinality
    source fits its plain type too)."""
    if source.strip() == target.strip():
        return True
    inner = _unwrap(source, "LowCardinality")
    if inner is not None and fits(inner, target):
        return True
    for wrapper in ("LowCardinality", "Nullable"):
        inner = _unwrap(target, wrapper)
        if inner is not None:
            return fits(source, inner)
    args = _unwrap(target, "SimpleAggregateFunction")
    if args is not None:
        from chmigrate.migrations.splitter import top_level_commas

        parts = top_level_commas(args)
        return len(parts) == 2 and fits(source, parts[1].strip())
    return False


def mismatches(ch: ClickHouse, database: str) -> list[ViewMismatch]:
    """Each view column that is missing from, or typed differently in, the view's target; each view whose
    target does not exist."""
    views = ch.query("SELECT name, create_table_query FROM system.tables WHERE database = {d:String} "
                     "AND engine = 'MaterializedView' ORDER BY name", {"d": database})
    if not views:
        return []
    targets = {t for _, create in views if (t := mv_target(str(create), database)) is not None}
    databases = sorted({database} | {db for db, _ in targets})
    columns = ch.query("SELECT database, table, name, type FROM system.columns WHERE has({dbs:Array(String)}, "
                       "database)", {"dbs": databases})
    by_table: dict[tuple[str, str], dict[str, str]] = {}
    for db, table, name, typ in columns:
        by_table.setdefault((str(db), str(table)), {})[str(name)] = str(typ)
    problems: list[ViewMismatch] = []
    for name, create in views:
        target = mv_target(str(create), database)
        if target is None:
            continue  # an MV with an inner table always fits it
        view_cols = by_table.get((database, str(name)), {})
        target_cols = by_table.get(target)
        if target_cols is None:
            problems.append(ViewMismatch(f"{database}.{name}", f"{target[0]}.{target[1]}", "no_target"))
            continue
        for col, typ in view_cols.items():
            if col not in target_cols:
                problems.append(ViewMismatch(f"{database}.{name}", f"{target[0]}.{target[1]}", "missing_column",
                                             col, typ))
            elif not fits(typ, target_cols[col]):
                problems.append(ViewMismatch(f"{database}.{name}", f"{target[0]}.{target[1]}", "type", col, typ,
                                             target_cols[col]))
    return problems
