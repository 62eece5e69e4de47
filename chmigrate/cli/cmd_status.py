"""`chmigrate status`: one row per version and its state."""

from typing import Annotated

import typer

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.common import Context, command
from chmigrate.cli.render import status_document, status_rows, target_heading
from chmigrate.errors import EXIT_CHECK_FAILED, EXIT_OK

_STYLES = {"applied": "green", "pending": "yellow", "changed": "red", "unknown": "red", "failed": "red",
           "dirty": "red"}


@command(app, "status", machine_format=True)
def status(
    ctx: Context,
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    exit_code: Annotated[bool, typer.Option("--exit-code", help="exit 1 unless every migration is applied")]
    = False,
) -> int:
    """Show each migration's state: applied, pending, changed, unknown, failed or dirty."""
    if format not in ("text", "json"):
        raise typer.BadParameter("--format must be text or json")
    result = api.status(ctx.settings)
    if format == "json":
        ctx.term.document(status_document(result))
    else:
        for t in result.targets:
            rows = status_rows(t)
            ctx.term.table(target_heading(t.engine, t.target, t.embedded),
                           ["version", "name", "state", "checksum", "recorded", "detail"], rows,
                           [_STYLES.get(m.state) for m in t.migrations])
            if not rows:
                ctx.term.line("  (no migrations)")
    return EXIT_CHECK_FAILED if exit_code and not result.clean else EXIT_OK
