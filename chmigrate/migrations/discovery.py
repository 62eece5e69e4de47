"""Discover migration files: parse names, split statements, checksum, validate.

Fails fast, naming the file, on duplicate versions, names outside the grammar,
non-UTF-8 content, unterminated literals, empty files and unknown variables.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chmigrate.errors import ConfigError, MigrationFileError
from chmigrate.migrations import filenames
from chmigrate.migrations.splitter import SplitError, split_statements
from chmigrate.migrations.variables import UnknownVariable, substitute

# A line `-- chmigrate:down` separates the up part (above) from the optional down part (below).
DOWN_MARKER = re.compile(r"^[ \t]*--[ \t]*chmigrate:down[ \t]*$", re.M | re.I)


@dataclass(frozen=True)
class Statement:
    index: int  # 1-based within its part
    line: int  # line in the file
    sql: str  # after ${NAME} substitution: what is sent
    raw: str  # as written in the file: what the cumulative hash covers


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path
    checksum: str  # sha256 of the raw file bytes
    up: tuple[Statement, ...]
    down: tuple[Statement, ...] | None

    @property
    def number(self) -> int:
        return int(self.version)

    @property
    def filename(self) -> str:
        return self.path.name


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def discover(directory: Path, variables: Mapping[str, str] | None = None, *,
             allow_gaps: bool = False) -> tuple[Migration, ...]:
    """Read every migration in `directory`, ordered by version. Versions must follow each other without a
    gap (a missing number is usually a file lost in a merge) unless `allow_gaps`."""
    variables = variables or {}
    if not directory.exists():
        raise ConfigError("migrations_dir", f"{directory} does not exist",
                          hint="create it, or point --migrations-dir / CHMIGRATE_MIGRATIONS_DIR at your DDL")
    if not directory.is_dir():
        raise ConfigError("migrations_dir", f"{directory} is not a directory")
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or not filenames.is_candidate(path.name):
            continue
        migration = load(path, variables)
        other = found.get(migration.number)
        if other is not None:
            raise MigrationFileError(str(path), f"duplicate version {migration.version}: {other.path.name} "
                                     "has the same version")
        found[migration.number] = migration
    ordered = tuple(found[k] for k in sorted(found))
    if not allow_gaps:
        for before, after in zip(ordered, ordered[1:]):
            if after.number != before.number + 1:
                raise MigrationFileError(
                    str(after.path), f"version gap: nothing between {before.filename} and {after.filename} "
                    f"(expected version {before.number + 1})",
                    hint="renumber the file, or set allow_version_gaps = true (CHMIGRATE_ALLOW_VERSION_GAPS=1)",
                )
    return ordered


def load(path: Path, variables: Mapping[str, str]) -> Migration:
    parsed = filenames.parse(path.name)
    if parsed is None:
        raise MigrationFileError(str(path), f"file name does not follow {filenames.GRAMMAR}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MigrationFileError(str(path), "not valid UTF-8", line=line) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    up_text, down_text, down_line = _parts(text)
    up = _statements(path, up_text, 1, variables)  # empty for a file `new` scaffolded: pending, `up` refuses it
    down = _statements(path, down_text, down_line, variables) if down_text is not None else None
    return Migration(version=parsed.version, name=parsed.name, path=path, checksum=checksum(data),
                     up=up, down=down)


def _parts(text: str) -> tuple[str, str | None, int]:
    markers = list(DOWN_MARKER.finditer(text))
    if not markers:
        return text, None, 0
    m = markers[0]
    up = text[: m.start()]
    down = text[m.end():]
    return up, down, text.count("\n", 0, m.end()) + 1


def _statements(path: Path, text: str, first_line: int, variables: Mapping[str, str]) -> tuple[Statement, ...]:
    try:
        raw = split_statements(text, first_line=first_line)
    except SplitError as exc:
        raise MigrationFileError(str(path), str(exc), line=exc.line + first_line - 1) from None
    out = []
    for st in raw:
        try:
            sql = substitute(st.sql, variables)
        except UnknownVariable as exc:
            raise MigrationFileError(
                str(path), f"unknown variable ${{{exc.name}}}", statement=st.index, line=st.line,
                hint=f"define it with --var {exc.name}=VALUE, CHMIGRATE_VAR_{exc.name}, "
                "or [tool.chmigrate.variables]",
            ) from None
        out.append(Statement(index=st.index, line=st.line, sql=sql, raw=st.sql))
    return tuple(out)
