"""`chmigrate verify`: pass only if the database is exactly what the code says."""

from typing import Annotated, Optional

import typer

from chmigrate.cli.app import INSPECT, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, command, exit_codes
from chmigrate.errors import EXIT_CHECK_FAILED, EXIT_OK


@command(app, "verify", panel=INSPECT, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate verify\n"
    "  chmigrate verify --clickhouse-url https://default@ch.example:8443/analytics --only clickhouse "
    "--format json\n\n"
    + exit_codes("0 every check passed", "1 a check failed", "2 usage, configuration or migration-file error",
                 "3 database error")))
def verify(
    ctx: Context,
    format: FormatOption = "text",
    dev_database: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--dev-database", metavar="NAME", help="replay into this scratch database on the target instead of a "
        "local engine")] = None,
) -> int:
    """Pass only if the database is exactly what the migrations say.

    Every migration applied with matching checksums, nothing unknown, failed or half-applied, no schema
    drift, and every materialized view's columns fit its target."""
    from chmigrate import api
    from chmigrate.cli.render import verify_document
    from chmigrate.cli.wording import check_title, problem_line

    result = api.verify(ctx.settings, dev_database=dev_database)
    if format == "json":
        ctx.term.document(verify_document(result))
    else:
        for c in result.checks:
            ctx.term.line(f"{'PASS' if c.passed else 'FAIL'}  {c.engine}: {check_title(c)}")
            for p in c.problems:
                ctx.term.line(f"      {problem_line(p)}")
        failed = sum(not c.passed for c in result.checks)
        ctx.term.line(f"verify: {'passed' if result.passed else 'FAILED'} "
                      f"({len(result.checks) - failed}/{len(result.checks)} checks)")
    return EXIT_OK if result.passed else EXIT_CHECK_FAILED
