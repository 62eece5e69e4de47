"""`chmigrate unlock`: release a stale lock left by a crashed run."""

from typing import Annotated

import typer

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.common import Context, command
from chmigrate.errors import EXIT_OK


@command(app, "unlock")
def unlock(
    ctx: Context,
    force: Annotated[bool, typer.Option("--force", help="also free a claim that has not expired yet (only when "
                                        "its run is known to be dead)")] = False,
) -> int:
    """Release the ClickHouse lock (KeeperMap claim or lease) of a crashed run; claims also expire by themselves."""
    released = api.unlock(ctx.settings, force=force)
    for c in released:
        state = "live" if c.live else "expired"
        ctx.term.line(f"released the {c.kind} claim of {c.holder} on {c.host} ({state}; claimed {c.claimed_at} UTC)")
    if not released:
        ctx.term.line("no lock held: nothing to release")
    return EXIT_OK
