"""Replay migration statements into a fresh scratch engine and inspect the result.

Run as `python -m chmigrate.schema.replay`: reads a request as JSON on stdin and
writes one JSON document on stdout. It runs in its own process because chDB
allows one data directory per process, and the target may itself be an
embedded chDB in the calling process.

Request: {"database": "default", "exclude": [...], "settings": {...},
          "files": [{"path": "...", "statements": [{"index": 1, "line": 3, "sql": "..."}]}]}
Reply:   {"ok": true, "schema": {...}, "engine_version": "26.9.2.1"}
      or {"ok": false, "error": {"path", "statement", "line", "message", "code"}}

With `"checkpoints": [n, ...]` in the request (lint), the database is also inspected after the first n
files (0: before any), and the reply carries `"schemas": {"n": {...}}`, also the ones taken before a
failure.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chmigrate.errors import DatabaseError
from chmigrate.schema.inspect import inspect
from chmigrate.targets.clickhouse import ClickHouse, ClickHouseConfig, quote_ident


def replay(ch: ClickHouse, request: Mapping[str, Any]) -> dict[str, Any]:
    """Run every statement of the request on `ch` in its database, then inspect that database."""
    database = str(request["database"])
    settings = dict(request.get("settings") or {})
    if database != "default":
        ch.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
    ch.execute(f"USE {quote_ident(database)}")
    checkpoints = {int(n) for n in request.get("checkpoints") or ()}
    exclude = request.get("exclude") or ()
    schemas: dict[str, Any] = {}
    for n, file in enumerate(request["files"]):
        if n in checkpoints:
            schemas[str(n)] = inspect(ch, database, exclude=exclude).to_dict()
        for statement in file["statements"]:
            try:
                ch.execute(statement["sql"], settings=settings or None)
            except DatabaseError as exc:
                return {
                    "ok": False,
                    "schemas": schemas,
                    "error": {
                        "path": file["path"],
                        "statement": statement["index"],
                        "line": statement["line"],
                        "message": exc.message,
                        "code": exc.code,
                    },
                }
    schema = inspect(ch, database, exclude=exclude)
    if len(request["files"]) in checkpoints:
        schemas[str(len(request["files"]))] = schema.to_dict()
    return {"ok": True, "schema": schema.to_dict(), "engine_version": ch.server_version, "schemas": schemas}


SCRATCH_MIN_FREE = 512 * 1024 * 1024


def scratch_parent() -> str | None:
    """Where the scratch engine keeps its data: a tmpfs when there is a writable one (every CREATE writes
    and syncs metadata: about twice as fast as on a disk), the system's temporary directory otherwise.
    `CHMIGRATE_SCRATCH_DIR` names another."""
    chosen = os.environ.get("CHMIGRATE_SCRATCH_DIR")
    if chosen:
        return chosen
    shm = "/dev/shm"
    try:
        if os.access(shm, os.W_OK | os.X_OK):
            stat = os.statvfs(shm)
            if stat.f_bavail * stat.f_frsize >= SCRATCH_MIN_FREE:  # a container's 64 MiB /dev/shm is not used
                return shm
    except OSError:
        pass
    return None


def main() -> int:
    # The engine may write to fd 1; keep the real stdout for the reply alone.
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    reply: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="chmigrate-replay-", dir=scratch_parent()) as tmp:
        try:
            # The engine starts before the request is read: the caller groups the statements meanwhile.
            ch = ClickHouse.connect(ClickHouseConfig(local_dir=Path(tmp) / "chdb"))
            try:
                text = sys.stdin.read()
                if text.strip():  # empty: a parallel replay started more engines than it needed
                    reply = replay(ch, json.loads(text))
            finally:
                ch.close()
        except DatabaseError as exc:
            reply = {
                "ok": False,
                "error": {
                    "path": None,
                    "statement": None,
                    "line": None,
                    "message": exc.message,
                    "code": exc.code,
                },
            }
    with os.fdopen(reply_fd, "w") as out:
        if reply is not None:
            out.write(json.dumps(reply))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
