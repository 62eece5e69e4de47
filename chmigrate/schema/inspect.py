"""Read one database's schema from the system tables, in a fixed number of queries.

Four or five SELECTs, whatever the number of tables: capabilities and version,
`system.tables`, `system.columns`, `system.data_skipping_indices` and, where
the server has it (24.10 and later), `system.projections`. What no system table
shows on every version (column TTL and SETTINGS, constraints, an MV's `TO`
target on 24.8, projections on 24.8) is read from `create_table_query`.

The result is the raw inspection: expressions exactly as the engine printed
them. `normalize.py` turns two raw schemas into comparable ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from chmigrate.schema.createparse import ColumnExtras, CreateParts, parse_create, split_engine
from chmigrate.schema.inspect_cache import Kept, TableCache
from chmigrate.schema.objects import Column, Index, Projection, Schema, Table, View

VIEW_ENGINES = {
    "View": "view",
    "MaterializedView": "materialized_view",
    "LiveView": "view",
    "WindowView": "view",
    "Dictionary": "dictionary",
}


class QueryRunner(Protocol):
    """What inspect needs from a target: `chmigrate.targets.clickhouse.ClickHouse` fits."""

    def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]: ...


def sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_CAPABILITIES = """
SELECT 'version', version()
UNION ALL
SELECT 'server', concat(hostName(), '/', toString(serverUUID()))
UNION ALL
SELECT concat(table, '.', name), '' FROM system.columns
WHERE database = 'system' AND ((table = 'tables' AND name IN ('target_database', 'target_table'))
                               OR (table = 'projections' AND name = 'query'))
"""


def system_table(name: str, cluster: str | None = None) -> str:
    """`system.NAME`, or with a cluster `clusterAllReplicas('cluster', system.NAME)` led by `_shard_num`
    (there every replica is a shard of its own, numbered in system.clusters order: schema/replicas.py)."""
    return f"clusterAllReplicas({sql_string(cluster)}, system.{name})" if cluster else f"system.{name}"


def _lead(cluster: str | None) -> str:
    return "_shard_num, " if cluster else ""


_STAMPS = ", toString(uuid), toUnixTimestamp(metadata_modification_time), toUnixTimestamp(now())"


def tables_sql(database: str, targets: bool, cluster: str | None = None, *, stamps: bool = False) -> str:
    """With `stamps`, each row ends with the table's UUID, its metadata time and the server's time
    (inspect_cache.py)."""
    extra = ", target_database, target_table" if targets else ", '', ''"
    return (
        f"SELECT {_lead(cluster)}name, engine, engine_full, partition_key, sorting_key, primary_key, sampling_key, "
        f"comment, as_select, create_table_query{extra}{_STAMPS if stamps else ''} "
        f"FROM {system_table('tables', cluster)} "
        f"WHERE database = {sql_string(database)} AND NOT is_temporary ORDER BY name"
    )


def _light_tables_sql(database: str, targets: bool) -> str:
    """`tables_sql` with stamps but without the three costly texts (left empty)."""
    extra = ", target_database, target_table" if targets else ", '', ''"
    return (
        f"SELECT name, engine, '', partition_key, sorting_key, primary_key, sampling_key, comment, '', ''{extra}"
        f"{_STAMPS} FROM system.tables WHERE database = {sql_string(database)} AND NOT is_temporary ORDER BY name"
    )


_NAMED = 200  # more tables to read again than this: read the whole database's texts (the query stays small)


def _texts_sql(database: str, names: Sequence[str] | None) -> str:
    return (
        "SELECT name, engine_full, as_select, create_table_query FROM system.tables "
        f"WHERE database = {sql_string(database)} AND NOT is_temporary{_only(names, 'name')}"
    )


def _only(names: Sequence[str] | None, column: str = "table") -> str:
    """` AND table IN (...)`: the rows of these tables only (None: of every table)."""
    return "" if names is None else f" AND {column} IN ({', '.join(sql_string(n) for n in names)})"


def columns_sql(database: str, cluster: str | None = None, *, names: Sequence[str] | None = None) -> str:
    return (
        f"SELECT {_lead(cluster)}table, name, type, default_kind, default_expression, compression_codec, comment "
        f"FROM {system_table('columns', cluster)} WHERE database = {sql_string(database)}{_only(names)} "
        "ORDER BY table, position"
    )


def indices_sql(database: str, cluster: str | None = None, *, names: Sequence[str] | None = None) -> str:
    return (
        f"SELECT {_lead(cluster)}table, name, expr, type_full, toUInt64(granularity) "
        f"FROM {system_table('data_skipping_indices', cluster)} WHERE database = {sql_string(database)}"
        f"{_only(names)}"
    )


def projections_sql(database: str, cluster: str | None = None, *, names: Sequence[str] | None = None) -> str:
    return (f"SELECT {_lead(cluster)}table, name, query FROM {system_table('projections', cluster)} "
            f"WHERE database = {sql_string(database)}{_only(names)}")


Rows = Sequence[Sequence[Any]]


def is_inner_table(name: str) -> bool:
    """The storage table of a materialized view without TO (`.inner.mv` / `.inner_id.<uuid>`)."""
    return name.startswith(".inner.") or name.startswith(".inner_id.")


def inspect(ch: QueryRunner, database: str, *, exclude: Iterable[str] = frozenset(),
            cache: TableCache | None = None) -> Schema:
    """Read `database` into a raw `Schema`; tables and views named in `exclude` are left out. With `cache`,
    what tables unchanged since the last read hold is taken from it (inspect_cache.py)."""
    caps = {str(r[0]): str(r[1]) for r in ch.query(_CAPABILITIES)}
    has_targets = "tables.target_table" in caps
    has_projections = "projections.query" in caps
    version = caps.get("version", "")
    if cache is not None:  # kept per server (one URL may reach another server, through a port-forward)
        rows = _read_through(cache, ch, database, has_targets, has_projections, f"{version} {caps.get('server')}")
        return assemble(database, version, *rows, exclude=exclude)
    return assemble(
        database,
        version,
        ch.query(tables_sql(database, has_targets)),
        ch.query(columns_sql(database)),
        ch.query(indices_sql(database)),
        ch.query(projections_sql(database)) if has_projections else None,
        exclude=exclude,
    )


def _read_through(cache: TableCache, ch: QueryRunner, database: str, targets: bool, projections: bool,
                  version: str) -> tuple[Rows, Rows, Rows, Rows | None]:
    """The rows `inspect` reads, those of tables kept unchanged in `cache` taken from it. Every table's name,
    engine, keys and comment are read each time; a view's columns too (they may follow its source)."""
    kept = cache.load(version)
    changed: list[str] | None = None  # None: everything read
    again: set[str] = set()
    if not kept:  # nothing to reuse: the same queries as without a cache
        tables = ch.query(tables_sql(database, targets, stamps=True))
    else:
        light = ch.query(_light_tables_sql(database, targets))
        changed = [str(r[0]) for r in light if not _unchanged(kept.get(str(r[0])), r)]
        again = set(changed)
        fresh = ch.query(_texts_sql(database, _names(changed))) if changed else ()
        texts = {str(r[0]): kept[str(r[0])].texts for r in light if str(r[0]) not in again}
        texts |= {str(name): (str(e), str(a), str(c)) for name, e, a, c in fresh}
        # a table dropped between the two reads has no texts: it is gone
        tables = [(*r[:2], t[0], *r[3:8], t[1], t[2], *r[10:]) for r in light if (t := texts.get(str(r[0])))]
    views = [] if changed is None else [n for r in tables
                                        if str(r[1]) in VIEW_ENGINES and (n := str(r[0])) not in again]
    reread = None if changed is None else changed + views
    columns = list(ch.query(columns_sql(database, names=_names(reread)))) if reread != [] else []
    indices = list(ch.query(indices_sql(database, names=_names(changed)))) if changed != [] else []
    shown = (list(ch.query(projections_sql(database, names=_names(changed)))) if changed != [] else []) \
        if projections else None
    if changed is not None:  # the unchanged tables' rows, as kept
        done = set(reread or ())
        for r in tables:
            name = str(r[0])
            if name not in done and (k := kept.get(name)) is not None:
                columns.extend((name, *c) for c in k.columns)
                indices.extend((name, *i) for i in k.indices)
                if shown is not None:
                    shown.extend((name, *p) for p in k.projections)
    if tables and (changed is None or changed or len(tables) != len(kept)):  # else what is kept is current
        cache.save(version, int(tables[0][-1]), _kept(tables, columns, indices, shown or ()))
    return [r[:-3] for r in tables], columns, indices, shown


def _names(names: list[str] | None) -> list[str] | None:
    """More names than _NAMED: read the whole database instead (the query stays small)."""
    return None if names is None or len(names) > _NAMED else names


def _kept(tables: Rows, columns: Rows, indices: Rows, projections: Rows) -> dict[str, Kept]:
    parts: dict[str, tuple[list[Any], list[Any], list[Any]]] = defaultdict(lambda: ([], [], []))
    for i, rows in enumerate((columns, indices, projections)):
        for r in rows:
            parts[str(r[0])][i].append(tuple(r[1:]))
    return {str(r[0]): Kept(str(r[-3]), int(r[-2]), (str(r[2]), str(r[8]), str(r[9])),
                            *(tuple(p) for p in parts[str(r[0])])) for r in tables}


def _unchanged(kept: Kept | None, row: Sequence[Any]) -> bool:
    return kept is not None and kept.uuid == str(row[-3]) and kept.mtime == int(row[-2]) > 0


def assemble(database: str, version: str, table_rows: Rows, column_rows: Rows, index_rows: Rows,
             projection_rows: Rows | None, *, exclude: Iterable[str] = frozenset()) -> Schema:
    """A raw `Schema` from the rows of the system tables (`projection_rows` None: no system.projections)."""
    skip = frozenset(exclude)
    table_rows = [r for r in table_rows if str(r[0]) not in skip and not is_inner_table(str(r[0]))]
    columns: dict[str, list[Column]] = defaultdict(list)
    for r in column_rows:
        columns[str(r[0])].append(
            Column(
                name=str(r[1]),
                type=str(r[2]),
                default_kind=str(r[3]),
                default_expr=str(r[4]),
                codec=str(r[5]),
                comment=str(r[6]),
            )
        )
    indices: dict[str, list[Index]] = defaultdict(list)
    for r in index_rows:
        indices[str(r[0])].append(
            Index(name=str(r[1]), expr=str(r[2]), type=str(r[3]), granularity=int(r[4]))
        )
    projections: dict[str, list[Projection]] | None = None
    if projection_rows is not None:
        projections = defaultdict(list)
        for r in projection_rows:
            projections[str(r[0])].append(Projection(name=str(r[1]), query=str(r[2])))
    tables: list[Table] = []
    views: list[View] = []
    for row in table_rows:
        name, engine = str(row[0]), str(row[1])
        if engine in VIEW_ENGINES:
            views.append(_view(row, columns.get(name, [])))
        else:
            tables.append(
                _table(
                    row,
                    columns.get(name, []),
                    indices.get(name, []),
                    None if projections is None else projections.get(name, []),
                )
            )
    return Schema(database=database, tables=tuple(tables), views=tuple(views), engine_version=version)


def _merge_extras(columns: Sequence[Column], extras: Mapping[str, ColumnExtras]) -> tuple[Column, ...]:
    out: list[Column] = []
    for col in columns:
        extra = extras.get(col.name)
        if extra is not None:
            col = Column(
                col.name,
                col.type,
                col.default_kind,
                col.default_expr,
                col.codec,
                extra.ttl,
                col.comment,
                extra.settings,
            )
        out.append(col)
    return tuple(out)


def _needs_parse(create_text: str, projections_known: bool) -> bool:
    """Whether the column list may hold what only the CREATE text shows (a cheap test before tokenizing)."""
    head = create_text[: max(create_text.rfind(") ENGINE = "), 0)] or create_text
    words = (
        ("TTL", "SETTINGS (", "CONSTRAINT")
        if projections_known
        else ("TTL", "SETTINGS (", "CONSTRAINT", "PROJECTION")
    )
    return any(w in head for w in words)


def _table(
    row: Sequence[Any],
    columns: Sequence[Column],
    indices: Sequence[Index],
    projections: Sequence[Projection] | None,
) -> Table:
    name, engine, engine_full = str(row[0]), str(row[1]), str(row[2])
    create_text = str(row[9])
    create = (
        parse_create(create_text)
        if not engine_full or _needs_parse(create_text, projections is not None)
        else CreateParts()
    )
    parts = split_engine(engine_full or create.engine)
    return Table(
        name=name,
        engine=parts.name or engine,
        engine_args=parts.args,
        partition_key=str(row[3]),
        order_key=str(row[4]),
        primary_key=str(row[5]),
        sample_key=str(row[6]),
        ttl=parts.ttl,
        settings=parts.settings,
        comment=str(row[7]),
        columns=_merge_extras(columns, dict(create.columns)),
        indices=tuple(indices),
        projections=tuple(create.projections if projections is None else projections),
        constraints=create.constraints,
    )


def _view(row: Sequence[Any], columns: Sequence[Column]) -> View:
    name, engine = str(row[0]), str(row[1])
    kind = VIEW_ENGINES[engine]
    create_text = str(row[9])
    if kind == "dictionary":
        return View(name=name, kind=kind, query=create_text, comment=str(row[7]))
    create = parse_create(create_text)
    target = create.target
    if target and str(row[11]):  # 24.10+: the engine names the target; 24.8: parsed from the CREATE
        target = f"{row[10]}.{row[11]}" if str(row[10]) else str(row[11])
    return View(
        name=name,
        kind=kind,
        query=str(row[8]) or create.query,
        target=target,
        inner_engine="" if target or kind != "materialized_view" else create.engine,
        columns=_merge_extras(columns, dict(create.columns)),
        comment=str(row[7]) or create.comment,
        security=create.security,
        refresh=create.refresh,
    )
