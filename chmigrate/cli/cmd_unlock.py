"""`chmigrate unlock`: release a stale lock left by a crashed run."""

from chmigrate.cli.app import OPERATE, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, command, exit_codes
from chmigrate.cli.render import unlock_document
from chmigrate.errors import EXIT_OK


@command(app, "unlock", panel=OPERATE, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate unlock --clickhouse-url https://default@ch.example:8443/analytics\n"
    "  chmigrate unlock --format json\n\n"
    + exit_codes("0 released, or nothing held", "2 usage or configuration error", "3 database error")))
def unlock(ctx: Context, format: FormatOption = "text") -> int:
    """Release the ClickHouse lock (KeeperMap claim or lease) of a crashed run; both also expire."""
    from chmigrate import api

    released = api.unlock(ctx.settings)
    if format == "json":
        ctx.term.document(unlock_document(released))
        return EXIT_OK
    for line in released or ["no lock held: nothing to release"]:
        ctx.term.line(line)
    return EXIT_OK
