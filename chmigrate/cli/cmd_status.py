"""`chmigrate status`: one row per version and its state."""

from typing import Annotated

import typer

from chmigrate.cli.app import INSPECT, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, command, exit_codes
from chmigrate.errors import EXIT_CHECK_FAILED, EXIT_OK

_STYLES = {"applied": "green", "pending": "yellow", "changed": "red", "unknown": "red", "failed": "red",
           "dirty": "red"}


@command(app, "status", panel=INSPECT, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate status\n"
    "  chmigrate status --format json --exit-code\n\n"
    + exit_codes("0 shown", "1 with --exit-code, when any migration is not applied",
                 "2 usage, configuration or migration-file error", "3 database error")))
def status(
    ctx: Context,
    format: FormatOption = "text",
    exit_code: Annotated[bool, typer.Option("--exit-code", help="exit 1 unless every migration is applied")]
    = False,
) -> int:
    """Show each migration's state: applied, pending, changed, unknown, failed or dirty."""
    from chmigrate import api
    from chmigrate.cli.render import replica_status_lines, status_document, status_rows, target_heading

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
            if t.cluster is not None:
                ctx.term.line(f"  cluster {t.cluster}: {len(t.replicas)} replica(s), each one's own ledger")
                for line in replica_status_lines(t):
                    ctx.term.line(line)
    return EXIT_CHECK_FAILED if exit_code and not result.clean else EXIT_OK
