"""`chmigrate baseline --to VERSION`: adopt a database whose objects were created by hand."""

from typing import Annotated

import typer

from chmigrate.cli.app import APPLY, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, LockTimeoutOption, command, exit_codes
from chmigrate.cli.render import baseline_document
from chmigrate.errors import EXIT_CHECK_FAILED, EXIT_OK


@command(app, "baseline", panel=APPLY, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate baseline --to 0003 --clickhouse-url https://default@ch.example:8443/analytics\n"
    "  chmigrate baseline --to 0003 --format json\n\n"
    + exit_codes("0 recorded", "1 refused: the live schema differs (the differences are printed)",
                 "2 usage or configuration error", "3 database error")))
def baseline(
    ctx: Context,
    to: Annotated[str, typer.Option("--to", metavar="VERSION",
                                    help="the last version the database already holds")],
    format: FormatOption = "text",
    lock_timeout: LockTimeoutOption = None,
) -> int:
    """Record versions up to --to as applied, only if the live schema equals what they produce."""
    from chmigrate import api
    from chmigrate.schema import render

    result = api.baseline(ctx.settings, to=to)
    if format == "json":
        ctx.term.document(baseline_document(result))
        return EXIT_CHECK_FAILED if result.changes else EXIT_OK
    if result.changes:
        ctx.term.line(render.render_text(result.changes).rstrip())
        ctx.term.error(f"baseline refused: the live schema of {result.database} differs from migrations up to "
                       f"{to} ({len(result.changes)} difference(s) above)",
                       "reconcile the database (`chmigrate diff --format sql`) or fix the migrations, then retry")
        return EXIT_CHECK_FAILED
    ctx.term.line(f"baselined {result.database}: recorded {', '.join(result.recorded)} as applied")
    return EXIT_OK
