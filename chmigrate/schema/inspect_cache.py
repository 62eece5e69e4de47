"""What a warm inspection need not read again: each table as last read, kept by its metadata file's time.

`engine_full`, `as_select` and `create_table_query` are the costly columns of `system.tables`: the server
reads and parses every table's metadata file for them (about 0.15 ms a table, most of a 1,000-table
inspection), and `system.columns` of 1,000 tables is the next largest read. All of it comes from the
table's metadata file, and `metadata_modification_time` is cheap: every ALTER, ATTACH and CREATE of a
table moves it (checked on 24.8 and 26.9 for TTL, index, setting, constraint, projection, comment,
`MODIFY QUERY`, and ADD, DROP, RENAME, MODIFY and COMMENT COLUMN), while RENAME and EXCHANGE TABLES keep
each file's time under its new name, hence the UUID beside it. So a table's texts and its rows of
`system.columns`, `system.data_skipping_indices` and `system.projections` are kept here, per server, user
and database, and read again only for a table whose name, UUID, metadata time or server version differs
from what was kept. A view's columns are always read again (they may follow its source's), and so are every
table's name, engine, keys and comment.

A table is kept only when its metadata time is older than the second the server read it in: a change made
later lands in a later second and so shows a different time, even one made in the second of the read.
A table without a metadata time (0: chDB's `default` Overlay database, a `Memory` database) is always read
again. The file is a local cache: unreadable, edited (its sha256 no longer matches) or another server's, it
is ignored and rebuilt, and writing it is best effort.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 3

Texts = tuple[str, str, str]  # engine_full, as_select, create_table_query


@dataclass(frozen=True)
class Kept:
    """One table as last read: its CREATE texts and its rows of system.columns, system.data_skipping_indices
    and system.projections (without the table's name)."""

    uuid: str
    mtime: int
    texts: Texts
    columns: tuple[tuple[Any, ...], ...] = ()
    indices: tuple[tuple[Any, ...], ...] = ()
    projections: tuple[tuple[Any, ...], ...] = ()


@dataclass(frozen=True)
class TableCache:
    """The kept tables of one database on one server, as one JSON file in `cache_dir`."""

    cache_dir: Path
    server: str  # the masked URL, or the embedded engine's directory
    user: str
    database: str

    @property
    def path(self) -> Path:
        key = hashlib.sha256(f"{self.server}\0{self.user}\0{self.database}".encode()).hexdigest()[:24]
        return self.cache_dir / f"inspect-{key}.json"

    def load(self, version: str) -> dict[str, Kept]:
        """The tables kept for `version`, the server's version and identity (hostName, serverUUID): empty when
        none, or kept from another version or server."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if (doc.get("format"), doc.get("version"), doc.get("server"), doc.get("user"),
                    doc.get("database")) != (FORMAT, version, self.server, self.user, self.database):
                return {}
            text = doc["tables"]
            if hashlib.sha256(text.encode()).hexdigest() != doc["sha256"]:
                return {}  # edited or cut short: read everything again
            return {str(name): Kept(str(u), int(m), (str(e), str(a), str(c)), *(tuple(map(tuple, p)) for p in parts))
                    for name, (u, m, e, a, c, *parts) in json.loads(text).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def save(self, version: str, read_at: int, tables: dict[str, Kept]) -> None:
        """Keep the tables whose metadata time is older than `read_at`, the server's second of the read."""
        keep = {name: [k.uuid, k.mtime, *k.texts, k.columns, k.indices, k.projections]
                for name, k in sorted(tables.items()) if 0 < k.mtime < read_at}
        text = json.dumps(keep)
        doc = {"format": FORMAT, "version": version, "server": self.server, "user": self.user,
               "database": self.database, "read_at": read_at, "sha256": hashlib.sha256(text.encode()).hexdigest(),
               "tables": text}
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(doc), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written costs the next run time, nothing else
