"""DDL text for schema objects and for the statements that reconcile a change in place.

`create_table_sql` / `create_view_sql` spell a desired object as one CREATE
statement; `change_statements` turns one `Change` into ALTER statements. Object
names are qualified with the target database; names inside queries and
expressions are left as the normalised schema has them (unqualified in their own
database), so the SQL is meant to run with the target database as the current one.
"""

from __future__ import annotations

from collections.abc import Callable

from chmigrate.schema.diff import Change, ChangeKind, column_definition, sql_string
from chmigrate.schema.objects import Column, Schema, Table, View
from chmigrate.schema.tokens import ident_sql


def qualified(database: str, name: str) -> str:
    return f"{ident_sql(database)}.{ident_sql(name)}"


def _target(database: str, target: str) -> str:
    if "." in target:
        return target
    return qualified(database, target)


def _key(text: str) -> str:
    return f"({text})" if text else "tuple()"


def column_sql(c: Column) -> str:
    return f"{ident_sql(c.name)} {column_definition(c)}"


def engine_clause(t: Table) -> str:
    parts = [f"ENGINE = {t.engine_full}"]
    merge_tree = t.engine.endswith("MergeTree")
    if t.partition_key:
        parts.append(f"PARTITION BY {t.partition_key}")
    if t.primary_key:
        parts.append(f"PRIMARY KEY {_key(t.primary_key)}")
    if merge_tree:
        parts.append(f"ORDER BY {_key(t.order_key)}")
    if t.sample_key:
        parts.append(f"SAMPLE BY {t.sample_key}")
    if t.ttl:
        parts.append(f"TTL {t.ttl}")
    if t.settings:
        parts.append("SETTINGS " + ", ".join(f"{k} = {v}" for k, v in t.settings))
    return "\n".join(parts)


def create_table_sql(database: str, t: Table) -> str:
    elements = [column_sql(c) for c in t.columns]
    elements += [
        f"INDEX {ident_sql(i.name)} {i.expr} TYPE {i.type} GRANULARITY {i.granularity}" for i in t.indices
    ]
    elements += [f"PROJECTION {ident_sql(p.name)} ({p.query})" for p in t.projections]
    elements += [f"CONSTRAINT {ident_sql(c.name)} {c.kind} {c.expr}" for c in t.constraints]
    body = ",\n".join("    " + e for e in elements)
    sql = f"CREATE TABLE {qualified(database, t.name)}\n(\n{body}\n)\n{engine_clause(t)}"
    if t.comment:
        sql += f"\nCOMMENT {sql_string(t.comment)}"
    return sql


def create_view_sql(database: str, v: View, *, replace: bool = False) -> str:
    if v.kind == "dictionary":
        return v.query
    name = qualified(database, v.name)
    columns = ""
    if v.columns:
        columns = " (" + ", ".join(column_sql(c) for c in v.columns) + ")"
    parts: list[str] = []
    if v.materialized:
        parts.append(f"CREATE MATERIALIZED VIEW {name}")
        if v.refresh:
            parts.append(v.refresh)
        if v.target:
            parts.append(f"TO {_target(database, v.target)}")
        parts[-1] += columns
        if not v.target and v.inner_engine:
            parts.append(f"ENGINE = {v.inner_engine}")
    else:
        parts.append(f"CREATE {'OR REPLACE ' if replace else ''}VIEW {name}{columns}")
    if v.security:
        parts.append(v.security)
    if v.comment and not v.materialized:
        parts.append(f"COMMENT {sql_string(v.comment)}")
    parts.append(f"AS {v.query}")
    sql = "\n".join(parts)
    if v.comment and v.materialized:
        sql += f"\nCOMMENT {sql_string(v.comment)}"
    return sql


def _alter(database: str, table: str, command: str) -> str:
    return f"ALTER TABLE {qualified(database, table)} {command}"


def add_column_command(want: Table, c: Column) -> str:
    names = [x.name for x in want.columns]
    i = names.index(c.name)
    where = "FIRST" if i == 0 else f"AFTER {ident_sql(names[i - 1])}"
    return f"ADD COLUMN {column_sql(c)} {where}"


def _full_column(c: Column) -> str:
    """The column definition MODIFY COLUMN needs when the type must be restated (24.8 grammar)."""
    return column_sql(Column(c.name, c.type, c.default_kind, c.default_expr, c.codec, c.ttl, c.comment))


def change_statements(change: Change, desired: Schema, database: str) -> list[str]:
    """ALTER/CREATE/DROP statements that reconcile one in-place change (empty when none exists)."""
    k = ChangeKind
    table_name = change.table
    want_table = desired.table(table_name)
    want_view = desired.view(table_name)
    sub = change.object.rsplit(".", 1)[-1]
    if change.kind is k.TABLE_MISSING and want_table is not None:
        return [create_table_sql(database, want_table)]
    if change.kind is k.TABLE_EXTRA:
        return [f"DROP TABLE {qualified(database, table_name)}"]
    if change.kind is k.VIEW_MISSING and want_view is not None:
        return [create_view_sql(database, want_view)]
    if change.kind is k.VIEW_EXTRA:
        what = "DICTIONARY" if change.actual == "dictionary" else "VIEW"
        return [f"DROP {what} {qualified(database, table_name)}"]
    if want_table is not None:
        return _table_statements(change, want_table, sub, database)
    if want_view is not None:
        return _view_statements(change, want_view, database)
    return []


def _table_statements(change: Change, t: Table, sub: str, database: str) -> list[str]:
    k = ChangeKind

    def alter(command: str) -> str:
        return _alter(database, t.name, command)

    col = t.column(sub)
    if change.kind is k.COLUMN_MISSING and col is not None:
        return [alter(add_column_command(t, col))]
    if change.kind is k.COLUMN_EXTRA:
        return [alter(f"DROP COLUMN {ident_sql(sub)}")]
    if change.kind is k.COLUMN_CHANGED and col is not None:
        return [alter(_modify_column(change, t, col))]
    if change.kind is k.TTL_CHANGED:
        if t.ttl:
            return [alter(f"MODIFY TTL {t.ttl} SETTINGS materialize_ttl_after_modify = 0")]
        return [alter("REMOVE TTL")]
    if change.kind is k.SETTING_CHANGED and change.attribute:
        if change.expected is None:
            return [alter(f"RESET SETTING {change.attribute}")]
        return [alter(f"MODIFY SETTING {change.attribute} = {change.expected}")]
    if change.kind is k.COMMENT_CHANGED:
        return [alter(f"MODIFY COMMENT {sql_string(t.comment)}")]
    if change.kind is k.KEY_CHANGED and change.attribute == "sample_key" and not t.sample_key:
        return [alter("REMOVE SAMPLE BY")]
    if change.kind is k.KEY_CHANGED and change.attribute == "order_key":
        return [alter(f"MODIFY ORDER BY {_key(t.order_key)}")]  # merged with ADD COLUMN by the renderer
    return _element_statements(change, t, sub, alter)


def _element_statements(change: Change, t: Table, sub: str, alter: Callable[[str], str]) -> list[str]:
    k = ChangeKind
    index = next((i for i in t.indices if i.name == sub), None)
    projection = next((p for p in t.projections if p.name == sub), None)
    constraint = next((c for c in t.constraints if c.name == sub), None)
    out: list[str] = []
    if change.kind in (k.INDEX_EXTRA, k.INDEX_CHANGED):
        out.append(alter(f"DROP INDEX {ident_sql(sub)}"))
    if change.kind in (k.INDEX_MISSING, k.INDEX_CHANGED) and index is not None:
        out.append(
            alter(
                f"ADD INDEX {ident_sql(sub)} {index.expr} TYPE {index.type} GRANULARITY {index.granularity}"
            )
        )
    if change.kind in (k.PROJECTION_EXTRA, k.PROJECTION_CHANGED):
        out.append(alter(f"DROP PROJECTION {ident_sql(sub)}"))
    if change.kind in (k.PROJECTION_MISSING, k.PROJECTION_CHANGED) and projection is not None:
        out.append(alter(f"ADD PROJECTION {ident_sql(sub)} ({projection.query})"))
    if change.kind in (k.CONSTRAINT_EXTRA, k.CONSTRAINT_CHANGED):
        out.append(alter(f"DROP CONSTRAINT {ident_sql(sub)}"))
    if change.kind in (k.CONSTRAINT_MISSING, k.CONSTRAINT_CHANGED) and constraint is not None:
        out.append(alter(f"ADD CONSTRAINT {ident_sql(sub)} {constraint.kind} {constraint.expr}"))
    return out


def _modify_column(change: Change, t: Table, c: Column) -> str:
    name = ident_sql(c.name)
    attr = change.attribute
    if attr == "comment":
        return f"COMMENT COLUMN {name} {sql_string(c.comment)}"
    if attr == "codec":
        return f"MODIFY COLUMN {name} {c.codec}" if c.codec else f"MODIFY COLUMN {name} REMOVE CODEC"
    if attr == "ttl" and not c.ttl:
        return f"MODIFY COLUMN {name} REMOVE TTL"
    if attr == "default":
        found_kind = (change.actual or "").split(" ", 1)[0]
        if not c.default_kind:
            return f"MODIFY COLUMN {name} REMOVE {found_kind or 'DEFAULT'}"
        if found_kind == c.default_kind:
            return f"MODIFY COLUMN {name} {c.default_kind} {c.default_expr}"
    if attr == "settings":
        return _column_settings(change, c)
    if attr == "position":
        names = [x.name for x in t.columns]
        i = names.index(c.name)
        where = "FIRST" if i == 0 else f"AFTER {ident_sql(names[i - 1])}"
        return f"MODIFY COLUMN {_full_column(c)} {where}"
    return f"MODIFY COLUMN {_full_column(c)}"


def _column_settings(change: Change, c: Column) -> str:
    name = ident_sql(c.name)
    wanted = dict(c.settings)
    found = dict(pair.split(" = ", 1) for pair in (change.actual or "").split(", ") if " = " in pair)
    commands = []
    if wanted:
        commands.append(
            f"MODIFY COLUMN {name} MODIFY SETTING " + ", ".join(f"{k} = {v}" for k, v in wanted.items())
        )
    gone = sorted(set(found) - set(wanted))
    if gone:
        commands.append(f"MODIFY COLUMN {name} RESET SETTING " + ", ".join(gone))
    return ", ".join(commands)


def _view_statements(change: Change, v: View, database: str) -> list[str]:
    k = ChangeKind
    name = qualified(database, v.name)
    if change.kind is k.VIEW_QUERY_CHANGED:
        if v.materialized:
            return [f"ALTER TABLE {name} MODIFY QUERY {v.query}"]
        return [create_view_sql(database, v, replace=True)]
    if change.kind is k.COMMENT_CHANGED:
        return [f"ALTER TABLE {name} MODIFY COMMENT {sql_string(v.comment)}"]
    if change.kind is k.VIEW_CHANGED and change.attribute == "security" and v.security:
        return [f"ALTER TABLE {name} MODIFY {v.security}"]
    if change.kind is k.VIEW_CHANGED and change.attribute == "refresh" and v.refresh:
        return [f"ALTER TABLE {name} MODIFY {v.refresh}"]
    if change.kind is k.VIEW_CHANGED and change.attribute == "columns" and not v.materialized:
        return [create_view_sql(database, v, replace=True)]
    if change.kind in (k.MV_TARGET_CHANGED, k.VIEW_CHANGED) and v.materialized and v.target:
        # An MV with TO keeps no data of its own: dropping and re-creating it loses nothing stored,
        # but rows inserted into the source in between are not rolled up.
        return [f"DROP VIEW {name}", create_view_sql(database, v)]
    return []
