"""Run the real `chmigrate` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def all(self) -> str:
        return self.out + self.err


def chmigrate(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120,
              stdin: str | None = None) -> Run:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHMIGRATE_")
            and k not in ("CLICKHOUSE_PASSWORD", "PGPASSWORD")}
    base.update(env or {})
    p = subprocess.run([sys.executable, "-m", "chmigrate", *args], cwd=cwd, env=base, capture_output=True,
                       text=True, timeout=timeout, input=stdin)
    return Run(p.returncode, p.stdout, p.stderr)
