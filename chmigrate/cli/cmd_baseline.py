"""`chmigrate baseline --to VERSION`: adopt a database whose objects were created by hand."""

from typing import Annotated

import typer

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.common import Context, command
from chmigrate.errors import EXIT_CHECK_FAILED, EXIT_OK


@command(app, "baseline")
def baseline(
    ctx: Context,
    to: Annotated[str, typer.Option("--to", help="the last version the database already holds")],
) -> int:
    """Record versions up to --to as applied, only if the live schema equals what they produce."""
    from chmigrate.schema import render

    result = api.baseline(ctx.settings, to=to)
    if result.changes:
        ctx.term.line(render.render_text(result.changes).rstrip())
        ctx.term.error(f"baseline refused: the live schema of {result.database} differs from migrations up to "
                       f"{to} ({len(result.changes)} difference(s) above)",
                       "reconcile the database (`chmigrate diff --format sql`) or fix the migrations, then retry")
        return EXIT_CHECK_FAILED
    ctx.term.line(f"baselined {result.database}: recorded {', '.join(result.recorded)} as applied")
    return EXIT_OK
