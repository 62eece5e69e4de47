"""The README's commands run as written, and every flag it names for a command is in that command's --help.

Blocks marked `<!-- runnable -->` (or `<!-- runnable exit=N -->`) just before a ```sh fence are run in order,
each with `bash -euo pipefail`, in a fresh copy of the repository's tracked files, with this virtualenv's
`chmigrate` first on PATH and no CHMIGRATE_* setting: the embedded default. The production examples (a
port-forward, a secret) are never run; their flags are checked against `--help` instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
BIN = Path(sys.executable).parent
COMMANDS = ("up", "down", "baseline", "resolve", "status", "plan", "diff", "verify", "new", "unlock", "version",
            "doctor", "lint", "snapshot", "backfill")

_RUNNABLE = re.compile(r"<!-- runnable(?: exit=(\d+))? -->\n```sh\n(.*?)```", re.S)
# `chmigrate CMD ...` up to the end of its code span or line; `\|` in a table cell is a literal `|`
_INVOCATION = re.compile(r"chmigrate\s+(" + "|".join(COMMANDS) + r")\b([^`\n]*)")
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def runnable_blocks(text: str) -> list[tuple[int, str]]:
    """(expected exit code, script) of each runnable block, in README order."""
    return [(int(code or 0), body) for code, body in _RUNNABLE.findall(text)]


def named_flags(text: str) -> dict[str, set[str]]:
    """The flags the text names after `chmigrate CMD`, per command."""
    found: dict[str, set[str]] = {}
    for cmd, rest in _INVOCATION.findall(text):
        found.setdefault(cmd, set()).update(_FLAG.findall(rest))
    return found


def _env(extra_path: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CHMIGRATE_") and k not in ("CLICKHOUSE_PASSWORD", "PGPASSWORD")}
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "NO_COLOR": "1", "COLUMNS": "200",
                "TERM": "dumb"})
    return env


@cache
def help_text(cmd: str) -> str:
    r = subprocess.run([str(BIN / "chmigrate"), cmd, "--help"], capture_output=True, text=True, env=_env(),
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def missing_flags(flags: dict[str, set[str]]) -> list[str]:
    missing = []
    for cmd, names in sorted(flags.items()):
        offered = set(_FLAG.findall(help_text(cmd)))
        missing += [f"chmigrate {cmd} {flag}" for flag in sorted(names - offered)]
    return missing


def _copy_tracked(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        src = REPO / name
        if not name or not src.is_file() or src.is_symlink():
            continue
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / name)


def test_the_readme_has_runnable_blocks_and_flags_to_check() -> None:
    text = README.read_text()
    assert len(runnable_blocks(text)) >= 2
    assert {"up", "status", "diff", "baseline"} <= set(named_flags(text))


def test_runnable_blocks_exit_as_the_readme_says(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the tracked files")
    _copy_tracked(tmp_path)
    for expected, script in runnable_blocks(README.read_text()):
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == expected, (f"README block exited {r.returncode}, the README says {expected}:\n"
                                          f"{script}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}")


def test_every_flag_the_readme_names_is_in_the_commands_help() -> None:
    missing = missing_flags(named_flags(README.read_text()))
    assert not missing, "the README names flags these commands do not have: " + ", ".join(missing)


def test_the_checks_catch_a_renamed_flag_and_a_wrong_exit_code() -> None:
    text = ("run `chmigrate up --dry-run --no-such-flag`\n\n"
            "<!-- runnable exit=1 -->\n```sh\nchmigrate version\n```\n")
    assert missing_flags(named_flags(text)) == ["chmigrate up --no-such-flag"]
    [(expected, script)] = runnable_blocks(text)
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=_env(), capture_output=True, text=True,
                       timeout=60)
    assert (expected, r.returncode) == (1, 0)  # a block that exits differently from the README is noticed
