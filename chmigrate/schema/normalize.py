"""Normalisation: make two raw schemas comparable, so formatting never shows up as drift.

Two steps, both applied to the desired and the actual schema alike:

1. `canonicalize(schema)` (pure): every expression gets the canonical spelling of
   `tokens.canonical` (comments and whitespace, the schema's own database
   qualifier, `INTERVAL 13 MONTH`, numeric literals), types get `Decimal64(6)` ->
   `Decimal(18, 6)`, implied settings (`index_granularity = 8192`) and a
   `PRIMARY KEY` equal to the `ORDER BY` are dropped.
2. `normalize_pair(desired, actual, engine)`: expressions that still differ at
   the same place in both schemas (same table, column, attribute) are
   re-formatted by the target engine, both sides in ONE query with
   `formatQuerySingleLineOrNull`, so the engine that will run the DDL decides
   what is the same expression (e.g. a 26.x scratch engine printing
   `(u64 * i32)` where 24.8 prints `u64 * i32`). Only differing pairs are sent,
   so an unchanged schema costs no query at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

from chmigrate.schema.inspect import QueryRunner, sql_string
from chmigrate.schema.objects import Column, Constraint, Index, Pairs, Projection, Schema, Table, View
from chmigrate.schema.tokens import canonical, canonical_tokens, join, strip_uuid_clauses

# Expression kinds: how the engine is asked to format them (wrapper) and how to unwrap the answer.
EXPR, TTL, QUERY, ENGINE, TEXT, CODEC = "expr", "ttl", "query", "engine", "text", "codec"

# Settings that ClickHouse adds to SHOW CREATE on its own.
IMPLIED_SETTINGS: Mapping[str, str] = {"index_granularity": "8192"}

_DECIMAL = re.compile(r"\bDecimal(32|64|128|256)\(\s*(\d+)\s*\)")
_DECIMAL_PRECISION = {"32": 9, "64": 18, "128": 38, "256": 76}

Fn = Callable[[str, str], str]


def normalize_type(text: str) -> str:
    """`Decimal64(6)` -> `Decimal(18, 6)`; whitespace as the engine prints types."""
    text = _DECIMAL.sub(lambda m: f"Decimal({_DECIMAL_PRECISION[m.group(1)]}, {m.group(2)})", text)
    text = re.sub(r"\s*,\s*", ", ", text.strip())
    return re.sub(r"\s*\(\s*", "(", re.sub(r"\s*\)", ")", text))


# -- walking every expression of a schema ----------------------------------------------------------------


def map_expressions(schema: Schema, fn: Fn) -> Schema:
    """Rebuild `schema` with `fn(kind, text)` applied to every expression field (empty ones skipped)."""

    def f(kind: str, text: str) -> str:
        return fn(kind, text) if text else text

    def column(c: Column) -> Column:
        return replace(c, default_expr=f(EXPR, c.default_expr), ttl=f(EXPR, c.ttl))

    def table(t: Table) -> Table:
        return replace(
            t,
            engine_args=f(ENGINE, t.engine_args),
            partition_key=f(EXPR, t.partition_key),
            order_key=f(EXPR, t.order_key),
            primary_key=f(EXPR, t.primary_key),
            sample_key=f(EXPR, t.sample_key),
            ttl=f(TTL, t.ttl),
            columns=tuple(column(c) for c in t.columns),
            indices=tuple(replace(i, expr=f(EXPR, i.expr), type=f(EXPR, i.type)) for i in t.indices),
            projections=tuple(replace(p, query=f(QUERY, p.query)) for p in t.projections),
            constraints=tuple(replace(c, expr=f(EXPR, c.expr)) for c in t.constraints),
        )

    def view(v: View) -> View:
        return replace(
            v,
            query=f(TEXT if v.kind == "dictionary" else QUERY, v.query),
            target=f(TEXT, v.target),
            inner_engine=f(TEXT, v.inner_engine),
            columns=tuple(column(c) for c in v.columns),
        )

    return replace(
        schema, tables=tuple(table(t) for t in schema.tables), views=tuple(view(v) for v in schema.views)
    )


def expression_slots(schema: Schema) -> dict[tuple[str, ...], tuple[str, str]]:
    """Every non-empty expression by its place: (object, ..., attribute) -> (kind, text)."""
    slots: dict[tuple[str, ...], tuple[str, str]] = {}

    def column(owner: str, c: Column) -> None:
        for attr, text in (("default_expr", c.default_expr), ("ttl", c.ttl)):
            if text:
                slots[(owner, "column", c.name, attr)] = (EXPR, text)

    for t in schema.tables:
        for attr, kind, text in (
            ("engine_args", ENGINE, t.engine_args),
            ("partition_key", EXPR, t.partition_key),
            ("order_key", EXPR, t.order_key),
            ("primary_key", EXPR, t.primary_key),
            ("sample_key", EXPR, t.sample_key),
            ("ttl", TTL, t.ttl),
        ):
            if text:
                slots[(t.name, attr)] = (kind, text)
        for c in t.columns:
            column(t.name, c)
        for i in t.indices:
            slots[(t.name, "index", i.name, "expr")] = (EXPR, i.expr)
            slots[(t.name, "index", i.name, "type")] = (EXPR, i.type)
        for p in t.projections:
            slots[(t.name, "projection", p.name)] = (QUERY, p.query)
        for k in t.constraints:
            slots[(t.name, "constraint", k.name)] = (EXPR, k.expr)
    for v in schema.views:
        if v.query and v.kind != "dictionary":
            slots[(v.name, "query")] = (QUERY, v.query)
        for c in v.columns:
            column(v.name, c)
    return slots


# -- step 1: pure canonical form ----------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def canonical_expression(kind: str, text: str, database: str) -> str:
    """Memoised pure canonical spelling of one expression of `kind` (schemas repeat expressions a lot)."""
    if not text:
        return text
    if kind == TEXT:  # dictionaries' CREATE text, MV targets and inner engines
        return join(strip_uuid_clauses(canonical_tokens(text, database)))
    return canonical(text, database, unwrap=kind in (EXPR, TTL, ENGINE))


_type = lru_cache(maxsize=1 << 14)(normalize_type)


def _settings(settings: Pairs, database: str) -> Pairs:
    out = [(k, canonical_expression(CODEC, v, database)) for k, v in settings]
    return tuple((k, v) for k, v in out if IMPLIED_SETTINGS.get(k) != v)


def _column(c: Column, db: str) -> Column:
    return Column(
        name=c.name,
        type=_type(c.type),
        default_kind=c.default_kind.upper(),
        default_expr=canonical_expression(EXPR, c.default_expr, db),
        codec=canonical_expression(CODEC, c.codec, db),
        ttl=canonical_expression(EXPR, c.ttl, db),
        comment=c.comment,
        settings=_settings(c.settings, db) if c.settings else (),
    )


def _table(t: Table, db: str) -> Table:
    def f(kind: str, text: str) -> str:
        return canonical_expression(kind, text, db)

    order = f(EXPR, t.order_key)
    primary = f(EXPR, t.primary_key)
    return Table(
        name=t.name,
        engine=t.engine,
        engine_args=f(ENGINE, t.engine_args),
        partition_key=f(EXPR, t.partition_key),
        order_key=order,
        primary_key="" if primary == order else primary,
        sample_key=f(EXPR, t.sample_key),
        ttl=f(TTL, t.ttl),
        settings=_settings(t.settings, db),
        comment=t.comment,
        columns=tuple(_column(c, db) for c in t.columns),
        indices=tuple(
            sorted(
                (Index(i.name, f(EXPR, i.expr), f(EXPR, i.type), i.granularity) for i in t.indices),
                key=lambda i: i.name,
            )
        ),
        projections=tuple(
            sorted((Projection(p.name, f(QUERY, p.query)) for p in t.projections), key=lambda p: p.name)
        ),
        constraints=tuple(
            sorted(
                (Constraint(c.name, c.kind.upper(), f(EXPR, c.expr)) for c in t.constraints),
                key=lambda c: c.name,
            )
        ),
    )


def _view(v: View, db: str) -> View:
    def f(kind: str, text: str) -> str:
        return canonical_expression(kind, text, db)

    return View(
        name=v.name,
        kind=v.kind,
        query=f(TEXT if v.kind == "dictionary" else QUERY, v.query),
        target=f(TEXT, v.target),
        inner_engine=f(TEXT, v.inner_engine),
        columns=tuple(_column(c, db) for c in v.columns),
        comment=v.comment,
        security=f(CODEC, v.security),
        refresh=f(CODEC, v.refresh),
    )


def canonicalize(schema: Schema) -> Schema:
    """The pure canonical form of a raw inspection (idempotent)."""
    db = schema.database
    return Schema(
        database=db,
        tables=tuple(sorted((_table(t, db) for t in schema.tables), key=lambda t: t.name)),
        views=tuple(sorted((_view(v, db) for v in schema.views), key=lambda v: v.name)),
        engine_version=schema.engine_version,
    )


# -- step 2: the engine decides what still differs ----------------------------------------------------

_WRAP: Mapping[str, tuple[str, str]] = {
    EXPR: ("SELECT ", ""),
    ENGINE: ("SELECT ", ""),
    TTL: ("ALTER TABLE _ MODIFY TTL ", ""),
    QUERY: ("", ""),
}


def _wrap(kind: str, text: str) -> str:
    prefix, suffix = _WRAP[kind]
    return prefix + text + suffix


def _unwrap(kind: str, formatted: str) -> str | None:
    if kind == TTL:
        marker = formatted.find("MODIFY TTL")
        if marker < 0:
            return None
        body = formatted[marker + len("MODIFY TTL") :].strip()
        return body[:-1] if body.endswith(")") else body
    prefix, _ = _WRAP[kind]
    if not formatted.startswith(prefix):
        return None
    return formatted[len(prefix) :]


def differing_expressions(desired: Schema, actual: Schema) -> list[tuple[str, str]]:
    """(kind, text) of both sides of every expression that differs at the same place."""
    left, right = expression_slots(desired), expression_slots(actual)
    wanted: dict[tuple[str, str], None] = {}
    for place, (kind, text) in left.items():
        other = right.get(place)
        if other is not None and other[1] != text and kind in _WRAP:
            wanted[(kind, text)] = None
            wanted[(kind, other[1])] = None
    return list(wanted)


def format_on_engine(engine: QueryRunner, items: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Format many expressions in one query; an expression the engine cannot parse is left out."""
    items = list(items)
    if not items:
        return {}
    literals = ", ".join(sql_string(_wrap(kind, text)) for kind, text in items)
    sql = f"SELECT arrayMap(x -> formatQuerySingleLineOrNull(x), [{literals}])"
    settings: dict[str, Any] | None = None
    if len(sql) > 200_000:
        settings = {"max_query_size": len(sql) + 65_536}
    rows = engine.query(sql, settings=settings)
    results = list(rows[0][0]) if rows else []
    out: dict[tuple[str, str], str] = {}
    for (kind, text), formatted in zip(items, results):
        if formatted is None:
            continue
        body = _unwrap(kind, str(formatted))
        if body is not None:
            out[(kind, text)] = body
    return out


def normalize_pair(
    desired: Schema, actual: Schema, engine: QueryRunner | None = None, *, desired_is_canonical: bool = False
) -> tuple[Schema, Schema]:
    """Both schemas in canonical form; differing expressions formatted by `engine` (one query at most).

    `desired_is_canonical` skips step 1 for a desired schema that is already `canonicalize`d (the
    desired-schema cache stores that form next to the raw inspection; step 1 is pure).
    """
    d = desired if desired_is_canonical else canonicalize(desired)
    a = canonicalize(actual)
    if engine is None:
        return d, a
    formatted = format_on_engine(engine, differing_expressions(d, a))
    if not formatted:
        return d, a

    def redo(schema: Schema) -> Fn:
        def fn(kind: str, text: str) -> str:
            body = formatted.get((kind, text))
            return text if body is None else canonical_expression(kind, body, schema.database)

        return fn

    return canonicalize(map_expressions(d, redo(d))), canonicalize(map_expressions(a, redo(a)))


def normalize_many(
    desired: Schema, actuals: Sequence[Schema], engine: QueryRunner, *, desired_is_canonical: bool = False
) -> tuple[Schema, tuple[Schema, ...]]:
    """`normalize_pair` of `desired` with each of `actuals` (the replicas of a cluster), formatting what
    differs in any of them in one query. Each actual comes out as `normalize_pair` would give it, and the
    desired schema is redone with every formatted expression (a text formats the same whichever pair asked)."""
    d = desired if desired_is_canonical else canonicalize(desired)
    canon = [canonicalize(a) for a in actuals]
    wanted: dict[tuple[str, str], None] = {}
    for a in canon:
        wanted.update(dict.fromkeys(differing_expressions(d, a)))
    formatted = format_on_engine(engine, list(wanted))
    if not formatted:
        return d, tuple(canon)

    def redo(schema: Schema) -> Fn:
        def fn(kind: str, text: str) -> str:
            body = formatted.get((kind, text))
            return text if body is None else canonical_expression(kind, body, schema.database)

        return fn

    return canonicalize(map_expressions(d, redo(d))), tuple(canonicalize(map_expressions(a, redo(a))) for a in canon)


__all__ = [
    "canonicalize",
    "differing_expressions",
    "expression_slots",
    "format_on_engine",
    "map_expressions",
    "normalize_many",
    "normalize_pair",
    "normalize_type",
]
