"""`chmigrate unlock`: release a stale lock left by a crashed run."""

from typing import Annotated

import typer

from chmigrate.cli.app import OPERATE, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, command, exit_codes
from chmigrate.errors import EXIT_OK


@command(app, "unlock", panel=OPERATE, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate unlock --clickhouse-url https://default@ch.example:8443/analytics\n"
    "  chmigrate unlock --force --format json   # the holder is known to be dead\n\n"
    + exit_codes("0 released, or nothing held", "2 usage or configuration error", "3 database error")))
def unlock(
    ctx: Context,
    force: Annotated[bool, typer.Option("--force", help="also free a claim that has not expired yet (only when "
                                        "its run is known to be dead)")] = False,
    format: FormatOption = "text",
) -> int:
    """Release the ClickHouse lock (KeeperMap claim or lease) of a crashed run; claims also expire by themselves."""
    from chmigrate import api
    from chmigrate.cli.render import released_line, unlock_document

    released = api.unlock(ctx.settings, force=force)
    if format == "json":
        ctx.term.document(unlock_document(released))
        return EXIT_OK
    for c in released:
        ctx.term.line(released_line(c))
    if not released:
        ctx.term.line("no lock held: nothing to release")
    return EXIT_OK
