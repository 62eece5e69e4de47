"""`chmigrate diff`: how the live schema differs from the migrations (read-only)."""

from typing import Annotated, Any, Optional

import typer

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.common import Context, command
from chmigrate.cli.render import target_heading
from chmigrate.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError

FORMATS = ("text", "json", "sql", "github")


@command(app, "diff", machine_format=True)
def diff(
    ctx: Context,
    format: Annotated[str, typer.Option("--format", help="text, json, sql or github")] = "text",
    exit_code: Annotated[bool, typer.Option("--exit-code", help="exit 1 when there is drift")] = False,
    dev_database: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--dev-database", help="replay the migrations into this scratch database on the target server "
        "(created and dropped) instead of a local engine")] = None,
) -> int:
    """Compare the live schema with the schema the migrations produce. Writes nothing to the target."""
    from chmigrate.schema import render

    if format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    result = api.diff(ctx.settings, dev_database=dev_database)
    ch, pg = result.clickhouse, result.postgres
    changes = ch.changes if ch else ()
    if format == "json":
        postgres: dict[str, Any] | None = None
        if pg is not None:
            postgres = {"target": pg.target, "changes": [{"kind": "postgres_drift", "detail": d}
                                                        for d in pg.differences]}
        ctx.term.raw(render.render_json(changes, postgres=postgres))
    elif format == "sql":
        if ch is not None:
            ctx.term.raw(render.render_sql(changes, ch.desired, database=ch.database))
        if pg is not None and pg.differences:
            ctx.term.raw("-- Postgres: reconcile with an Alembic revision (`alembic revision --autogenerate`):\n"
                         + "".join(f"--   {d}\n" for d in pg.differences))
    elif format == "github":
        if ch is not None:
            ctx.term.raw(render.render_github(changes, ch.files))
        for d in pg.differences if pg else ():
            ctx.term.raw(f"::error title=schema drift (postgres)::{d}")
    else:
        if ch is not None:
            ctx.term.line(target_heading("clickhouse", ch.target, ch.embedded) + f" database {ch.database}")
            ctx.term.line(render.render_text(changes).rstrip() if changes else "  no differences")
        if pg is not None:
            ctx.term.line(target_heading("postgres", pg.target, pg.embedded))
            for d in pg.differences or ("no differences",):
                ctx.term.line(f"  {d}")
    if ch is not None:
        origin = "cached" if ch.desired_cached else f"replayed on {ch.desired_engine}"
        ctx.term.info(f"desired schema {origin}; {ch.target_queries} queries sent to the target")
    return EXIT_CHECK_FAILED if exit_code and result.drift else EXIT_OK
