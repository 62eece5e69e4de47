"""A ClickHouse 24.8 engine (chdb 2.1.1 in /tmp/venv248) behind the same query/execute surface as
`chmigrate.targets.clickhouse.ClickHouse`, for the 24.8 parity tests.

Stand-in until the HTTP test endpoint (tests/support/endpoint.py) serves chdb 2.1.1.
Statements run in `database` (a persistent Atomic database; chdb 2.1.1's `default` is not).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chmigrate.errors import DatabaseError

PYTHON248 = Path("/tmp/venv248/bin/python")
WORKER = Path(__file__).with_name("chdb248_worker.py")
_CODE = re.compile(r"Code: (\d+)\. (?:DB::Exception: )?(.*)", re.S)


def available() -> bool:
    return PYTHON248.exists()


class Engine248:
    embedded = True
    server_version = "24.8.4.1"

    def __init__(self, path: Path, database: str) -> None:
        self.path = path
        self.database = database
        self.requests = 0
        self._proc = subprocess.Popen(
            [str(PYTHON248), str(WORKER), str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, cwd=str(path.parent),
        )
        self._call(f"CREATE DATABASE IF NOT EXISTS `{database}` ENGINE = Atomic")

    def version_tuple(self) -> tuple[int, ...]:
        return (24, 8, 4)

    def _call(self, sql: str) -> str:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"sql": sql}) + "\n")
        self._proc.stdin.flush()
        reply = json.loads(self._proc.stdout.readline())
        if not reply["ok"]:
            text = " ".join(str(reply["error"]).split())
            match = _CODE.search(text)
            code = int(match.group(1)) if match else None
            raise DatabaseError(f"Code {code}: {match.group(2) if match else text}", code=code)
        return str(reply["data"])

    def _prefix(self, settings: Mapping[str, Any] | None) -> str:
        prefix = f"USE `{self.database}`; "
        for key, value in (settings or {}).items():
            if not isinstance(value, int):
                raise ValueError("only integer settings: chdb 2.1.1 persists SET statements unquoted")
            prefix += f"SET {key} = {value}; "
        return prefix

    def execute(self, sql: str, *, settings: Mapping[str, Any] | None = None,
                parameters: Mapping[str, Any] | None = None) -> None:
        assert not parameters
        self.requests += 1
        sql = re.sub(r"\s+(SYNC|NO\s+DELAY)\s*$", "", sql.strip().rstrip(";"), flags=re.I)
        self._call(self._prefix(settings) + sql)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None,
              settings: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        assert not parameters
        self.requests += 1
        text = self._call(self._prefix(settings) + sql)
        if not text.strip():
            return []
        return [tuple(row) for row in json.loads(text)["data"]]

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)
