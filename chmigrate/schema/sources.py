"""What the schema layer needs from migration files, and which file defines which object.

`chmigrate.migrations.discovery.Migration` satisfies `MigrationLike`; `source_files`
adapts plain statement lists (tests, tools) to the same shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chmigrate.schema.tokens import Token, name_at, tokenize


class StatementLike(Protocol):
    @property
    def index(self) -> int: ...  # 1-based within the file

    @property
    def line(self) -> int: ...

    @property
    def sql(self) -> str: ...  # after ${VAR} substitution


class MigrationLike(Protocol):
    @property
    def path(self) -> Path: ...

    @property
    def up(self) -> Sequence[StatementLike]: ...


@dataclass(frozen=True)
class SourceStatement:
    index: int
    line: int
    sql: str


@dataclass(frozen=True)
class SourceFile:
    path: Path
    up: tuple[SourceStatement, ...]


def source_files(
    files: Mapping[Path, Sequence[str]] | Iterable[tuple[Path, Sequence[str]]],
) -> tuple[SourceFile, ...]:
    """Plain statement lists, in order, as `MigrationLike` files (line numbers unknown: 0)."""
    items = files.items() if isinstance(files, Mapping) else files
    return tuple(
        SourceFile(Path(path), tuple(SourceStatement(i, 0, sql) for i, sql in enumerate(statements, 1)))
        for path, statements in items
    )


def statements_digest(migrations: Sequence[MigrationLike]) -> str:
    """sha256 over every file's path name, settings header and statement text (after substitution), in order.

    Keyed on the statements rather than the raw-file checksums so that a changed
    `${VAR}` value, which changes what runs without changing the file, changes the key. A file with no
    statement (one `new` scaffolded) changes nothing, so it leaves the key as it was.
    """
    digest = hashlib.sha256()
    for migration in migrations:
        if not migration.up:
            continue
        digest.update(b"\x00file\x00" + migration.path.name.encode())
        for name, value in getattr(migration, "settings", ()):
            digest.update(b"\x00set\x00" + f"{name}={value}".encode())
        for statement in migration.up:
            digest.update(b"\x00stmt\x00" + statement.sql.encode())
    return digest.hexdigest()


# -- which objects a statement creates or alters ------------------------------------------------------


def _name_at(tokens: Sequence[Token], i: int) -> tuple[str | None, str | None, int]:
    """(database or None when unqualified, name, next index) of a possibly qualified name at `i`."""
    found = name_at(tokens, i, "")
    if found is None:
        return None, None, i
    db, name, j = found
    return db or None, name, j


_HEAD = 24  # more than the longest head: CREATE OR REPLACE TEMPORARY MATERIALIZED VIEW IF NOT EXISTS db . name


def statement_targets(sql: str) -> tuple[str, list[tuple[str | None, str]]]:
    """The verb (CREATE, ALTER, DROP, RENAME, EXCHANGE, ...) and the objects a DDL statement acts on."""
    tokens = tokenize(sql, limit=_HEAD)  # the verb and the first name are within the statement's head
    if not tokens:
        return "", []
    verb = tokens[0].upper
    if verb in ("RENAME", "EXCHANGE"):
        tokens = tokenize(sql)  # every name of the statement
    i = 1
    skip = {
        "OR",
        "REPLACE",
        "TEMPORARY",
        "TABLE",
        "VIEW",
        "MATERIALIZED",
        "LIVE",
        "WINDOW",
        "DICTIONARY",
        "DATABASE",
        "TABLES",
        "DICTIONARIES",
        "IF",
        "NOT",
        "EXISTS",
        "FUNCTION",
        "INTO",
    }
    while i < len(tokens) and tokens[i].upper in skip:
        i += 1
    targets: list[tuple[str | None, str]] = []
    db, name, i = _name_at(tokens, i)
    if name is not None:
        targets.append((db, name))
    if verb in ("RENAME", "EXCHANGE"):
        while i < len(tokens):
            if tokens[i].upper in ("TO", "AND") or tokens[i].text == ",":
                db, name, i = _name_at(tokens, i + 1)
                if name is not None:
                    targets.append((db, name))
            else:
                i += 1
    return verb, targets


def defining_files(migrations: Sequence[MigrationLike]) -> dict[str, str]:
    """Object name -> the last file that CREATEs it (or, failing that, RENAMEs it into place or ALTERs it)."""
    created: dict[str, str] = {}
    touched: dict[str, str] = {}
    for migration in migrations:
        for statement in migration.up:
            verb, targets = statement_targets(statement.sql)
            if verb == "CREATE" and targets:
                created[targets[0][1]] = str(migration.path)
            elif verb == "RENAME":
                for _, name in targets[1::2]:
                    created[name] = str(migration.path)
            elif verb == "ALTER" and targets:
                touched[targets[0][1]] = str(migration.path)
    return {**touched, **created}
