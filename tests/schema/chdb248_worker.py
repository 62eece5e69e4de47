"""Run SQL on chdb 2.1.1 (ClickHouse 24.8) for the 24.8 parity tests; started with /tmp/venv248's python.

Protocol: one JSON request per stdin line, {"sql": "..."}; one JSON reply per stdout line,
{"ok": true, "data": "<JSONCompact text>"} or {"ok": false, "error": "..."}.
Each call runs in a forked child of this process, which imports chdb itself: chdb 2.1.1 can hang
or crash on a DROP in a process that already dropped something (see /work/shared/CHDB-2.1.1.md),
and a child forked from a parent that imported chdb hangs. A start-up failure (code 722) is retried.
"""

from __future__ import annotations

import json
import os
import shutil
import sys


def run_child(sql: str, path: str) -> dict[str, object]:
    try:
        import chdb  # type: ignore[import-not-found]

        result = chdb.query(sql, "JSONCompact", path=path)
        return {"ok": True, "data": result.bytes().decode()}
    except Exception as exc:
        return {"ok": False, "error": str(exc)}


def run(sql: str, path: str) -> dict[str, object]:
    if os.environ.get("CHDB248_TRACE"):
        sys.stderr.write("CALL " + sql[:300].replace("\n", " ") + "\n")
        sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        # clickhouse-local reads a non-terminal stdin as data (e.g. for INSERT): give it nothing.
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        reply = run_child(sql, path)
        with os.fdopen(write_fd, "w") as out:
            out.write(json.dumps(reply))
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as inp:
        text = inp.read()
    os.waitpid(pid, 0)
    shutil.rmtree(os.path.join(path, "metadata_dropped"), ignore_errors=True)
    if not text:
        return {"ok": False, "error": "chdb 2.1.1 child process died without a reply"}
    reply: dict[str, object] = json.loads(text)
    return reply


def main() -> None:
    path = sys.argv[1]
    for line in sys.stdin:
        request = json.loads(line)
        reply: dict[str, object] = {}
        for _ in range(5):
            reply = run(request["sql"], path)
            if reply["ok"] or "Code: 722." not in str(reply["error"]):
                break
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
