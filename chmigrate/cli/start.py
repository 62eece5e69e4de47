"""The console script's entry point: answers `--version` before Typer loads, hands everything else to the
Typer application (chmigrate.cli.app)."""

from __future__ import annotations

import sys


def version_line() -> str:
    """`chmigrate X.Y.Z (clickhouse-connect A.B.C, chDB D.E.F)`, from package metadata (no engine starts)."""
    from chmigrate import DISTRIBUTION, distribution_version

    return (f"chmigrate {distribution_version(DISTRIBUTION)} (clickhouse-connect "
            f"{distribution_version('clickhouse-connect')}, chDB {distribution_version('chdb')})")


def main() -> None:
    if sys.argv[1:] in (["--version"], ["version"]):
        # The same line as the option and the command print, without loading Typer or any command: the
        # quickest answer, and one that can start no engine.
        print(version_line())
        return
    from chmigrate.cli.app import main as run

    run()
