"""`chmigrate backfill`: rebuild a materialized view's target from its source, partition by partition."""

import time
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from chmigrate.cli.app import OPERATE, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, LockTimeoutOption, command, exit_codes
from chmigrate.cli.output import PartitionProgress
from chmigrate.errors import EXIT_OK

if TYPE_CHECKING:
    from chmigrate.results import BackfillPartition


class ProgressReporter:
    def __init__(self, bar: PartitionProgress) -> None:
        self.bar = bar
        self.total = 0

    def partition_started(self, partition: str, index: int, total: int, source_rows: int) -> None:
        self.total = source_rows
        self.bar.start(f"partition {partition} ({index}/{total})", source_rows)

    def partition_progress(self, read_rows: int) -> None:
        self.bar.advance_to(read_rows)

    def partition_done(self, result: "BackfillPartition") -> None:
        from chmigrate.cli.render import backfill_line

        self.bar.finish(f"  {backfill_line(result)}", self.total)


@command(app, "backfill", panel=OPERATE, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate backfill llm_usage_daily_mv --dry-run\n"
    "  chmigrate backfill llm_usage_daily_mv --from 2026-01-01 --to 2026-03-31 --format json\n\n"
    + exit_codes("0 rebuilt (or nothing to rebuild)", "1 refused: --to names a partition rows may still arrive "
                 "for", "2 usage error or a view backfill cannot rebuild", "3 database error")))
def backfill(
    ctx: Context,
    view: Annotated[str, typer.Argument(metavar="VIEW", help="the materialized view whose TO target to rebuild")],
    date_from: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--from", metavar="DATE", help="first partition: the one holding this date (YYYY-MM-DD)")] = None,
    date_to: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--to", metavar="DATE", help="last partition: the one holding this date (YYYY-MM-DD)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the partitions and their source rows; "
                                          "change nothing")] = False,
    include_current: Annotated[bool, typer.Option("--include-current", help="also rebuild partitions rows "
                                                  "may still arrive for (now or the last hour)")] = False,
    format: FormatOption = "text",
    lock_timeout: LockTimeoutOption = None,
) -> int:
    """Rebuild a materialized view's TO target from its source with the view's own SELECT, whole partitions
    at a time.

    Each partition is computed into a staging table and swapped in with one ALTER, so a rerun or an
    interrupted run never counts a row twice (REPLACE PARTITION from ClickHouse 26.7, DROP + ATTACH PARTITION
    before: 24.8's REPLACE brings replaced parts back after a restart). Partitions rows may still arrive for, and
    those whose raw rows the source's TTL is deleting, are left alone."""
    from chmigrate import api
    from chmigrate.cli.render import backfill_document, backfill_line

    t0 = time.perf_counter()
    bar = PartitionProgress(ctx.term)
    try:
        result = api.backfill(ctx.settings, view, date_from=date_from, date_to=date_to, dry_run=dry_run,
                              include_current=include_current, reporter=ProgressReporter(bar))
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    if format == "json":
        ctx.term.document(backfill_document(result, seconds))
        return EXIT_OK
    verb = "dry run of backfill" if result.dry_run else "backfill"
    ctx.term.line(f"{verb} {result.view} into {result.target} from {result.source}:")
    for p in result.partitions:
        ctx.term.line(f"  {backfill_line(p)}")
    if not result.partitions:
        ctx.term.line("  the source has no rows in that range: nothing to rebuild")
    for name in result.cleaned_staging:
        ctx.term.info(f"  dropped {name}, left by an interrupted run")
    rows = sum(p.source_rows for p in result.partitions if p.status == "rebuilt")
    if rows:
        ctx.term.info("  swapped in with " + ("REPLACE PARTITION" if result.swap == "replace" else
                                             "DROP PARTITION + ATTACH PARTITION FROM (ClickHouse before 26.7)"))
    ctx.term.info(f"done in {seconds:.2f} s" + (f" ({rows / seconds:,.0f} source rows/s)" if rows else ""))
    return EXIT_OK
