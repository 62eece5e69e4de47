"""`chmigrate resolve VERSION --applied|--rolled-back`: mark a dirty migration after fixing it by hand."""

from typing import Annotated, Literal

import typer

from chmigrate.cli.app import APPLY, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, LockTimeoutOption, command, exit_codes
from chmigrate.errors import EXIT_OK, UsageError


@command(app, "resolve", panel=APPLY, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate resolve 0004 --rolled-back   # you undid its statements by hand; `up` runs it again\n"
    "  chmigrate resolve 0004 --applied       # you finished it by hand; `up` goes on with 0005\n\n"
    + exit_codes("0 recorded", "1 the version is not dirty", "2 usage error (say --applied or --rolled-back)",
                 "3 database error")))
def resolve(
    ctx: Context,
    version: Annotated[str, typer.Argument(metavar="VERSION", help="the dirty version")],
    applied: Annotated[bool, typer.Option("--applied", help="the database now holds all its changes")] = False,
    rolled_back: Annotated[bool, typer.Option("--rolled-back", help="the database holds none of them")]
    = False,
    format: FormatOption = "text",
    lock_timeout: LockTimeoutOption = None,
) -> int:
    """Record by hand how a failed or interrupted ClickHouse migration ended.

    Who and when are recorded in the ledger."""
    from chmigrate import api
    from chmigrate.cli.render import resolve_document

    if applied == rolled_back:
        raise UsageError("say either --applied or --rolled-back")
    outcome: Literal["applied", "rolled_back"] = "applied" if applied else "rolled_back"
    done = api.resolve(ctx.settings, version, outcome)
    detail = f"{done} marked {outcome.replace('_', ' ')}"
    if format == "json":
        ctx.term.document(resolve_document(version, outcome, detail))
    else:
        ctx.term.line(detail)
    return EXIT_OK
