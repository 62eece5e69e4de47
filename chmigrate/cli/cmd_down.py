"""`chmigrate down --to VERSION`: run down parts (ClickHouse) or an Alembic downgrade (Postgres)."""

from typing import Annotated, Optional

import typer

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.cmd_up import TerminalReporter
from chmigrate.cli.common import Context, command
from chmigrate.cli.render import target_heading, up_notes
from chmigrate.errors import EXIT_OK


@command(app, "down")
def down(
    ctx: Context,
    to: Annotated[str, typer.Option("--to", help="the version to go back to (ClickHouse: 0 for none; "
                                    "Postgres: a revision or base)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the statements; change nothing")] = False,
    lock_timeout: Annotated[Optional[float], typer.Option(  # noqa: UP045
        "--lock-timeout", help="seconds to wait for another run's lock [env CHMIGRATE_LOCK_TIMEOUT]")] = None,
) -> int:
    """Undo migrations newer than --to, newest first (needs --only when both engines are configured)."""
    result = api.down(ctx.settings, to=to, dry_run=dry_run, reporter=TerminalReporter(ctx.term))
    for t in result.targets:
        heading = target_heading(t.engine, t.target, t.embedded)
        if t.dry_run:
            ctx.term.line(f"{heading}: dry run")
            lines = [f"{s.version} down statement {s.index}: {s.sql}" for s in t.statements] + list(t.notes)
            for note in lines or ["nothing to undo"]:
                ctx.term.line(f"  {note}")
        else:
            ctx.term.line(f"{heading}: reverted {len(t.applied)} migration(s)")
            for note in up_notes(t):
                ctx.term.line(f"  {note}")
    return EXIT_OK
