"""The rules, applied to one migration file in the context of the schema before and after it.

`analyze` is pure: it takes the file's statements (already tokenised, chmigrate.lint.statements) and the
replayed schemas (None when there are none) and returns findings with their rule's default severity.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from chmigrate.lint import versions
from chmigrate.lint.rules import rule
from chmigrate.lint.statements import (
    Alter,
    ColumnDef,
    Stmt,
    TableDef,
    alter_table,
    at_word,
    column_def,
    create_table,
    find_seq,
    index_def,
    key_elements,
    on_cluster,
    setting_names,
    skip_if,
    string_value,
)
from chmigrate.migrations.rerun import is_rerunnable
from chmigrate.operations.destruction import ttl_seconds
from chmigrate.operations.mvcheck import fits
from chmigrate.results import LintFinding
from chmigrate.schema.objects import Schema, Table
from chmigrate.schema.tokens import IDENT, QIDENT, STRING, SYMBOL, Token, join, name_at, split_top

_DDL = ("CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "EXCHANGE", "ATTACH", "DETACH")
_NUMERIC = ("Int", "UInt", "Float", "Decimal", "BFloat16", "Date", "DateTime", "Bool")


@dataclass(frozen=True)
class FileContext:
    path: str
    statements: tuple[Stmt, ...]
    database: str
    has_down: bool = True
    header_settings: tuple[tuple[str, str], ...] = ()
    header_line: int = 1
    before: Schema | None = None  # the schema the earlier migrations produce
    after: Schema | None = None  # the schema after this file
    target: versions.Version | None = None  # the server version the version rules check against
    cluster: bool = False  # a cluster is configured
    replicated_databases: frozenset[str] = frozenset()
    # live sizes of the target database's tables when a server is configured: name -> (rows, bytes, parts)
    sizes: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)
    live: bool = False  # sizes were read from a server (a table missing from them holds no rows)
    known_settings: frozenset[str] | None = None  # the live server's setting names (when it is the target)


@dataclass
class _State:
    """What the file did so far, statement by statement."""

    created: set[tuple[str, str]] = field(default_factory=set)
    dropped: set[tuple[str, str]] = field(default_factory=set)
    mutated: dict[tuple[str, str], int] = field(default_factory=dict)  # table -> ALTERs that mutate it


def analyze(ctx: FileContext) -> list[LintFinding]:
    out: list[LintFinding] = []
    state = _State()

    def emit(code: str, line: int, obj: str, message: str) -> None:
        out.append(LintFinding(code, rule(code).severity, ctx.path, line, obj, message + _size_note(ctx, code, obj)))

    for st in ctx.statements:
        if not st.tokens:
            continue
        for code, line, obj, message in _statement(ctx, st, state):
            emit(code, line, obj, message)
    _file_rules(ctx, emit)
    return out


Hit = tuple[str, int, str, str]
_REWRITES = frozenset({"CH102", "CH107", "CH201", "CH202", "CH203", "CH204"})
_DESTROYS = frozenset({"CH101", "CH103", "CH105", "CH106"})


def _size_note(ctx: FileContext, code: str, obj: str) -> str:
    """What the live table holds, for the rules about rewriting or destroying it (a server is configured)."""
    parts = obj.split(".")
    if len(parts) < 2 or parts[0] != ctx.database or parts[1] not in ctx.sizes:
        return ""
    from chmigrate.operations.destruction import human_bytes

    rows, size, count = ctx.sizes[parts[1]]
    if code in _REWRITES:
        return f" (rewrites {human_bytes(size)} in {count:,} part{'s' if count != 1 else ''} of {parts[0]}.{parts[1]})"
    if code in _DESTROYS:
        return f" ({parts[0]}.{parts[1]} holds {rows:,} rows, {human_bytes(size)})"
    return ""


def _q(db: str, name: str) -> str:
    return f"{db}.{name}"


def _table(schema: Schema | None, db: str, name: str, ctx: FileContext) -> Table | None:
    if schema is None or db != ctx.database:
        return None
    return schema.table(name)


def _statement(ctx: FileContext, st: Stmt, state: _State) -> Iterator[Hit]:
    t = st.tokens
    verb = st.verb
    if verb in ("SET", "USE"):
        yield "CH701", st.line, "", f"standalone {verb}: each statement is sent on its own, so it does nothing " \
            "for the next one"
        return
    if verb == "DROP" and len(t) > 1:
        yield from _drop(ctx, st, state)
    elif verb == "TRUNCATE":
        i = 2 if len(t) > 1 and t[1].is_word("TABLE") else 1
        found = name_at(t, skip_if(t, i), ctx.database)
        obj = _q(found[0], found[1]) if found else ""
        yield "CH103", st.line, obj, f"TRUNCATE deletes every row of {obj}"
    elif verb == "DETACH" and find_seq(t, "PERMANENTLY") >= 0:
        found = name_at(t, skip_if(t, 2), ctx.database)
        obj = _q(found[0], found[1]) if found else ""
        yield "CH104", st.line, obj, f"DETACH ... PERMANENTLY: {obj} will not come back at restart"
    table = create_table(st, ctx.database)
    if table is not None:
        yield from _create_table(ctx, st, table, state)
    elif verb == "CREATE" and find_seq(t, "MATERIALIZED", "VIEW") >= 0 and find_seq(t, "MATERIALIZED", "VIEW") < 6:
        yield from _materialized_view(ctx, st, state)
    alter = alter_table(st, ctx.database)
    if alter is not None:
        yield from _alter(ctx, st, alter, state)
    yield from _settings(ctx, st)
    yield from _cluster(ctx, st)


def _drop(ctx: FileContext, st: Stmt, state: _State) -> Iterator[Hit]:
    t = st.tokens
    i = 1
    if t[i].is_word("TEMPORARY"):
        return
    kind = t[i].upper
    if kind not in ("TABLE", "VIEW", "DICTIONARY", "DATABASE"):
        return
    if kind == "DATABASE":
        j = skip_if(t, i + 1)
        name = t[j].name if j < len(t) else ""
        yield "CH101", st.line, name, f"DROP DATABASE deletes {name} and every table in it"
        return
    found = name_at(t, skip_if(t, i + 1), ctx.database)
    if found is None:
        return
    db, name, _ = found
    state.dropped.add((db, name))
    if ctx.before is not None and db == ctx.database and (db, name) not in state.created:
        if ctx.before.table(name) is None and ctx.before.view(name) is None:
            return  # it does not exist (DROP ... IF EXISTS of something already gone): nothing is lost
        old = ctx.before.view(name)
        if kind == "VIEW" and old is not None and not old.materialized:
            return  # a plain view holds no data
    what = {"TABLE": "the table and its data", "VIEW": "the view (a materialized view: its inner table's data)",
            "DICTIONARY": "the dictionary"}[kind]
    yield "CH101", st.line, _q(db, name), f"DROP {kind} {_q(db, name)} deletes {what}"


# -- CREATE TABLE ---------------------------------------------------------------------------------------


def _create_table(ctx: FileContext, st: Stmt, table: TableDef, state: _State) -> Iterator[Hit]:
    key = (table.database, table.name)
    obj = _q(*key)
    types = {c.name: c.type for c in table.columns}
    for col in table.columns:
        yield from _column_rules(ctx, st, obj, col, types)
    for idx in table.indices:
        yield from _index_rule(ctx, st, obj, idx.type, idx.at)
    order = table.clauses.get("ORDER")
    if order is not None and table.engine.endswith("MergeTree"):
        elements = key_elements(order[1])
        if not elements:
            yield "CH802", st.line_at(order[0]), obj, f"{obj} has ORDER BY tuple(): queries cannot skip any " \
                "granule"
    for word in ("ORDER", "PRIMARY"):
        clause = table.clauses.get(word)
        if clause is not None:
            yield from _nullable_key(st, obj, clause, types)
    ttl = table.clauses.get("TTL")
    if ttl is not None:
        yield from _ttl_version(ctx, st, obj, ttl[0], ttl[1], types)
    settings = table.clauses.get("SETTINGS")
    if settings is not None and table.engine.endswith("MergeTree"):  # other engines' settings are their own
        yield from _setting_hits(ctx, st, settings[1], settings[0] + 1)
    yield from _replicated_path(st, obj, table)
    if ctx.cluster and table.engine.startswith("Replicated") and on_cluster(st.tokens) < 0:
        yield "CH604", st.line, obj, f"{obj} uses {table.engine} but is created without ON CLUSTER (a cluster " \
            "is configured)"
    old = _table(ctx.before, table.database, table.name, ctx)
    if old is not None and key in state.dropped:
        changed = _rebuild_changes(old, table)
        if changed:
            yield "CH302", st.line, obj, f"{obj} is dropped and created again with another {', '.join(changed)}: " \
                "its data is lost unless copied (create a new table, copy, EXCHANGE TABLES)"
    state.created.add(key)


def _rebuild_changes(old: Table, new: TableDef) -> list[str]:
    from chmigrate.schema.tokens import canonical

    changed: list[str] = []
    if new.engine and new.engine != old.engine:
        changed.append("engine")
    for word, current, what in (("PARTITION", old.partition_key, "PARTITION BY"), ("ORDER", old.order_key, "ORDER BY")):
        clause = new.clauses.get(word)
        written = key_elements(clause[1]) if clause else []
        if [canonical(e, unwrap=True) for e in written] != [canonical(e, unwrap=True) for e in
                                                            key_elements(_tokens(current))]:
            changed.append(what)
    primary = new.clauses.get("PRIMARY") or new.clauses.get("ORDER")
    written_primary = [canonical(e, unwrap=True) for e in key_elements(primary[1])] if primary else []
    old_primary = [canonical(e, unwrap=True) for e in key_elements(_tokens(old.primary_key or old.order_key))]
    if written_primary != old_primary and "ORDER BY" not in changed:
        changed.append("PRIMARY KEY")
    return changed


def _tokens(text: str) -> list[Token]:
    from chmigrate.schema.tokens import tokenize

    return tokenize(text)


def _column_rules(ctx: FileContext, st: Stmt, obj: str, col: ColumnDef, types: dict[str, str]) -> Iterator[Hit]:
    line = st.line_at(col.at)
    yield from _type_version(ctx, line, f"{obj}.{col.name}", col.type_tokens)
    if _low_cardinality_numeric(col.type_tokens):
        yield "CH803", line, f"{obj}.{col.name}", f"{obj}.{col.name} is {col.type}: LowCardinality over a " \
            "number is larger and slower than the plain type"
    if col.ttl:
        yield from _ttl_version(ctx, st, f"{obj}.{col.name}", col.at, col.ttl, types)
    if col.settings:
        yield from _setting_hits(ctx, st, col.settings, col.at)


def _low_cardinality_numeric(tokens: Sequence[Token]) -> bool:
    for i, tok in enumerate(tokens):
        if tok.kind == IDENT and tok.text == "LowCardinality" and i + 2 < len(tokens):
            inner = tokens[i + 2]
            if inner.text == "Nullable" and i + 4 < len(tokens):
                inner = tokens[i + 4]
            if inner.kind == IDENT and any(inner.text.startswith(p) for p in _NUMERIC):
                return True
    return False


def _type_version(ctx: FileContext, line: int, obj: str, type_tokens: Sequence[Token]) -> Iterator[Hit]:
    if ctx.target is None:
        return
    for tok in type_tokens:
        feature = versions.TYPE_FEATURES.get(tok.upper) if tok.kind == IDENT else None
        if feature and versions.rejects(feature, ctx.target):
            f = versions.FEATURES[feature]
            yield "CH501", line, obj, f"{obj}: {f.what} needs ClickHouse {versions.label(f.since)}; the target is " \
                f"{versions.label(ctx.target)}"
            return


def _index_rule(ctx: FileContext, st: Stmt, obj: str, kind: str, at: int) -> Iterator[Hit]:
    feature = versions.INDEX_FEATURES.get(kind)
    if ctx.target is not None and feature and versions.rejects(feature, ctx.target):
        f = versions.FEATURES[feature]
        yield "CH501", st.line_at(at), obj, f"{obj}: {f.what} needs ClickHouse {versions.label(f.since)}; the " \
            f"target is {versions.label(ctx.target)}"


def _nullable_key(st: Stmt, obj: str, clause: tuple[int, tuple[Token, ...]], types: dict[str, str]) -> Iterator[Hit]:
    for element in key_elements(clause[1]):
        typ = types.get(element.strip("`"))
        if typ and (typ.startswith("Nullable(") or typ.startswith("LowCardinality(Nullable(")):
            yield "CH801", st.line_at(clause[0]), f"{obj}.{element}", f"{obj}: key column {element} is {typ} " \
                "(needs allow_nullable_key, slows every merge)"


def _ttl_version(ctx: FileContext, st: Stmt, obj: str, at: int, ttl: Sequence[Token],
                 types: dict[str, str]) -> Iterator[Hit]:
    """A TTL rule whose expression is a bare DateTime64 column (plus or minus an interval)."""
    if ctx.target is None or not versions.rejects("ttl_datetime64", ctx.target):
        return
    for part in split_top(ttl):
        head = part[0]
        if head.kind not in (IDENT, QIDENT):
            continue
        bare = len(part) == 1 or (part[1].kind == SYMBOL and part[1].text in ("+", "-")) or part[1].is_word(
            "DELETE", "TO", "WHERE", "GROUP", "RECOMPRESS")
        typ = types.get(head.name, "")
        if bare and (typ.startswith("DateTime64") or typ.startswith("Nullable(DateTime64")):
            f = versions.FEATURES["ttl_datetime64"]
            yield "CH501", st.line_at(at), obj, f"{obj}: TTL on {head.name} ({typ}): {f.what} needs ClickHouse " \
                f"{versions.label(f.since)}; the target is {versions.label(ctx.target)} (code 450)"
            return


def _replicated_path(st: Stmt, obj: str, table: TableDef) -> Iterator[Hit]:
    if not table.engine.startswith("Replicated") or not table.engine_args:
        return
    first = table.engine_args[0]
    if first.kind == STRING:
        path = string_value(first)
        if "{shard}" not in path and "{uuid}" not in path:
            yield "CH603", st.line_at(table.engine_at), obj, f"{obj}: ZooKeeper path {first.text} has no " \
                "{shard} or {uuid}: every shard shares one replica set"


# -- materialized views ------------------------------------------------------------------------------------


def _materialized_view(ctx: FileContext, st: Stmt, state: _State) -> Iterator[Hit]:
    t = st.tokens
    i = find_seq(t, "MATERIALIZED", "VIEW") + 2
    found = name_at(t, skip_if(t, i), ctx.database)
    if found is None:
        return
    db, name, i = found
    obj = _q(db, name)
    as_at = find_seq(t, "AS", start=i)
    head = t[:as_at] if as_at >= 0 else t
    populate = find_seq(head, "POPULATE")
    if populate >= 0:
        yield "CH401", st.line_at(populate), obj, f"{obj} uses POPULATE: rows inserted while it fills are lost " \
            "or counted twice; create it, then backfill with INSERT ... SELECT"
    to = find_seq(head, "TO", start=i)
    state.created.add((db, name))
    if to < 0 or (to > 0 and head[to - 1].is_word("INNER")):
        yield "CH403", st.line, obj, f"{obj} has no TO table: its rows live in an implicit inner table"
        return
    target = name_at(t, to + 1, ctx.database)
    if target is None:
        return
    tdb, tname, _ = target
    tobj = _q(tdb, tname)
    if ctx.before is not None and tdb == ctx.database and (tdb, tname) not in state.created \
            and ctx.before.table(tname) is None:
        yield "CH404", st.line_at(to), obj, f"{obj}: TO table {tobj} does not exist yet (not in the schema the " \
            "earlier migrations produce, nor created earlier in this file)"
        return
    if ctx.after is None or db != ctx.database or tdb != ctx.database:
        return
    view = ctx.after.view(name)
    target_table = ctx.after.table(tname)
    if view is None or target_table is None:
        return
    target_cols = {c.name: c.type for c in target_table.columns}
    for col in view.columns:
        if col.name not in target_cols:
            yield "CH402", st.line, f"{obj}.{col.name}", f"{obj}: output column {col.name} ({col.type}) is not a " \
                f"column of {tobj}: its values are dropped on insert"
        elif not fits(col.type, target_cols[col.name]):
            yield "CH402", st.line, f"{obj}.{col.name}", f"{obj}: output column {col.name} is {col.type} but " \
                f"{tobj}.{col.name} is {target_cols[col.name]}"


# -- ALTER TABLE -------------------------------------------------------------------------------------------


def _alter(ctx: FileContext, st: Stmt, alter: Alter, state: _State) -> Iterator[Hit]:
    key = (alter.database, alter.name)
    obj = _q(*key)
    old = _table(ctx.before, alter.database, alter.name, ctx)
    # created in this file, or empty on the live server: nothing to rewrite
    fresh = key in state.created or (ctx.live and alter.database == ctx.database and alter.name not in ctx.sizes)
    added: list[str] = []
    types = {c.name: c.type for c in old.columns} if old else {}
    mutating = False
    no_materialize = _settings_say(st.tokens, "materialize_ttl_after_modify", "0") or any(
        n == "materialize_ttl_after_modify" and v == "0" for n, v in ctx.header_settings)
    for at, cmd in alter.commands:
        line = st.line_at(at)
        if at_word(cmd, 0, "ADD", "COLUMN"):
            col = column_def(cmd[skip_if(cmd, 2):], at)
            added.append(col.name)
            types[col.name] = col.type
            yield from _column_rules(ctx, st, obj, col, types)
        elif at_word(cmd, 0, "ADD", "INDEX"):
            idx = index_def(cmd[2:], at)
            yield from _index_rule(ctx, st, obj, idx.type, at)
        elif at_word(cmd, 0, "DROP", "COLUMN"):
            rest = cmd[skip_if(cmd, 2):]
            column = rest[0].name if rest else ""
            yield "CH102", line, f"{obj}.{column}", f"DROP COLUMN deletes {obj}.{column} in every part"
            mutating = True
        elif at_word(cmd, 0, "DROP", "PARTITION") or at_word(cmd, 0, "DROP", "PART") or at_word(
                cmd, 0, "DROP", "DETACHED"):
            yield "CH105", line, obj, f"{join(cmd[:2])} {join(cmd[2:])} deletes those rows of {obj}"
        elif cmd[0].is_word("UPDATE", "DELETE"):
            yield "CH201", line, obj, f"ALTER ... {cmd[0].upper} on {obj} is a mutation that rewrites every part " \
                "holding matching rows"
            mutating = True
        elif at_word(cmd, 0, "MODIFY", "COLUMN"):
            col = column_def(cmd[skip_if(cmd, 2):], at)
            yield from _column_rules(ctx, st, obj, col, types)
            before = types.get(col.name)
            if col.type and before and _rewrites(before, col.type) and not fresh:
                yield "CH202", line, f"{obj}.{col.name}", f"MODIFY COLUMN {col.name} {before} -> {col.type} " \
                    f"rewrites the column in every part of {obj}"
                mutating = True
            if col.type:
                types[col.name] = col.type
        elif cmd[0].is_word("MATERIALIZE") or cmd[0].is_word("CLEAR"):
            what = join(cmd[:3])
            yield "CH203", line, obj, f"{what} rewrites parts of the whole table {obj}"
            mutating = True
        elif at_word(cmd, 0, "MODIFY", "TTL"):
            ttl = cmd[2:]
            settings_at = find_seq(ttl, "SETTINGS")
            if settings_at >= 0:
                ttl = ttl[:settings_at]
            yield from _ttl_version(ctx, st, obj, at, ttl, types)
            if old is not None and old.ttl:
                new_keep, old_keep = ttl_seconds(join(ttl)), ttl_seconds(old.ttl)
                if new_keep is not None and old_keep is not None and new_keep < old_keep:
                    yield "CH106", line, obj, f"MODIFY TTL {join(ttl)} keeps rows of {obj} for less than its " \
                        f"current TTL {old.ttl}: the older rows are deleted"
            if not no_materialize and not fresh:
                yield "CH107", line, obj, f"MODIFY TTL on {obj} without SETTINGS materialize_ttl_after_modify = 0 " \
                    "rewrites every part"
                mutating = True
        elif at_word(cmd, 0, "MODIFY", "ORDER", "BY"):
            yield from _order_by(st, obj, line, old, cmd[3:], added, types)
        elif at_word(cmd, 0, "MODIFY", "SETTING"):
            yield from _setting_hits(ctx, st, cmd[2:], at + 2)
    if mutating:
        state.mutated[key] = state.mutated.get(key, 0) + 1
        if state.mutated[key] == 2:
            yield "CH204", st.line, obj, f"a second ALTER in this migration mutates {obj}: merge them into one " \
                "ALTER (one pass over the parts)"


def _rewrites(before: str, after: str) -> bool:
    """Whether changing a column's type from `before` to `after` rewrites its data."""
    from chmigrate.schema.tokens import canonical

    a, b = canonical(before), canonical(after)
    if a == b:
        return False
    return b != f"Nullable({a})"


def _order_by(st: Stmt, obj: str, line: int, old: Table | None, new: Sequence[Token], added: list[str],
              types: dict[str, str]) -> Iterator[Hit]:
    from chmigrate.schema.tokens import canonical

    wanted = [canonical(e, unwrap=True) for e in key_elements(new)]
    for element in wanted:
        typ = types.get(element.strip("`"), "")
        if typ.startswith("Nullable(") or typ.startswith("LowCardinality(Nullable("):
            yield "CH801", line, f"{obj}.{element}", f"{obj}: key column {element} is {typ} (needs " \
                "allow_nullable_key, slows every merge)"
    if old is None:
        return
    current = [canonical(e, unwrap=True) for e in key_elements(_tokens(old.order_key))]
    extension = wanted[:len(current)] == current and all(e in added for e in wanted[len(current):])
    if not extension:
        yield "CH301", line, obj, f"MODIFY ORDER BY ({', '.join(wanted)}) on {obj} is not ({', '.join(current)}) " \
            "extended with columns added in this ALTER: it needs a new table"


# -- settings, cluster --------------------------------------------------------------------------------------


def _settings_say(tokens: Sequence[Token], name: str, value: str) -> bool:
    at = find_seq(tokens, "SETTINGS")
    while at >= 0:
        for part in split_top(tokens[at + 1:]):
            if len(part) >= 3 and part[0].name == name and part[1].text == "=" and part[2].text == value:
                return True
        at = find_seq(tokens, "SETTINGS", start=at + 1)
    return False


def _setting_hits(ctx: FileContext, st: Stmt, tokens: Sequence[Token], offset: int) -> Iterator[Hit]:
    if ctx.target is None:
        return
    for name, at in setting_names(tokens):
        if _unknown(ctx, name):
            yield "CH502", st.line_at(offset + at), name, f"setting {name} is unknown to ClickHouse " \
                f"{versions.label(ctx.target)} (code 115)"


def _unknown(ctx: FileContext, name: str) -> bool:
    if ctx.known_settings is not None:
        return name not in ctx.known_settings
    return ctx.target is not None and versions.unknown_setting(name, ctx.target)


def _settings(ctx: FileContext, st: Stmt) -> Iterator[Hit]:
    """A statement's own `SETTINGS a = 1` (CREATE TABLE's are read with its clauses, MODIFY SETTING per
    command)."""
    if create_table(st, ctx.database) is not None:
        return
    t = st.tokens
    at = find_seq(t, "SETTINGS")
    while at >= 0:
        if not (at > 0 and t[at - 1].is_word("MODIFY", "RESET")):
            yield from _setting_hits(ctx, st, t[at + 1:], at + 1)
        at = find_seq(t, "SETTINGS", start=at + 1)


def _cluster(ctx: FileContext, st: Stmt) -> Iterator[Hit]:
    at = on_cluster(st.tokens)
    if at < 0 or not ctx.replicated_databases:
        return
    t = st.tokens
    i = 1
    while i < at and t[i].kind == IDENT and t[i].upper in ("OR", "REPLACE", "TABLE", "VIEW", "MATERIALIZED",
                                                           "DICTIONARY", "DATABASE", "IF", "NOT", "EXISTS",
                                                           "TEMPORARY"):
        i += 1
    found = name_at(t, i, ctx.database)
    if found is None:
        return
    db = found[1] if t[1:i] and any(x.is_word("DATABASE") for x in t[1:i]) else found[0]
    if db in ctx.replicated_databases:
        yield "CH602", st.line_at(at), _q(found[0], found[1]) if db == found[0] else db, \
            f"ON CLUSTER in database {db}, whose engine is Replicated (it replicates DDL itself)"


def _file_rules(ctx: FileContext, emit: object) -> None:
    assert callable(emit)
    ddl = [st for st in ctx.statements if st.verb in _DDL]
    clustered = [st for st in ddl if on_cluster(st.tokens) >= 0]
    if clustered and len(clustered) < len(ddl):
        plain = next(st for st in ddl if on_cluster(st.tokens) < 0)
        emit("CH601", plain.line, "", f"{len(clustered)} statement(s) use ON CLUSTER and "
             f"{len(ddl) - len(clustered)} do not: statement {plain.index} runs on one node only")
    real = [st for st in ctx.statements if st.verb not in ("SET", "USE")]
    if len(real) > 1:
        for st in real:
            if not is_rerunnable(st.sql) and st.verb in ("CREATE", "INSERT", "RENAME", "EXCHANGE", "ALTER"):
                emit("CH702", st.line, "", f"statement {st.index} ({st.verb}) is not harmless to repeat: an "
                     "interruption around it needs a person (prefer IF NOT EXISTS, or a file of its own)")
                break
    if ctx.target is not None:
        for name, _ in ctx.header_settings:
            if _unknown(ctx, name):
                emit("CH502", ctx.header_line, name, f"setting {name} (in the settings header) is unknown to "
                     f"ClickHouse {versions.label(ctx.target)} (code 115)")
    if not ctx.has_down:
        emit("CH804", 1, "", "no `-- chmigrate:down` part: `chmigrate down` refuses this version")
