"""The cluster rewrite: the statements of the migrations as they are sent to a replicated ClickHouse.

Pure. With a cluster configured, each DDL statement gets `ON CLUSTER name` after its object name
(CREATE/ALTER/DROP/RENAME/TRUNCATE/EXCHANGE of tables, views, dictionaries and databases) and each
`*MergeTree` engine becomes its `Replicated*` form: without path arguments (the server's
`default_replica_path` / `default_replica_name`) or with the configured `replica_path`/`replica_name`
prepended to the engine's own arguments. In a `Replicated` database no `ON CLUSTER` is added (the database
replicates its DDL itself) but the engines are converted all the same.

The rewrite works on the lexer's tokens (whitespace and comments kept), so everything it does not insert
is sent byte for byte: comments, string literals, layout. A statement that already says `ON CLUSTER` or
uses a `Replicated*` engine is sent as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chmigrate.schema.tokens import COMMENT, IDENT, QIDENT, SPACE, STRING, SYMBOL, Token, ident_sql, tokenize

# The head words of the statements that take ON CLUSTER.
DDL_HEADS = ("CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "EXCHANGE")
_OBJECTS = ("TABLE", "VIEW", "DICTIONARY", "DATABASE")
# Sent with each ON CLUSTER statement: wait for every host, and fail when one of them fails.
DDL_OUTPUT_MODE = "throw"
# In a Replicated database: a replica that does not answer in time is not an error of the statement.
REPLICATED_DATABASE_OUTPUT_MODE = "null_status_on_timeout"
DEFAULT_DDL_TIMEOUT = 600.0


@dataclass(frozen=True)
class ClusterDDL:
    """How statements are sent to a replicated target: through `ON CLUSTER cluster` or, in a Replicated
    database (`replicated_database`), as they are, with engines converted either way."""

    cluster: str | None
    replicated_database: bool = False
    replica_path: str | None = None  # e.g. '/clickhouse/tables/{uuid}/{shard}'; None: the server's default
    replica_name: str | None = None  # e.g. '{replica}'
    timeout: float = DEFAULT_DDL_TIMEOUT  # distributed_ddl_task_timeout, seconds

    def statement(self, sql: str) -> str:
        """`sql` as it is sent."""
        return rewrite(sql, None if self.replicated_database else self.cluster, replica_path=self.replica_path,
                       replica_name=self.replica_name)

    def clause(self) -> str:
        """What chmigrate's own DDL (ledger, lock table) says after the object name: ` ON CLUSTER name`, or
        nothing in a Replicated database."""
        return "" if self.replicated_database or self.cluster is None else f" ON CLUSTER {ident_sql(self.cluster)}"

    def own_settings(self) -> dict[str, int | str]:
        """The settings of chmigrate's own DDL on this target."""
        mode = REPLICATED_DATABASE_OUTPUT_MODE if self.replicated_database else DDL_OUTPUT_MODE
        return {"distributed_ddl_task_timeout": int(self.timeout), "distributed_ddl_output_mode": mode}

    def settings(self, sent: str) -> dict[str, int | str]:
        """The settings a statement (as sent) needs: distributed DDL ones for ON CLUSTER statements and, in a
        Replicated database, for every DDL statement; none otherwise."""
        tokens = _significant(tokenize(sent))
        if self.replicated_database and tokens and tokens[0].is_word(*DDL_HEADS):
            return {"distributed_ddl_task_timeout": int(self.timeout),
                    "distributed_ddl_output_mode": REPLICATED_DATABASE_OUTPUT_MODE}
        if _on_cluster(tokens) >= 0:
            return {"distributed_ddl_task_timeout": int(self.timeout),
                    "distributed_ddl_output_mode": DDL_OUTPUT_MODE}
        return {}


def rewrite(sql: str, cluster: str | None, *, replica_path: str | None = None,
            replica_name: str | None = None) -> str:
    """`sql` with `ON CLUSTER cluster` (when `cluster` is given and the statement takes it) and its
    `*MergeTree` engine replicated; unchanged when it already says ON CLUSTER or Replicated*, or is not DDL."""
    tokens = tokenize(sql, keep_space=True)
    sig = [i for i, t in enumerate(tokens) if t.kind not in (SPACE, COMMENT)]
    words = [tokens[i] for i in sig]
    if not words or not words[0].is_word(*DDL_HEADS) or _on_cluster(words) >= 0 or _replicated(words):
        return sql
    inserts: dict[int, str] = {}  # token index -> text inserted after it
    at = _name_end(words) if cluster is not None else None
    if at is not None:
        inserts[sig[at]] = f" ON CLUSTER {ident_sql(cluster)}" if cluster is not None else ""
    replace: dict[int, str] = {}  # token index -> its new text
    engine = _engine(words)
    if engine is not None:
        replace[sig[engine]] = "Replicated" + words[engine].text
        if replica_path is not None:
            args = f"'{_quote(replica_path)}', '{_quote(replica_name or '{replica}')}'"
            after = engine + 1
            if after < len(words) and words[after].kind == SYMBOL and words[after].text == "(":
                empty = after + 1 < len(words) and words[after + 1].text == ")"
                inserts[sig[after]] = inserts.get(sig[after], "") + args + ("" if empty else ", ")
            else:
                inserts[sig[engine]] = inserts.get(sig[engine], "") + f"({args})"
    if not inserts and not replace:
        return sql
    return "".join(replace.get(i, t.text) + inserts.get(i, "") for i, t in enumerate(tokens))


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _significant(tokens: Sequence[Token]) -> list[Token]:
    return [t for t in tokens if t.kind not in (SPACE, COMMENT)]


def _word(tokens: Sequence[Token], i: int, *words: str) -> bool:
    return i < len(tokens) and tokens[i].is_word(*words)


def _on_cluster(tokens: Sequence[Token]) -> int:
    """Index of `ON CLUSTER` in the statement's head (before any parenthesis or AS), or -1."""
    for i, tok in enumerate(tokens[:24]):
        if tok.kind == SYMBOL and tok.text == "(" or tok.is_word("AS", "SELECT"):
            return -1
        if tok.is_word("ON") and _word(tokens, i + 1, "CLUSTER"):
            return i
    return -1


def _replicated(tokens: Sequence[Token]) -> bool:
    """The statement names a Replicated* engine (a table's or a database's): `ENGINE [=] Replicated...`."""
    for i, tok in enumerate(tokens):
        if tok.kind == IDENT and tok.text.startswith("Replicated"):
            before = i - 2 if i >= 2 and tokens[i - 1].text == "=" else i - 1
            if before >= 0 and tokens[before].is_word("ENGINE"):
                return True
    return False


def _name(tokens: Sequence[Token], i: int) -> int | None:
    """Index of the last token of the (qualified) name at i, or None."""
    if i >= len(tokens) or tokens[i].kind not in (IDENT, QIDENT):
        return None
    if i + 2 < len(tokens) and tokens[i + 1].text == "." and tokens[i + 2].kind in (IDENT, QIDENT):
        return i + 2
    return i


def _skip_if(tokens: Sequence[Token], i: int) -> int:
    if _word(tokens, i, "IF") and _word(tokens, i + 1, "NOT") and _word(tokens, i + 2, "EXISTS"):
        return i + 3
    if _word(tokens, i, "IF") and _word(tokens, i + 1, "EXISTS"):
        return i + 2
    return i


def _name_end(tokens: Sequence[Token]) -> int | None:
    """Index of the token after which ON CLUSTER goes, or None when the statement does not take it."""
    head = tokens[0].upper
    i = 1
    if head == "CREATE" and _word(tokens, i, "OR") and _word(tokens, i + 1, "REPLACE"):
        i += 2
    if head in ("RENAME", "EXCHANGE"):
        return _pairs_end(tokens, i, "TO" if head == "RENAME" else "AND")
    if head == "TRUNCATE":
        if _word(tokens, i, "TEMPORARY"):
            return None
        if _word(tokens, i, "TABLE"):
            i += 1
    else:
        if _word(tokens, i, "TEMPORARY"):
            return None  # a temporary table lives in one session
        if _word(tokens, i, "MATERIALIZED", "LIVE", "WINDOW") and _word(tokens, i + 1, "VIEW"):
            i += 1
        if not _word(tokens, i, *_OBJECTS):
            return None
        i += 1
    end = _name(tokens, _skip_if(tokens, i))
    if end is None:
        return None
    if head == "CREATE" and _word(tokens, end + 1, "UUID") and end + 2 < len(tokens) \
            and tokens[end + 2].kind == STRING:
        return end + 2  # CREATE TABLE t UUID '...' ON CLUSTER c
    return end


def _pairs_end(tokens: Sequence[Token], i: int, joiner: str) -> int | None:
    """RENAME [TABLE|DICTIONARY|DATABASE] a TO b [, c TO d ...] / EXCHANGE TABLES a AND b: the last name."""
    if _word(tokens, i, "TABLE", "TABLES", "DICTIONARY", "DICTIONARIES", "DATABASE"):
        i += 1
    end = None
    while True:
        first = _name(tokens, i)
        if first is None or not _word(tokens, first + 1, joiner):
            return end
        end = _name(tokens, first + 2)
        if end is None:
            return None
        if end + 1 < len(tokens) and tokens[end + 1].text == ",":
            i = end + 2
            continue
        return end


def _engine(tokens: Sequence[Token]) -> int | None:
    """Index of the `*MergeTree` engine name of a CREATE TABLE / CREATE MATERIALIZED VIEW (its inner
    table), or None."""
    if not tokens[0].is_word("CREATE"):
        return None
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.kind == SYMBOL and tok.text in ("(", "[", "{"):
            depth += 1
        elif tok.kind == SYMBOL and tok.text in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and tok.is_word("AS", "SELECT"):
            if tok.is_word("SELECT") or _word(tokens, i + 1, "SELECT", "WITH") or \
                    i + 1 < len(tokens) and tokens[i + 1].text == "(":
                return None  # the engine comes before the query
        elif depth == 0 and tok.is_word("ENGINE"):
            j = i + 1
            if j < len(tokens) and tokens[j].text == "=":
                j += 1
            if j < len(tokens) and tokens[j].kind == IDENT and tokens[j].text.endswith("MergeTree") \
                    and not tokens[j].text.startswith(("Replicated", "Shared")):
                return j
            return None
    return None
