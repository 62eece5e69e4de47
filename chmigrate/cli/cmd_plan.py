"""`chmigrate plan`: the exact statements `up` would send, in order."""

from typing import Annotated, Optional

import typer

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.common import Context, command
from chmigrate.cli.render import plan_document, target_heading
from chmigrate.errors import EXIT_OK


@command(app, "plan", machine_format=True)
def plan(
    ctx: Context,
    to: Annotated[Optional[str], typer.Option("--to", help="stop after this version")] = None,  # noqa: UP045
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> int:
    """Print the statements `up` would send, each under its file and version. Changes nothing."""
    result = api.plan(ctx.settings, to=to)
    if format == "json":
        ctx.term.document(plan_document(result))
        return EXIT_OK
    for t in result.targets:
        ctx.term.line(f"-- {target_heading(t.engine, t.target, t.embedded)}")
        if not t.statements:
            ctx.term.line("-- nothing to apply")
        current = None
        for s in t.statements:
            if s.path != current:
                current = s.path
                ctx.term.line(f"\n-- version {s.version}: {s.path}")
            ctx.term.line(f"-- statement {s.index} (line {s.line})"
                          + (": its object already exists, `up` refuses (see `chmigrate baseline`)"
                             if s.exists else ""))
            ctx.term.line(s.sql.rstrip() + ";")
        for note in t.notes:
            ctx.term.line(f"-- {note}")
    return EXIT_OK
