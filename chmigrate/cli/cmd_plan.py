"""`chmigrate plan`: the exact statements `up` would send, in order."""

from typing import Annotated, Optional

import typer

from chmigrate.cli.app import INSPECT, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, command, exit_codes
from chmigrate.errors import EXIT_OK


@command(app, "plan", panel=INSPECT, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate plan\n"
    "  chmigrate plan --only clickhouse --to 0004 --format json\n\n"
    + exit_codes("0 printed", "2 usage, configuration or migration-file error", "3 database error")))
def plan(
    ctx: Context,
    to: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--to", metavar="VERSION", help="stop after this version")] = None,
    format: FormatOption = "text",
) -> int:
    """Print the statements `up` would send, in order. Changes nothing.

    Each statement is shown under its file and version (Postgres: Alembic's offline SQL)."""
    from chmigrate import api
    from chmigrate.cli.render import EXISTS_NOTE, plan_document, plan_notes, script_lines, target_heading

    result = api.plan(ctx.settings, to=to)
    if format == "json":
        ctx.term.document(plan_document(result))
        return EXIT_OK
    for t in result.targets:
        ctx.term.line(f"-- {target_heading(t.engine, t.target, t.embedded)}")
        if not t.statements:
            ctx.term.line("-- nothing to apply")
        elif t.script:
            for line in script_lines(t.statements, t.script, t.lock):
                ctx.term.line(line)
        else:
            current = None
            for s in t.statements:
                if s.path != current:
                    current = s.path
                    ctx.term.line(f"\n-- version {s.version}: {s.path}")
                ctx.term.line(f"-- statement {s.index} (line {s.line})" + (EXISTS_NOTE if s.exists else ""))
                ctx.term.line(s.sql.rstrip() + ";")
        for note in plan_notes(t):
            ctx.term.line(f"-- {note}")
    return EXIT_OK
