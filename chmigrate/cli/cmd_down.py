"""`chmigrate down --to VERSION`: run down parts (ClickHouse) or an Alembic downgrade (Postgres)."""

from typing import Annotated

import typer

from chmigrate.cli.app import APPLY, app
from chmigrate.cli.cmd_up import TerminalReporter, YesOption, consent_for, destroyed_lines
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, LockTimeoutOption, command, exit_codes
from chmigrate.errors import EXIT_OK


@command(app, "down", panel=APPLY, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate down --only clickhouse --to 0002 --dry-run\n"
    "  chmigrate down --only clickhouse --to 0 --yes\n"
    "  chmigrate down --only postgres --to base\n\n"
    + exit_codes("0 reverted, or nothing to undo", "1 refused: dirty history, data it would destroy without "
                 "consent, or a protected environment", "2 usage error, e.g. a migration without a down part",
                 "3 database error")))
def down(
    ctx: Context,
    to: Annotated[str, typer.Option("--to", metavar="VERSION", help="the version to go back to (ClickHouse: "
                                    "0 for none; Postgres: a revision or base)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the statements and the data they would "
                                          "destroy; change nothing")] = False,
    yes: YesOption = False,
    format: FormatOption = "text",
    lock_timeout: LockTimeoutOption = None,
) -> int:
    """Undo migrations newer than --to, newest first.

    Needs --only when both engines are configured: a version belongs to one engine. Down statements that
    destroy stored data (rows read from system.parts) need consent: asked on a terminal, --yes otherwise."""
    from chmigrate import api
    from chmigrate.cli.render import down_document, run_notes, target_heading, up_notes

    result = api.down(ctx.settings, to=to, dry_run=dry_run, reporter=TerminalReporter(ctx.term),
                      consent=consent_for(ctx.term, yes, "down"))
    if format == "json":
        ctx.term.document(down_document(result))
        return EXIT_OK
    for t in result.targets:
        heading = target_heading(t.engine, t.target, t.embedded)
        if t.dry_run:
            ctx.term.line(f"{heading}: dry run")
            lines = [f"would revert {a.version} {a.name}" for a in t.applied]
            lines += [f"{s.version} down statement {s.index}: {s.sql}" for s in t.statements] + run_notes(t)
            lines += destroyed_lines(t)
            for note in lines or ["nothing to undo"]:
                ctx.term.line(f"  {note}")
        else:
            ctx.term.line(f"{heading}: reverted {len(t.applied)} migration(s)" if t.applied or t.at is None
                          else f"{heading}: nothing to undo")
            for a in t.applied:
                for i, sql in enumerate(a.sql, 1):
                    ctx.term.line(f"  reverted {a.version} {a.name}: down statement {i}: {' '.join(sql.split())}")
            for note in destroyed_lines(t) + up_notes(t):
                ctx.term.line(f"  {note}")
    return EXIT_OK
