"""Run a command against the test HTTP endpoint served by another interpreter's chDB.

Used by `make parity248`: the endpoint runs on chdb 2.1.1 (ClickHouse 24.8.4, production's version) in
its own virtualenv; the command (pytest -m server) gets its URL in CHMIGRATE_TEST_CLICKHOUSE_URL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.endpoint import start_endpoint  # noqa: E402

PASSWORD = "parity-248-pw"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True, help="interpreter whose chdb serves the endpoint")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = [c for c in args.command if c != "--"]
    with tempfile.TemporaryDirectory(prefix="chmigrate-parity-") as tmp:
        ep = start_endpoint(Path(tmp) / "data", password=PASSWORD, python=args.python)
        try:
            env = dict(os.environ, CHMIGRATE_TEST_CLICKHOUSE_URL=ep.url,
                       CHMIGRATE_TEST_CLICKHOUSE_PASSWORD=PASSWORD, CHMIGRATE_TEST_URL_IS_ENDPOINT="1")
            print(f"parity: endpoint on {args.python} at {ep.url}", flush=True)
            return subprocess.call(cmd, env=env)
        finally:
            ep.stop()


if __name__ == "__main__":
    raise SystemExit(main())
