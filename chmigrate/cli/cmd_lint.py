"""`chmigrate lint`: catch dangerous ClickHouse migrations before they run (needs no server)."""

from typing import Annotated, Optional

import typer

from chmigrate.cli.app import AUTHOR, app
from chmigrate.cli.common import Context, command, exit_codes
from chmigrate.errors import EXIT_CHECK_FAILED, EXIT_OK

FORMATS = ("text", "json", "github", "sarif")


@command(app, "lint", panel=AUTHOR, formats=FORMATS, epilog=(
    "Examples:\n"
    "  chmigrate lint                          # the pending migrations\n"
    "  chmigrate lint --since origin/main --format sarif > lint.sarif\n"
    "  chmigrate lint clickhouse/0004_add_region.sql --server-version 24.8\n"
    "  chmigrate lint --explain CH202\n\n"
    + exit_codes("0 no error (warnings allowed unless --strict)", "1 an error (or, with --strict, a warning)",
                 "2 lint could not run (usage, configuration or a file that does not parse)")))
def lint(
    ctx: Context,
    paths: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        metavar="PATHS", help="migration files (or the folder) to lint [default: the pending ones]")] = None,
    since: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--since", metavar="GIT_REF", help="lint the migration files added or changed since this git ref")] = None,
    format: Annotated[str, typer.Option("--format", metavar="FORMAT", help="text, json, github or sarif")]
    = "text",
    server_version: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--server-version", metavar="X.Y", help="the ClickHouse version the migrations must run on [default: "
        "server_version in [tool.chmigrate.lint], else the configured server's]")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="exit 1 on warnings too")] = False,
    explain: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--explain", metavar="CODE", help="describe a rule and exit")] = None,
) -> int:
    """Check migrations for statements that destroy data, rewrite whole tables, need a rebuild, break
    materialized views, do not run on the target server version, or diverge a cluster.

    Each file is read in the context of the schema the migrations before it produce (replayed in a scratch
    engine, as `diff` does). Accept a finding in the file with `-- chmigrate:lint-ignore CODE reason`;
    `[tool.chmigrate.lint]` sets severities and disables rules."""
    from chmigrate.errors import UsageError
    from chmigrate.lint.rules import RULES

    if explain is not None:
        r = RULES.get(explain.upper())
        if r is None:
            raise UsageError(f"--explain: {explain!r} is not a rule code", hint="codes look like CH202; the README "
                             "lists them")
        ctx.term.raw(f"{r.code} ({r.severity}): {r.summary}\n{r.doc}")
        return EXIT_OK
    from chmigrate import DISTRIBUTION, api, distribution_version
    from chmigrate.cli import lint_render

    if paths and since is not None:
        raise UsageError("give PATHS or --since, not both")
    result = api.lint(ctx.settings, paths=paths or (), since=since, server_version=server_version)
    if format == "json":
        ctx.term.document(lint_render.lint_document(result))
    elif format == "sarif":
        ctx.term.document(lint_render.lint_sarif(result, distribution_version(DISTRIBUTION)))
    elif format == "github":
        ctx.term.raw(lint_render.lint_github(result))
    else:
        for line in lint_render.lint_text(result):
            ctx.term.line(line)
    if format != "text":
        ctx.term.info(lint_render.lint_summary(result))
    failed = result.count("error") or (strict and result.count("warning"))
    return EXIT_CHECK_FAILED if failed else EXIT_OK
