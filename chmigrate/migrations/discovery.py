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

# `-- chmigrate:settings max_execution_time = 0, max_threads = 4`: settings for this file's statements.
SETTINGS_HEADER = re.compile(r"^[ \t]*--[ \t]*chmigrate:settings\b(?P<body>.*)$", re.M | re.I)
_SETTING = re.compile(r"\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>-?\d+(?:\.\d+)?|'(?:[^'\\]|\\.)*'|"
                      r"[A-Za-z_][A-Za-z0-9_]*)\s*(?:,|$)")
# Set by chmigrate on every statement: a header may not change them.
RESERVED_SETTINGS = frozenset({"mutations_sync", "alter_sync", "async_insert", "query_id", "log_comment"})
_SESSION_STATEMENT = re.compile(r"(?is)^\s*(SET|USE)\b")

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
    # from `-- chmigrate:settings name = value, ...` header lines: sent with each of its statements
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def number(self) -> int:
        return int(self.version)

    @property
    def filename(self) -> str:
        return self.path.name


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def discover(directory: Path, variables: Mapping[str, str] | None = None, *,
             allow_gaps: bool = False, allow_session: bool = False) -> tuple[Migration, ...]:
    """Read every migration in `directory`, ordered by version. Versions must follow each other without a
    gap (a missing number is usually a file lost in a merge) unless `allow_gaps`. `allow_session` keeps a
    standalone SET/USE as a statement instead of refusing the file (lint reports it as a finding)."""
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
        migration = load(path, variables, allow_session=allow_session)
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


_LOADED: dict[tuple[str, bytes, tuple[tuple[str, str], ...], bool], Migration] = {}  # a command reads the files twice
_LOADED_MAX = 20_000


def load(path: Path, variables: Mapping[str, str], *, allow_session: bool = False) -> Migration:
    parsed = filenames.parse(path.name)
    if parsed is None:
        raise MigrationFileError(str(path), f"file name does not follow {filenames.GRAMMAR}")
    data = path.read_bytes()
    # Parsed once per process for these bytes and variables: a command that reads the directory again (before
    # and under its lock) only re-reads the bytes, and an edited file is parsed again.
    key = (str(path), data, tuple(sorted(variables.items())), allow_session)
    known = _LOADED.get(key)
    if known is not None:
        return known
    migration = _parse(path, parsed, data, variables, allow_session)
    if len(_LOADED) >= _LOADED_MAX:
        _LOADED.clear()
    _LOADED[key] = migration
    return migration


def _parse(path: Path, parsed: filenames.ParsedName, data: bytes, variables: Mapping[str, str],
           allow_session: bool) -> Migration:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MigrationFileError(str(path), "not valid UTF-8", line=line) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    up_text, down_text, down_line = _parts(text)
    # empty for a file `new` scaffolded: pending, `up` refuses it
    up = _statements(path, up_text, 1, variables, allow_session)
    settings = _header_settings(path, up_text, up[0].line if up else None)
    down = _statements(path, down_text, down_line, variables, allow_session) if down_text is not None else None
    return Migration(version=parsed.version, name=parsed.name, path=path, checksum=checksum(data),
                     up=up, down=down, settings=settings)


def _parts(text: str) -> tuple[str, str | None, int]:
    markers = list(DOWN_MARKER.finditer(text))
    if not markers:
        return text, None, 0
    m = markers[0]
    up = text[: m.start()]
    down = text[m.end():]
    return up, down, text.count("\n", 0, m.end()) + 1


def _statements(path: Path, text: str, first_line: int, variables: Mapping[str, str],
                allow_session: bool = False) -> tuple[Statement, ...]:
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
        session = _SESSION_STATEMENT.match(sql)
        if session and not allow_session:
            word = session.group(1).upper()
            hint = ("put settings for this file's statements in a header line before its first statement, e.g. "
                    "`-- chmigrate:settings max_execution_time = 0`" if word == "SET" else
                    "name other databases in the statements themselves (`db.table`); the target database is "
                    "the configured one")
            raise MigrationFileError(
                str(path), f"a standalone {word} is refused: each statement is sent on its own (over HTTP a {word} "
                "would do nothing, on the embedded engine it would last for the rest of the run)",
                statement=st.index, line=st.line, hint=hint)
        out.append(Statement(index=st.index, line=st.line, sql=sql, raw=st.sql))
    return tuple(out)


def _header_settings(path: Path, text: str, first_statement_line: int | None) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for m in SETTINGS_HEADER.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        if first_statement_line is not None and line > first_statement_line:
            raise MigrationFileError(str(path), "a `-- chmigrate:settings` line must come before the first "
                                     "statement", line=line)
        body = m.group("body").strip()
        pos = 0
        while pos < len(body):
            s = _SETTING.match(body, pos)
            if s is None or s.end() == pos:
                raise MigrationFileError(str(path), f"bad settings header {body[pos:]!r}: write "
                                         "`-- chmigrate:settings name = value, name = value` (a value is a "
                                         "number, a 'quoted string' or a word)", line=line)
            name = s.group("name")
            if name.lower() in RESERVED_SETTINGS:
                raise MigrationFileError(str(path), f"setting {name} is chmigrate's own (mutations_sync = 2, "
                                         "alter_sync = 2, async_insert = 0 and query_id/log_comment make every "
                                         "statement finish and be found before it is recorded)", line=line)
            value = s.group("value")
            found.append((name, value[1:-1] if value.startswith("'") else value))
            pos = s.end()
        if not body:
            raise MigrationFileError(str(path), "empty `-- chmigrate:settings` line", line=line)
    return tuple(found)
