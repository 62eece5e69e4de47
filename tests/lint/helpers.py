"""Lint one migration text in memory: the statements as discovery splits them, optional schemas."""

from __future__ import annotations

from chmigrate.lint import versions
from chmigrate.lint.analyze import FileContext, analyze
from chmigrate.lint.run import _suppress
from chmigrate.lint.statements import read
from chmigrate.migrations.splitter import split_statements
from chmigrate.results import LintFinding
from chmigrate.schema.objects import Column, Schema, Table, View

FILE = "clickhouse/0002_change.sql"


def lint_text(sql: str, *, before: Schema | None = None, after: Schema | None = None, target: str | None = None,
              has_down: bool = True, cluster: bool = False, replicated: frozenset[str] = frozenset(),
              suppress: bool = True) -> list[LintFinding]:
    statements = tuple(read(s.index, s.line, s.sql) for s in split_statements(sql))
    ctx = FileContext(path=FILE, statements=statements, database="default", has_down=has_down, before=before,
                      after=after, target=versions.parse(target) if target else None, cluster=cluster,
                      replicated_databases=replicated)
    found = analyze(ctx)
    if not suppress:
        return found
    kept, meta, _ = _suppress(found, statements, FILE)
    return kept + meta


def hits(findings: list[LintFinding], code: str) -> list[tuple[str, str, int]]:
    return [(f.code, f.file, f.line) for f in findings if f.code == code]


def table(name: str, *columns: tuple[str, str], order: str = "id", ttl: str = "",
          engine: str = "MergeTree", partition: str = "") -> Table:
    return Table(name=name, engine=engine, order_key=order, ttl=ttl, partition_key=partition,
                 columns=tuple(Column(n, t) for n, t in columns))


def view(name: str, target: str, *columns: tuple[str, str]) -> View:
    return View(name=name, kind="materialized_view", query="SELECT 1", target=target,
                columns=tuple(Column(n, t) for n, t in columns))


def schema(*objects: Table | View) -> Schema:
    return Schema("default", tables=tuple(o for o in objects if isinstance(o, Table)),
                  views=tuple(o for o in objects if isinstance(o, View)))
