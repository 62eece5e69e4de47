"""Driving a chmigrate Alembic project through Alembic's Python API (never a subprocess).

Builds the `alembic.config.Config` in code (no alembic.ini), reads the revision graph, reads
the version table, renders offline SQL split per revision, and runs upgrades and downgrades
while recording, per revision, how long it took and how many statements it ran.
"""

from __future__ import annotations

import ast
import io
import os
import time
from argparse import Namespace
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script, ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection

from chmigrate.errors import ConfigError
from chmigrate.targets.pg_env import ENSURE_SCHEMA_SQL, SCHEMA, VERSION_TABLE

_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


@dataclass(frozen=True)
class Revision:
    """One revision file of the project, in graph order."""

    id: str
    name: str
    path: str
    upgrade_line: int
    downgrade_line: int


def check_project(project_dir: Path) -> None:
    """Refuse early a folder that is not an Alembic project."""
    if not project_dir.is_dir():
        raise ConfigError("postgres_dir", f"{project_dir} does not exist",
                          hint="point it at the folder holding env.py and versions/ (default: postgres/)")
    for needed in ("env.py", "versions"):
        if not (project_dir / needed).exists():
            raise ConfigError("postgres_dir",
                              f"{project_dir} has no {needed}: not a chmigrate Alembic project")


def make_config(project_dir: Path, *, connection: Connection | None = None, output_buffer: Any = None,
                on_version_apply: tuple[Callable[..., None], ...] = ()) -> Config:
    # quiet and a private stdout: a library never prints (Alembic reports "Generating ..." otherwise)
    config = Config(output_buffer=output_buffer, stdout=io.StringIO(), cmd_opts=Namespace(quiet=True))
    config.set_main_option("script_location", str(project_dir.absolute()))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    config.attributes["on_version_apply"] = on_version_apply
    return config


def script_directory(project_dir: Path) -> ScriptDirectory:
    return ScriptDirectory.from_config(make_config(project_dir))


def revisions(script: ScriptDirectory) -> list[Revision]:
    """All revisions, from the base to the head(s)."""
    found = list(script.walk_revisions("base", "heads"))
    found.reverse()
    return [_describe(s) for s in found]


def _describe(script: Script) -> Revision:
    path = script.path
    upgrade_line = downgrade_line = 1
    try:
        tree = ast.parse(Path(path).read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "upgrade":
                upgrade_line = node.lineno
            elif isinstance(node, ast.FunctionDef) and node.name == "downgrade":
                downgrade_line = node.lineno
    except (OSError, SyntaxError):
        pass
    return Revision(id=script.revision, name=script.doc.strip().splitlines()[0] if script.doc else "",
                    path=_display_path(path), upgrade_line=upgrade_line, downgrade_line=downgrade_line)


def _display_path(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def current_heads(connection: Connection) -> tuple[str, ...]:
    """The revisions recorded in chmigrate's version table (empty when it does not exist). Read-only."""
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "version_table_schema": SCHEMA}
    )
    return tuple(context.get_current_heads())


def applied_ids(script: ScriptDirectory, heads: tuple[str, ...]) -> tuple[set[str], list[str]]:
    """(revisions applied according to heads, heads that name no revision on disk)."""
    from alembic.script.revision import ResolutionError

    known = {s.revision for s in script.walk_revisions("base", "heads")}
    unknown = [h for h in heads if h not in known]
    applied: set[str] = set()
    for head in (h for h in heads if h in known):
        try:
            applied.update(s.revision for s in script.iterate_revisions(head, "base"))
        except ResolutionError:
            unknown.append(head)
    return applied, unknown


# -- offline SQL ---------------------------------------------------------------------------
class _Capture:
    """An output buffer for Alembic's offline mode: Alembic writes each statement in one call."""

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def write(self, text: str) -> int:
        self.chunks.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@dataclass
class OfflineRun:
    """Offline SQL of an upgrade, as (revision id, statements) in the order they would run."""

    steps: list[tuple[str, list[str]]] = field(default_factory=list)


def offline_upgrade(project_dir: Path, start: str | None, destination: str) -> OfflineRun:
    """Render the SQL that upgrading from `start` (None: an empty database) to `destination` runs."""
    capture = _Capture()
    marks: list[tuple[str, int]] = []

    def mark(*, step: MigrationInfo, **_: Any) -> None:
        marks.append((step.up_revision_id or "", len(capture.chunks)))

    config = make_config(project_dir, output_buffer=capture, on_version_apply=(mark,))
    command.upgrade(config, f"{start}:{destination}" if start else destination, sql=True)
    run = OfflineRun()
    begin = 0
    for revision_id, end in marks:
        statements = [s for s in (_statement(c) for c in capture.chunks[begin:end]) if s]
        run.steps.append((revision_id, statements))
        begin = end
    return run


def is_bookkeeping(sql: str) -> bool:
    """True for statements chmigrate and Alembic run around revisions (version table, its schema)."""
    return VERSION_TABLE in sql or sql.strip() == ENSURE_SCHEMA_SQL


def _statement(chunk: str) -> str | None:
    """A captured chunk as one SQL statement without its terminator; None for comments and BEGIN/COMMIT."""
    sql = chunk.strip()
    if sql.endswith(";"):
        sql = sql[:-1].rstrip()
    if not sql or sql.startswith("--") or sql.upper() in _TRANSACTION_CONTROL:
        return None
    return sql


# -- online runs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    revision: str
    is_upgrade: bool
    statements: int
    duration_ms: int


class StepRecorder:
    """Records each revision Alembic runs: duration and statements executed (bookkeeping excluded).

    `count` and `last_statement` describe the revision in progress, for the error when it fails.
    """

    def __init__(self, connection: Connection) -> None:
        self.steps: list[Step] = []
        self.count = 0
        self.last_statement: str | None = None
        self._connection = connection
        self._since = time.monotonic()

    def on_version_apply(self, *, step: MigrationInfo, **_: Any) -> None:
        now = time.monotonic()
        self.steps.append(Step(revision=step.up_revision_id or "", is_upgrade=step.is_upgrade,
                               statements=self.count, duration_ms=int((now - self._since) * 1000)))
        self.count = 0
        self.last_statement = None
        self._since = now

    def _before_execute(self, conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if is_bookkeeping(statement):
            return
        if statement.lstrip()[:6].upper() == "SELECT" and "pg_catalog" in statement:
            return  # reflection done by Alembic or SQLAlchemy, not by the revision
        self.count += 1
        self.last_statement = statement

    @contextmanager
    def listening(self) -> Iterator[StepRecorder]:
        event.listen(self._connection, "before_cursor_execute", self._before_execute)
        self._since = time.monotonic()
        try:
            yield self
        finally:
            event.remove(self._connection, "before_cursor_execute", self._before_execute)


def run_upgrade(project_dir: Path, connection: Connection, destination: str, recorder: StepRecorder) -> None:
    config = make_config(project_dir, connection=connection, on_version_apply=(recorder.on_version_apply,))
    with recorder.listening():
        command.upgrade(config, destination)


def run_downgrade(project_dir: Path, connection: Connection, destination: str,
                  recorder: StepRecorder) -> None:
    config = make_config(project_dir, connection=connection, on_version_apply=(recorder.on_version_apply,))
    with recorder.listening():
        command.downgrade(config, destination)


def new_revision(project_dir: Path, message: str, connection: Connection | None = None) -> Path:
    """Write a new revision file from script.py.mako; with a connection, autogenerate its operations.

    Revision ids continue the project's numbering (0001, 0002, ...) when every id is a number.
    """
    script = script_directory(project_dir)
    ids = [s.revision for s in script.walk_revisions("base", "heads")]
    rev_id: str | None = None  # Alembic's random id when the project does not number its revisions
    if not ids:
        rev_id = "0001"
    elif all(i.isdigit() for i in ids):
        rev_id = f"{max(int(i) for i in ids) + 1:04d}"
    config = make_config(project_dir, connection=connection)
    created = command.revision(config, message=message, autogenerate=connection is not None, rev_id=rev_id)
    scripts = created if isinstance(created, list) else [created]
    first = scripts[0]
    if first is None:
        raise ConfigError("postgres_dir", f"Alembic wrote no revision in {project_dir / 'versions'}")
    return Path(first.path)


def drift(project_dir: Path, connection: Connection) -> tuple[str, ...]:
    """Differences between the database and models.py, limited to chmigrate's own objects."""
    from alembic.autogenerate import compare_metadata

    from chmigrate.targets.pg_env import context_options, load_metadata

    metadata = load_metadata(project_dir / "models.py")
    context = MigrationContext.configure(connection, opts=context_options(metadata))
    return tuple(_describe_diff(d) for d in compare_metadata(context, metadata))


def _describe_diff(diff: Any) -> str:
    """One line per Alembic diff, e.g. 'add_index orchestrator.model_pricing (model_pricing_latest_idx)'."""
    if isinstance(diff, list):  # the modifications of one column come as a list
        return "; ".join(_describe_diff(d) for d in diff)
    kind, *rest = diff
    if kind.startswith("modify_") and len(rest) == 6:
        schema, table, column, _info, old, new = rest
        return f"{kind} {schema}.{table}.{column}: {old!r} -> {new!r}"
    if kind in ("add_column", "remove_column"):
        schema, table, column = rest
        return f"{kind} {schema}.{table}.{column.name}"
    obj = rest[0]
    table = getattr(obj, "table", None)
    if table is not None and table is not obj:
        return f"{kind} {table.fullname} ({obj.name})"
    return f"{kind} {getattr(obj, 'fullname', None) or getattr(obj, 'name', None) or obj}"
