"""`chmigrate snapshot [--check]`: commit the desired schema beside the migrations."""

from typing import Annotated

import typer

from chmigrate.cli.app import AUTHOR, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, command, exit_codes
from chmigrate.errors import EXIT_OK


@command(app, "snapshot", panel=AUTHOR, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate snapshot           # then commit clickhouse/schema.snapshot.json\n"
    "  chmigrate snapshot --check   # in CI: fail when the migrations changed since\n\n"
    + exit_codes("0 written, or current", "1 --check: missing or stale", "2 a bad migration file")))
def snapshot(
    ctx: Context,
    check: Annotated[bool, typer.Option("--check", help="write nothing; exit 1 unless the snapshot is "
                                        "current")] = False,
    format: FormatOption = "text",
) -> int:
    """Write the schema the migrations produce to schema.snapshot.json beside them.

    `diff` and `verify` then read it instead of replaying every migration (a fresh CI runner has no
    cache); `verify` fails when it is stale, and `up` on the local engine keeps it current. Needs no
    server."""
    from chmigrate import api
    from chmigrate.cli.render import JSON_VERSION

    r = api.snapshot(ctx.settings, check=check)
    if format == "json":
        ctx.term.document({"version": JSON_VERSION, "clickhouse": {
            "snapshot": r.path, "before": r.before, "written": r.written, "source": r.source,
            "tables": r.tables, "views": r.views}})
    elif r.written:
        was = {"missing": "new", "stale": "was stale"}.get(r.before, r.before)
        ctx.term.line(f"wrote {r.path} ({was}): {r.tables} tables, {r.views} views; commit it with the migrations")
    else:
        ctx.term.line(f"{r.path} is current: {r.tables} tables, {r.views} views")
    return EXIT_OK
