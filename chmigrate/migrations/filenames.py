"""The migration filename grammar, in one place.

A migration is one file `<version>_<name>.sql`: the version is one or more
digits (zero-padded by `chmigrate new`, compared as an integer), the name is
letters, digits, `_` and `-`. Example: `0001_create_llm_usage.sql`.
Everything else ending in `.sql` is an error; other files are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PATTERN = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.sql$")
SUFFIX = ".sql"
WIDTH = 4  # digits of a scaffolded version


@dataclass(frozen=True)
class ParsedName:
    version: str
    name: str

    @property
    def number(self) -> int:
        return int(self.version)


def parse(filename: str) -> ParsedName | None:
    """Parse a migration filename; None when it does not follow the grammar."""
    m = PATTERN.match(filename)
    if not m:
        return None
    return ParsedName(version=m["version"], name=m["name"])


def is_candidate(filename: str) -> bool:
    """Files that discovery must either accept or reject (not ignore)."""
    return filename.endswith(SUFFIX) and not filename.startswith(".")


def format_name(number: int, name: str, width: int = WIDTH) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", name.strip()).strip("_-").lower()
    if not slug:
        raise ValueError("the name must contain a letter or digit")
    return f"{number:0{width}d}_{slug}{SUFFIX}"


GRAMMAR = "<digits>_<name>.sql, e.g. 0001_create_llm_usage.sql"
