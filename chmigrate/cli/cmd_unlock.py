"""`chmigrate unlock`: release a stale lease left by a crashed run."""

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.common import Context, command
from chmigrate.errors import EXIT_OK


@command(app, "unlock")
def unlock(ctx: Context) -> int:
    """Release the ClickHouse lease lock of a run that crashed (leases also expire by themselves)."""
    released = api.unlock(ctx.settings)
    for line in released or ["no lease held: nothing to release"]:
        ctx.term.line(line)
    return EXIT_OK
