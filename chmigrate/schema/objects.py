"""The schema model: plain frozen dataclasses with tuple fields, comparable and hashable.

A `Schema` is what `inspect()` reads from one database and what `diff()` compares.
Expressions are kept as text; `normalize.py` rewrites them into one canonical
spelling before two schemas are compared. Objects serialise to plain dicts
(and JSON) so a desired schema can be cached and passed between processes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

SCHEMA_FORMAT = 1

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    default_kind: str = ""  # DEFAULT | MATERIALIZED | ALIAS | EPHEMERAL | ""
    default_expr: str = ""
    codec: str = ""  # as system.columns shows it: "CODEC(ZSTD(1))"
    ttl: str = ""
    comment: str = ""
    settings: Pairs = ()  # per-column SETTINGS (...)


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    expr: str
    type: str  # with arguments: "bloom_filter(0.01)"
    granularity: int = 1


@dataclass(frozen=True, slots=True)
class Projection:
    name: str
    query: str


@dataclass(frozen=True, slots=True)
class Constraint:
    name: str
    kind: str  # CHECK | ASSUME
    expr: str


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    engine: str  # engine name: "ReplacingMergeTree"
    engine_args: str = ""  # text inside the engine's parentheses: "ver, is_deleted"
    partition_key: str = ""
    order_key: str = ""
    primary_key: str = ""  # "" when it equals the ORDER BY (after normalisation)
    sample_key: str = ""
    ttl: str = ""
    settings: Pairs = ()
    comment: str = ""
    columns: tuple[Column, ...] = ()
    indices: tuple[Index, ...] = ()
    projections: tuple[Projection, ...] = ()
    constraints: tuple[Constraint, ...] = ()

    @property
    def engine_full(self) -> str:
        return f"{self.engine}({self.engine_args})" if self.engine_args else self.engine

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True, slots=True)
class View:
    """A view, materialized view or dictionary.

    `kind` is "view", "materialized_view" or "dictionary". For a materialized view,
    `target` names the `TO` table (unqualified when in the schema's database);
    without `TO`, `inner_engine` holds its ENGINE clause. For a dictionary, `query`
    is its whole CREATE statement.
    """

    name: str
    kind: str
    query: str
    target: str = ""
    inner_engine: str = ""
    columns: tuple[Column, ...] = ()
    comment: str = ""
    security: str = ""  # "SQL SECURITY INVOKER", "DEFINER = x SQL SECURITY DEFINER", ...
    refresh: str = ""  # refreshable MV clause: "REFRESH EVERY 1 HOUR"

    @property
    def materialized(self) -> bool:
        return self.kind == "materialized_view"


@dataclass(frozen=True, slots=True)
class Schema:
    database: str
    tables: tuple[Table, ...] = ()
    views: tuple[View, ...] = ()
    engine_version: str = ""

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    def view(self, name: str) -> View | None:
        return next((v for v in self.views if v.name == name), None)

    def without(self, names: frozenset[str] | set[str]) -> Schema:
        return replace(
            self,
            tables=tuple(t for t in self.tables if t.name not in names),
            views=tuple(v for v in self.views if v.name not in names),
        )

    # -- serialisation ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": SCHEMA_FORMAT, **_to_plain(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        if data.get("format", SCHEMA_FORMAT) != SCHEMA_FORMAT:
            raise ValueError(f"unsupported schema format {data.get('format')!r}")
        return Schema(
            database=str(data["database"]),
            tables=tuple(_table(t) for t in data.get("tables", ())),
            views=tuple(_view(v) for v in data.get("views", ())),
            engine_version=str(data.get("engine_version", "")),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls.from_dict(json.loads(text))


def _to_plain(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return [_to_plain(x) for x in obj]
    return obj


def _pairs(items: Sequence[Sequence[str]]) -> Pairs:
    if not items:
        return ()
    return tuple((str(k), str(v)) for k, v in items)


# Explicit constructors (not dataclasses.replace/fields): a cached 1,000-table schema loads in tens of ms.
def _column(d: Mapping[str, Any]) -> Column:
    return Column(
        d["name"],
        d["type"],
        d.get("default_kind", ""),
        d.get("default_expr", ""),
        d.get("codec", ""),
        d.get("ttl", ""),
        d.get("comment", ""),
        _pairs(d.get("settings", ())),
    )


def _table(d: Mapping[str, Any]) -> Table:
    return Table(
        name=d["name"],
        engine=d["engine"],
        engine_args=d.get("engine_args", ""),
        partition_key=d.get("partition_key", ""),
        order_key=d.get("order_key", ""),
        primary_key=d.get("primary_key", ""),
        sample_key=d.get("sample_key", ""),
        ttl=d.get("ttl", ""),
        settings=_pairs(d.get("settings", ())),
        comment=d.get("comment", ""),
        columns=tuple(_column(c) for c in d.get("columns", ())),
        indices=tuple(
            Index(i["name"], i["expr"], i["type"], int(i.get("granularity", 1))) for i in d.get("indices", ())
        ),
        projections=tuple(Projection(p["name"], p["query"]) for p in d.get("projections", ())),
        constraints=tuple(Constraint(c["name"], c["kind"], c["expr"]) for c in d.get("constraints", ())),
    )


def _view(d: Mapping[str, Any]) -> View:
    return View(
        name=d["name"],
        kind=d["kind"],
        query=d.get("query", ""),
        target=d.get("target", ""),
        inner_engine=d.get("inner_engine", ""),
        columns=tuple(_column(c) for c in d.get("columns", ())),
        comment=d.get("comment", ""),
        security=d.get("security", ""),
        refresh=d.get("refresh", ""),
    )


__all__ = ["Column", "Constraint", "Index", "Projection", "Schema", "Table", "View"]
