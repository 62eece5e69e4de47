"""What a warm inspection need not read again: each table's CREATE text, kept by its metadata file's time.

`engine_full`, `as_select` and `create_table_query` are the costly columns of `system.tables`: the server
reads and parses every table's metadata file for them (about 0.15 ms a table, most of a 1,000-table
inspection). The rest of a table's row is cheap, and so is `metadata_modification_time`, which every
ALTER, RENAME, ATTACH and CREATE of a table moves (checked on 24.8 and 26.9 for TTL, index, setting,
constraint, projection, comment, column TTL and `MODIFY QUERY`). So the costly texts are kept here, per
server, user and database, and read again only for a table whose name, UUID, metadata time or server
version differs from what was kept.

A text is kept only when its metadata time is older than the second the server read it in: a change made
later lands in a later second and so shows a different time, even one made in the second of the read.
A table without a metadata time (0: a `Memory` database keeps no files) is always read again. The file
is a local cache: unreadable, edited (its sha256 no longer matches) or another server's, it is ignored
and rebuilt, and writing it is best effort.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1

Texts = tuple[str, str, str]  # engine_full, as_select, create_table_query


@dataclass(frozen=True)
class Kept:
    uuid: str
    mtime: int
    texts: Texts


@dataclass(frozen=True)
class TextCache:
    """The kept texts of one database on one server, as one JSON file in `cache_dir`."""

    cache_dir: Path
    server: str  # the masked URL, or the embedded engine's directory
    user: str
    database: str

    @property
    def path(self) -> Path:
        key = hashlib.sha256(f"{self.server}\0{self.user}\0{self.database}".encode()).hexdigest()[:24]
        return self.cache_dir / f"inspect-{key}.json"

    def load(self, version: str) -> dict[str, Kept]:
        """The texts kept for a server of `version` (empty when none, or kept from another version)."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if (doc.get("format"), doc.get("version"), doc.get("server"), doc.get("user"),
                    doc.get("database")) != (FORMAT, version, self.server, self.user, self.database):
                return {}
            text = doc["tables"]
            if hashlib.sha256(text.encode()).hexdigest() != doc["sha256"]:
                return {}  # edited or cut short: read everything again
            return {str(name): Kept(str(u), int(m), (str(e), str(a), str(c)))
                    for name, (u, m, e, a, c) in json.loads(text).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def save(self, version: str, read_at: int, tables: dict[str, Kept]) -> None:
        """Keep the texts whose metadata time is older than `read_at`, the server's second of the read."""
        keep = {name: [k.uuid, k.mtime, *k.texts] for name, k in sorted(tables.items()) if 0 < k.mtime < read_at}
        text = json.dumps(keep)
        doc = {"format": FORMAT, "version": version, "server": self.server, "user": self.user,
               "database": self.database, "sha256": hashlib.sha256(text.encode()).hexdigest(), "tables": text}
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(doc), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written costs the next run time, nothing else
