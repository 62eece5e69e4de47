"""`chmigrate baseline --to VERSION`: adopt a database whose objects were created by hand."""

from typing import Annotated

import typer

from chmigrate.cli.app import APPLY, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, LockTimeoutOption, command, exit_codes
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
    reconcile: Annotated[bool, typer.Option(
        "--reconcile", help="first apply the differences ClickHouse changes in place without touching data "
        "(comments, a view query with unchanged output, metadata-only settings)")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print what would be applied; change nothing")] = False,
    format: FormatOption = "text",
    lock_timeout: LockTimeoutOption = None,
) -> int:
    """Record versions up to --to as applied, only if the live schema equals what they produce."""
    from chmigrate import api
    from chmigrate.cli.render import baseline_document
    from chmigrate.cli.wording import refusal
    from chmigrate.schema import render

    result = api.baseline(ctx.settings, to=to, reconcile=reconcile, dry_run=dry_run)
    if format == "json":
        ctx.term.document(baseline_document(result))
        return EXIT_CHECK_FAILED if result.refused or (result.changes and not reconcile) else EXIT_OK
    if result.refused:
        ctx.term.line(render.render_text(result.changes).rstrip())
        for change, reason in result.refused:
            ctx.term.line(f"cannot reconcile {change.object}"
                          + (f" {change.attribute}" if change.attribute else "") + f": {refusal(reason)}")
        first, why = result.refused[0]
        ctx.term.error(f"baseline --reconcile refused: {len(result.refused)} difference(s) touch data or need a "
                       f"rebuild ({first.object}: {refusal(why)}); nothing was applied or recorded",
                       "fix the database or the migrations by hand (`chmigrate diff --format sql`), then retry")
        return EXIT_CHECK_FAILED
    if result.changes and not reconcile:
        ctx.term.line(render.render_text(result.changes).rstrip())
        ctx.term.error(f"baseline refused: the live schema of {result.database} differs from migrations up to "
                       f"{to} ({len(result.changes)} difference(s) above: {render.count_by_kind(result.changes)})",
                       f"`chmigrate baseline --to {to} --reconcile --dry-run` shows the statements that reconcile "
                       "them in place, if all can be; or fix the database or the migrations, then retry")
        return EXIT_CHECK_FAILED
    if result.dry_run:
        if result.statements:
            ctx.term.line(f"-- baseline --reconcile would apply {len(result.statements)} statement(s) to "
                          f"{result.database}, then record versions up to {to} as applied:")
            for statement in result.statements:
                ctx.term.line(statement + ";")
        else:
            ctx.term.line(f"no differences: baseline would record versions up to {to} as applied")
        return EXIT_OK
    for statement in result.statements:
        ctx.term.line(f"applied: {statement};")
    if result.statements:
        ctx.term.line(f"applied {len(result.statements)} statement(s); `diff` now finds no differences")
    ctx.term.line(f"baselined {result.database}: recorded {', '.join(result.recorded)} as applied "
                  f"(by {result.recorded_by} at {result.recorded_at} UTC)")
    return EXIT_OK
