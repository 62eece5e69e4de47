"""`chmigrate diff`: how the live schema differs from the migrations (read-only)."""

from typing import Annotated, Optional

import typer

from chmigrate.cli.app import INSPECT, app
from chmigrate.cli.common import Context, command, exit_codes
from chmigrate.errors import EXIT_CHECK_FAILED, EXIT_OK

FORMATS = ("text", "json", "sql", "github")


@command(app, "diff", panel=INSPECT, formats=FORMATS, epilog=(
    "Examples:\n"
    "  chmigrate diff --exit-code\n"
    "  chmigrate diff --format sql > reconcile.sql\n\n"
    + exit_codes("0 compared (drift or not)", "1 with --exit-code, when there is drift",
                 "2 usage, configuration or migration-file error", "3 database error")))
def diff(
    ctx: Context,
    format: Annotated[str, typer.Option("--format", metavar="FORMAT", help="text, json, sql or github")]
    = "text",
    exit_code: Annotated[bool, typer.Option("--exit-code", help="exit 1 when there is drift")] = False,
    dev_database: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--dev-database", metavar="NAME", help="replay the migrations into this scratch database on the "
        "target server (created and dropped) instead of a local engine")] = None,
) -> int:
    """Compare the live schema with the schema the migrations produce. Writes nothing to the target."""
    from chmigrate import api
    from chmigrate.cli.render import diff_document, target_heading
    from chmigrate.schema import render

    result = api.diff(ctx.settings, dev_database=dev_database)
    ch, pg = result.clickhouse, result.postgres
    changes = ch.changes if ch else ()
    if format == "json":
        ctx.term.document(diff_document(result))
    elif format == "sql":
        if ch is not None:
            ctx.term.raw(render.render_sql(changes, ch.desired, database=ch.database))
        if pg is not None and pg.differences:
            ctx.term.raw("-- Postgres: reconcile with an Alembic revision (`alembic revision --autogenerate`):\n"
                         + "".join(f"--   {' '.join(d.splitlines())}\n" for d in pg.differences))
    elif format == "github":
        if ch is not None:
            ctx.term.raw(render.render_github(changes, ch.files))
        for d in pg.differences if pg else ():
            ctx.term.raw(render.github_annotation(d, title="schema drift (postgres)"))
    else:
        if ch is not None:
            ctx.term.line(target_heading("clickhouse", ch.target, ch.embedded) + f" database {ch.database}")
            if ch.cluster is not None:
                ctx.term.line(f"  cluster {ch.cluster}: {len(ch.replicas)} replica(s), each compared")
                for r in ch.replicas:
                    if not r.changes:
                        ctx.term.line(f"  replica {r.replica.label}: no differences")
                        continue
                    ctx.term.line(f"  replica {r.replica.label}:")
                    ctx.term.line("\n".join(("    " + line).rstrip() for line in render.render_text(r.changes)
                                            .rstrip().splitlines()))
            else:
                ctx.term.line(render.render_text(changes).rstrip() if changes else "  no differences")
        if pg is not None:
            ctx.term.line(target_heading("postgres", pg.target, pg.embedded))
            for d in pg.differences or ("no differences",):
                ctx.term.line(f"  {d}")
    if ch is not None:
        origin = {"snapshot": "from the committed snapshot", "cache": "cached"}.get(
            ch.desired_source, f"replayed on {ch.desired_engine}")
        stale = "; the committed snapshot is stale (run `chmigrate snapshot`)" if ch.snapshot == "stale" else ""
        ctx.term.info(f"desired schema {origin}; {ch.target_queries} queries sent to the target{stale}")
    return EXIT_CHECK_FAILED if exit_code and result.drift else EXIT_OK
