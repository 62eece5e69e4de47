"""The lint rules: a stable code, a default severity, a one-line summary and a short doc each.

Codes never change meaning; a rule that is removed leaves its code unused. `[tool.chmigrate.lint]` may
change a rule's severity or disable it (see chmigrate.lint.config).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "notice"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "notice")


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    summary: str
    doc: str


_RULES = (
    # lint itself
    Rule("CH001", "warning", "lint-ignore without a reason",
         "Write `-- chmigrate:lint-ignore CODE reason`: the reason tells the next reviewer why the finding is "
         "accepted."),
    Rule("CH002", "error", "statement fails on the scratch engine",
         "Replaying the migrations into an empty scratch engine (as `diff` does) failed at this statement; the "
         "schema rules after it are skipped."),
    Rule("CH003", "warning", "lint-ignore names an unknown code",
         "The code in a `chmigrate:lint-ignore` comment is not a lint rule (see `chmigrate lint --explain`)."),
    # destructive
    Rule("CH101", "error", "drops an object",
         "DROP TABLE/VIEW/DICTIONARY/DATABASE deletes the object and, for tables and materialized views, "
         "their data. Intended drops are accepted with a lint-ignore and its reason."),
    Rule("CH102", "error", "drops a column",
         "ALTER TABLE ... DROP COLUMN deletes the column's values in every part (a mutation); readers and "
         "views that select it fail."),
    Rule("CH103", "error", "truncates a table", "TRUNCATE deletes every row."),
    Rule("CH104", "warning", "detaches permanently",
         "DETACH ... PERMANENTLY keeps the data but the object does not come back at restart; ATTACH it by "
         "hand."),
    Rule("CH105", "error", "drops a partition or part",
         "ALTER TABLE ... DROP PARTITION/PART deletes the rows of that partition or part."),
    Rule("CH106", "error", "shortens a TTL",
         "A MODIFY TTL that keeps rows for less time than the table's current TTL deletes the older rows at "
         "the next merge (or at once when the TTL is materialized)."),
    Rule("CH107", "warning", "MODIFY TTL materializes on existing data",
         "MODIFY TTL rewrites every part to apply the TTL unless sent with SETTINGS "
         "materialize_ttl_after_modify = 0; on a table with data that is a mutation of the whole table."),
    # heavy mutations
    Rule("CH201", "warning", "mutation: ALTER ... UPDATE/DELETE",
         "ALTER TABLE ... UPDATE/DELETE rewrites every part holding matching rows; unfinished mutations pile "
         "up and can block inserts (Too many unfinished mutations)."),
    Rule("CH202", "warning", "MODIFY COLUMN changes the stored type",
         "Changing a column's type rewrites the column in every part. Wrapping it in Nullable, or changing a "
         "comment, default or codec only, does not."),
    Rule("CH203", "warning", "mutation: MATERIALIZE or CLEAR",
         "MATERIALIZE COLUMN/INDEX/PROJECTION/TTL and CLEAR COLUMN/INDEX rewrite parts of the whole table."),
    Rule("CH204", "warning", "several mutations on one table in one migration",
         "Each ALTER that mutates is a pass over every part; merge them into one ALTER with its commands "
         "separated by commas."),
    # rebuilds
    Rule("CH301", "error", "ORDER BY change that is not an extension",
         "MODIFY ORDER BY may only append columns added in the same ALTER; anything else needs a new table "
         "and a copy of the data."),
    Rule("CH302", "error", "recreates a table with another engine, PARTITION BY, ORDER BY or PRIMARY KEY",
         "A table dropped and created again under its name with another engine or key loses its data unless "
         "it is copied: create the new table, copy, then EXCHANGE TABLES."),
    # materialized views
    Rule("CH401", "error", "materialized view with POPULATE",
         "POPULATE fills the view from the source while inserts continue: rows inserted meanwhile are lost or "
         "counted twice. Create the view, then backfill with INSERT ... SELECT."),
    Rule("CH402", "error", "materialized view output does not fit its target",
         "An output column whose name is not a column of the TO table is dropped on insert (the target column "
         "keeps its default), and one whose type differs beyond a lossless conversion (LowCardinality, "
         "Nullable, SimpleAggregateFunction) converts or fails; the rule of `chmigrate verify`."),
    Rule("CH403", "warning", "materialized view without TO",
         "Without TO the view keeps its rows in an implicit inner table (.inner_id.<uuid>) that is hard to "
         "alter, back up or rebuild; write TO an explicit table."),
    Rule("CH404", "error", "TO target does not exist yet",
         "The view's TO table is neither in the schema the earlier migrations produce nor created earlier in "
         "this file."),
    # server version
    Rule("CH501", "error", "construct the target server version rejects",
         "The construct appeared after the target version (`--server-version`, `server_version` in "
         "[tool.chmigrate.lint], or the server's own); see the version table in the README."),
    Rule("CH502", "error", "setting unknown to the target server version",
         "The setting does not exist in the target version (code 115, UNKNOWN_SETTING)."),
    # cluster
    Rule("CH601", "warning", "file mixes ON CLUSTER and plain DDL",
         "Some statements run on every node and others on the one node chmigrate talks to: the cluster "
         "diverges."),
    Rule("CH602", "error", "ON CLUSTER in a Replicated database",
         "A Replicated database replicates its DDL itself; ON CLUSTER there is refused or runs twice."),
    Rule("CH603", "warning", "ZooKeeper path without {shard} or {uuid}",
         "An explicit Replicated*MergeTree path without the {shard} (or {uuid}) macro makes every shard share "
         "one replica set."),
    Rule("CH604", "warning", "Replicated engine without ON CLUSTER",
         "A cluster is configured, but this file creates a Replicated* table on one node only."),
    # sessions and resumability
    Rule("CH701", "error", "standalone SET or USE",
         "Each statement is its own request: over HTTP a SET or USE does nothing for the next statement. Use a "
         "`-- chmigrate:settings` header and db.table names."),
    Rule("CH702", "notice", "statement that is not harmless to repeat beside others",
         "An interruption after it and before the file's end needs a person to decide (plain CREATE TABLE, "
         "INSERT); prefer CREATE ... IF NOT EXISTS or a file of its own."),
    # hygiene
    Rule("CH801", "warning", "Nullable column in the sorting key",
         "A Nullable key column needs allow_nullable_key and slows every merge and lookup; use a default "
         "value instead of NULL."),
    Rule("CH802", "notice", "MergeTree table with ORDER BY tuple()",
         "Without a sorting key the primary index cannot skip anything: every query reads the whole table."),
    Rule("CH803", "warning", "LowCardinality over a numeric type",
         "LowCardinality helps strings; over a number it is larger and slower than the plain type."),
    Rule("CH804", "notice", "no down part", "The file has no `-- chmigrate:down` part: `chmigrate down` refuses it."),
    # history
    Rule("CH901", "error", "applied migration edited",
         "The file of an applied version changed: `up` and `verify` refuse it. Write a new migration instead."),
    Rule("CH902", "error", "version below the newest applied one",
         "A new file numbered below an applied (or, with --since, an existing) version: `up` refuses it. "
         "Renumber it after the newest."),
)

RULES: dict[str, Rule] = {r.code: r for r in _RULES}


def rule(code: str) -> Rule:
    return RULES[code]
