"""`chmigrate verify`: pass only if the database is exactly what the code says."""

from typing import Annotated, Optional

import typer

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.common import Context, command
from chmigrate.errors import EXIT_CHECK_FAILED, EXIT_OK


@command(app, "verify", machine_format=True)
def verify(
    ctx: Context,
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    dev_database: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--dev-database", help="replay into this scratch database on the target instead of a local engine")]
    = None,
) -> int:
    """Check: every migration applied with matching checksums, nothing unknown, failed or half-applied,
    no schema drift, and every materialized view's columns fit its target. Exit 0 or 1."""
    result = api.verify(ctx.settings, dev_database=dev_database)
    if format == "json":
        ctx.term.document({"version": 1, "passed": result.passed,
                           "checks": [{"engine": c.engine, "check": c.name, "passed": c.passed,
                                       "details": list(c.details)} for c in result.checks]})
    else:
        for c in result.checks:
            ctx.term.line(f"{'PASS' if c.passed else 'FAIL'}  {c.engine}: {c.name}")
            for d in c.details:
                ctx.term.line(f"      {d}")
        failed = sum(not c.passed for c in result.checks)
        ctx.term.line(f"verify: {'passed' if result.passed else 'FAILED'} "
                      f"({len(result.checks) - failed}/{len(result.checks)} checks)")
    return EXIT_OK if result.passed else EXIT_CHECK_FAILED
