"""Read every replica of a cluster at once: one `clusterAllReplicas` query per system table.

`clusterAllReplicas(cluster, system.tables)` makes each replica a shard of its own, numbered 1.. in the order
system.clusters lists the cluster's replicas (shard_num, then replica_num), and `_shard_num` says which one a
row comes from; so the rows split into one raw `Schema` per replica. The replicas are named from
system.clusters (their host names), which also lists a replica that holds nothing (it still has a schema:
an empty one). Queries: system.clusters, the capabilities, tables, columns, indices and (where every replica
has it) projections: six, whatever the number of replicas and tables.

A replica that cannot be read fails the inspection (skip_unavailable_shards = 0): a check that skipped it
would pass without having looked. The error names the replica.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from chmigrate.errors import ConfigError, DatabaseError
from chmigrate.results import Replica
from chmigrate.schema.inspect import (
    QueryRunner,
    assemble,
    columns_sql,
    indices_sql,
    projections_sql,
    sql_string,
    system_table,
    tables_sql,
)
from chmigrate.schema.objects import Schema, Table
from chmigrate.schema.tokens import STRING, join, split_top, tokenize

# Never skip a replica that does not answer (a server profile may say otherwise).
STRICT = {"skip_unavailable_shards": 0}


def cluster_replicas(ch: QueryRunner, cluster: str) -> tuple[Replica, ...]:
    """The replicas of `cluster` in system.clusters order; ConfigError when the server has no such cluster."""
    rows = ch.query("SELECT shard_num, replica_num, host_name, port FROM system.clusters WHERE cluster = "
                    "{c:String} ORDER BY shard_num, replica_num", {"c": cluster})
    if not rows:
        raise ConfigError("cluster", f"{cluster!r} is not a cluster of this server (system.clusters does not "
                          "list it)", hint="name a cluster of remote_servers in the server's configuration")
    hosts = Counter(str(r[2]) for r in rows)
    return tuple(Replica(label=str(r[2]) if hosts[str(r[2])] == 1 else f"{r[2]}:{r[3]}", host=str(r[2]),
                         port=int(r[3]), shard=int(r[0]), number=int(r[1])) for r in rows)


def read_replicas(ch: QueryRunner, cluster: str, replicas: Sequence[Replica], sql: str) -> list[list[Any]]:
    """The rows of a clusterAllReplicas query led by `_shard_num`, one list per replica (in order), the
    number dropped. A replica that does not answer raises a DatabaseError naming it."""
    try:
        rows = ch.query(sql, settings=STRICT)
    except DatabaseError as exc:
        raise unreadable(ch, cluster, replicas, exc) from None
    out: list[list[Any]] = [[] for _ in replicas]
    for r in rows:
        n = int(r[0])
        if not 1 <= n <= len(replicas):
            raise DatabaseError(f"cluster {cluster}: a row from replica number {n}, but system.clusters lists "
                                f"{len(replicas)} replica(s)")
        out[n - 1].append(tuple(r[1:]))
    return out


def unreadable(ch: QueryRunner, cluster: str, replicas: Sequence[Replica], exc: DatabaseError) -> DatabaseError:
    """The error for a failed clusterAllReplicas query: which replicas did not answer (asked once more with
    skip_unavailable_shards = 1), with the server's reason."""
    reason = exc.message.strip().splitlines()[0] if exc.message.strip() else "no answer"
    try:
        answered = {int(r[0]) for r in ch.query(
            f"SELECT DISTINCT _shard_num FROM {system_table('one', cluster)}",
            settings={"skip_unavailable_shards": 1})}
    except DatabaseError:
        answered = set(range(1, len(replicas) + 1))  # cannot tell which: the server's own words
    missing = [r for i, r in enumerate(replicas, 1) if i not in answered]
    if not missing:
        return DatabaseError(f"cluster {cluster}: reading the replicas failed: {reason}", code=exc.code)
    names = ", ".join(f"{r.label} ({r.host}:{r.port})" for r in missing)
    return DatabaseError(f"cluster {cluster}: replica {names} cannot be read: {reason}", code=exc.code,
                         hint="every replica is checked, none is skipped: bring it back, or take it out of the "
                         "cluster's remote_servers, and run again")


def _capabilities_sql(cluster: str) -> str:
    return (
        f"SELECT _shard_num, 'version', version() FROM {system_table('one', cluster)} UNION ALL "
        f"SELECT _shard_num, concat(table, '.', name), '' FROM {system_table('columns', cluster)} "
        "WHERE database = 'system' AND ((table = 'tables' AND name IN ('target_database', 'target_table')) "
        "OR (table = 'projections' AND name = 'query'))"
    )


def inspect_replicas(ch: QueryRunner, database: str, cluster: str, *, exclude: Iterable[str] = frozenset(),
                     replicas: Sequence[Replica] | None = None) -> tuple[tuple[Replica, Schema], ...]:
    """Each replica of `cluster` and its raw schema of `database` (an empty one where it has no such database)."""
    found = tuple(replicas) if replicas is not None else cluster_replicas(ch, cluster)
    caps = [{str(r[0]): str(r[1]) for r in rows}
            for rows in read_replicas(ch, cluster, found, _capabilities_sql(cluster))]
    has_targets = all("tables.target_table" in c for c in caps)  # what every replica's system tables have
    has_projections = all("projections.query" in c for c in caps)
    tables = read_replicas(ch, cluster, found, tables_sql(database, has_targets, cluster))
    columns = read_replicas(ch, cluster, found, columns_sql(database, cluster))
    indices = read_replicas(ch, cluster, found, indices_sql(database, cluster))
    projections = (read_replicas(ch, cluster, found, projections_sql(database, cluster)) if has_projections
                   else [None] * len(found))
    return tuple(
        (r, assemble(database, caps[i].get("version", ""), tables[i], columns[i], indices[i], projections[i],
                     exclude=exclude))
        for i, r in enumerate(found)
    )


def without_replica_names(schema: Schema) -> Schema:
    """`schema` with the replica-name argument of each Replicated* engine blanked: the one argument that
    rightly differs between replicas (when spelled out rather than `{replica}`). The Keeper path stays:
    replicas with different paths do not replicate each other."""

    def table(t: Table) -> Table:
        if not t.engine.startswith("Replicated"):
            return t
        args = split_top(tokenize(t.engine_args))
        if len(args) < 2 or not all(len(a) == 1 and a[0].kind == STRING for a in args[:2]):
            return t
        return replace(t, engine_args=", ".join([join(args[0]), "''"] + [join(a) for a in args[2:]]))

    return Schema(schema.database, tuple(table(t) for t in schema.tables), schema.views, schema.engine_version)


__all__ = ["STRICT", "cluster_replicas", "inspect_replicas", "read_replicas", "sql_string", "unreadable",
           "without_replica_names"]
