"""`chmigrate unlock`: release a stale lock left by a crashed run."""

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.common import Context, command
from chmigrate.errors import EXIT_OK


@command(app, "unlock")
def unlock(ctx: Context) -> int:
    """Release the ClickHouse lock (KeeperMap claim or lease) of a crashed run; both also expire."""
    released = api.unlock(ctx.settings)
    for line in released or ["no lock held: nothing to release"]:
        ctx.term.line(line)
    return EXIT_OK
