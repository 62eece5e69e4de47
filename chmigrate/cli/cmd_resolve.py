"""`chmigrate resolve VERSION --applied|--rolled-back`: mark a dirty migration after fixing it by hand."""

from typing import Annotated, Literal, Optional

import typer

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.common import Context, command
from chmigrate.errors import EXIT_OK, UsageError


@command(app, "resolve")
def resolve(
    ctx: Context,
    version: Annotated[str, typer.Argument(help="the dirty version")],
    applied: Annotated[bool, typer.Option("--applied", help="the database now holds all its changes")] = False,
    rolled_back: Annotated[bool, typer.Option("--rolled-back", help="the database holds none of them")]
    = False,
    lock_timeout: Annotated[Optional[float], typer.Option(  # noqa: UP045
        "--lock-timeout", help="seconds to wait for another run's lock [env CHMIGRATE_LOCK_TIMEOUT]")] = None,
) -> int:
    """Record by hand how a failed or interrupted ClickHouse migration ended (who and when are recorded)."""
    if applied == rolled_back:
        raise UsageError("say either --applied or --rolled-back")
    outcome: Literal["applied", "rolled_back"] = "applied" if applied else "rolled_back"
    done = api.resolve(ctx.settings, version, outcome)
    ctx.term.line(f"{done} marked {outcome.replace('_', ' ')}")
    return EXIT_OK
