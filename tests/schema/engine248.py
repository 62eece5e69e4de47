"""A ClickHouse 24.8 engine (chdb 2.1.1 in /tmp/venv248) behind the same query/execute surface as
`chmigrate.targets.clickhouse.ClickHouse`, for the 24.8 parity tests.

Stand-in until the HTTP test endpoint (tests/support/endpoint.py) serves chdb 2.1.1.
Statements run in `database` (a persistent Atomic database; chdb 2.1.1's `default` is not).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chmigrate.errors import DatabaseError

PYTHON248 = next(
    (Path(c) for c in (os.environ.get("CHMIGRATE_TEST_CHDB248_PYTHON"),
                       str(Path(__file__).resolve().parents[2] / ".venv-248" / "bin" / "python"),
                       "/tmp/venv248/bin/python") if c and Path(c).exists()),
    Path("/tmp/venv248/bin/python"),
)
NO_248 = "no chdb 2.1.1 interpreter: set CHMIGRATE_TEST_CHDB248_PYTHON or create .venv-248 (make test does)"
WORKER = Path(__file__).with_name("chdb248_worker.py")
_CODE = re.compile(r"Code: (\d+)\. (?:DB::Exception: )?(.*)", re.S)
_DROPPY = re.compile(r"\s*(DROP|RENAME|EXCHANGE)\b", re.I)


def _strip_sync(sql: str) -> str:
    """DROP ... SYNC hangs in a fresh chdb 2.1.1 process (the background drop never completes)."""
    return re.sub(r"\s+(SYNC|NO\s+DELAY)\s*$", "", sql.strip().rstrip(";"), flags=re.I)


def available() -> bool:
    return PYTHON248.exists()


class Engine248:
    embedded = True
    server_version = "24.8.4.1"

    def __init__(self, path: Path, database: str) -> None:
        self.path = path
        self.database = database
        self.requests = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [str(PYTHON248), str(WORKER), str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(path.parent),
        )
        self._batch = 0
        self._progress_ready = False
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

    def execute(
        self,
        sql: str,
        *,
        settings: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        assert not parameters
        self.requests += 1
        self._call(self._prefix(settings) + _strip_sync(sql))

    def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        assert not parameters
        self.requests += 1
        text = self._call(self._prefix(settings) + sql)
        if not text.strip():
            return []
        return [tuple(row) for row in json.loads(text)["data"]]

    def run_script(self, statements: Sequence[str]) -> list[str | None]:
        """Run statements in order; the engine's error text per statement (None when it succeeded).

        Consecutive statements share one engine start; each is followed by a progress row so that
        after a failure the statements that did run are known. A DROP, RENAME or EXCHANGE starts a
        new call (chdb 2.1.1 can hang on a second DROP within one process).
        """
        results: list[str | None] = []
        i = 0
        if not self._progress_ready:
            self._call(
                "CREATE DATABASE IF NOT EXISTS _harness ENGINE = Atomic; "
                "CREATE TABLE IF NOT EXISTS _harness.progress (batch UInt64, n UInt64) ENGINE = TinyLog"
            )
            self._progress_ready = True
        while i < len(statements):
            chunk = [statements[i]]
            while i + len(chunk) < len(statements) and not _DROPPY.match(statements[i + len(chunk)]):
                chunk.append(statements[i + len(chunk)])
            self._batch += 1
            parts = [f"USE `{self.database}`"]
            for n, sql in enumerate(chunk, 1):
                parts.append(_strip_sync(sql))
                parts.append(f"INSERT INTO _harness.progress VALUES ({self._batch}, {n})")
            self.requests += 1
            try:
                self._call(";\n".join(parts))
                results.extend([None] * len(chunk))
                i += len(chunk)
            except DatabaseError as exc:
                done = int(
                    self.query(f"SELECT max(n) FROM _harness.progress WHERE batch = {self._batch}")[0][0]
                )
                results.extend([None] * done)
                results.append(exc.message)
                i += done + 1
        return results

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)
