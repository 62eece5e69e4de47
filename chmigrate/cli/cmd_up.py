"""`chmigrate up`: apply pending migrations."""

import time
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from chmigrate.cli.app import APPLY, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, LockTimeoutOption, command, exit_codes
from chmigrate.errors import EXIT_OK

if TYPE_CHECKING:
    from chmigrate.cli.output import Terminal
    from chmigrate.migrations.discovery import Migration, Statement
    from chmigrate.operations.destruction import Consent
    from chmigrate.results import DestructionReport, TargetUpResult


class TerminalReporter:
    """One progress line per statement (stderr when stdout is a machine document)."""

    def __init__(self, term: "Terminal") -> None:
        self.term = term

    def migration_started(self, migration: "Migration", start: int, direction: str = "up") -> None:
        if direction == "down":
            self.term.line(f"reverting {migration.filename} (its down part)")
            return
        resumed = f" (resuming at statement {start})" if start > 1 else ""
        self.term.line(f"applying {migration.filename}{resumed}")

    def statement_started(self, migration: "Migration", statement: "Statement") -> None:
        if self.term.verbose:
            self.term.line(f"  -- {migration.filename} statement {statement.index} (line {statement.line}):")
            for text in statement.sql.strip().splitlines():
                self.term.line(f"  {text}")

    def statement_done(self, migration: "Migration", statement: "Statement", seconds: float,
                       direction: str = "up") -> None:
        from chmigrate.migrations.rerun import normalized

        first = normalized(statement.sql)[:70]
        n = len(migration.down or ()) if direction == "down" else len(migration.up)
        part = "down " if direction == "down" else ""
        self.term.line(f"  [{part}{statement.index}/{n}] {first}  ({seconds * 1000:.0f} ms)")

    def migration_done(self, migration: "Migration", seconds: float, direction: str = "up") -> None:
        done = "reverted" if direction == "down" else "applied"
        self.term.line(f"  {done} {migration.version} in {seconds * 1000:.0f} ms")


YesOption = Annotated[bool, typer.Option("--yes", help="consent to destroying the stored data the run's "
                                         "statements destroy (off a terminal chmigrate refuses without it)")]


def destroyed_lines(t: "TargetUpResult") -> list[str]:
    """What a run destroyed (a dry run: would destroy, and whether the environment refuses it)."""
    if not t.destroyed.items:
        return []
    from chmigrate.cli.render import destruction_lines
    from chmigrate.operations.destruction import human_bytes

    verb = "would destroy" if t.dry_run else "destroyed"
    how = {"asked": "consented when asked", "in advance": "consented with --yes"}.get(t.consent or "", "")
    lines = [f"{verb} {t.destroyed.rows:,} rows ({human_bytes(t.destroyed.bytes)})" + (f", {how}" if how else "")
             + ":"]
    lines += [f"  {line}" for line in destruction_lines(t.destroyed)]
    if t.dry_run:
        lines.append(f"refused here: this environment is protected ({t.protected})" if t.protected else
                     "it needs consent: answer y on a terminal, or add --yes")
    return lines


@command(app, "up", panel=APPLY, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate up --dry-run\n"
    "  chmigrate up --clickhouse-url http://default@127.0.0.1:8123/default --only clickhouse --format json\n\n"
    + exit_codes("0 applied, or nothing to apply", "1 refused: dirty, edited or unknown history",
                 "2 usage, configuration or migration-file error", "3 database error (the failing statement is "
                 "named and recorded)")))
def up(
    ctx: Context,
    to: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--to", metavar="VERSION", help="stop after this version")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be applied; change nothing")]
    = False,
    allow_changed: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--allow-changed", metavar="VERSION", help="accept the edited file of this applied VERSION "
        "(recorded; repeatable)")] = None,
    retry: Annotated[bool, typer.Option("--retry", help="rerun a failed statement unchanged")] = False,
    yes: YesOption = False,
    format: FormatOption = "text",
    lock_timeout: LockTimeoutOption = None,
) -> int:
    """Apply pending migrations (ClickHouse, then Postgres).

    Each statement is recorded in the ledger as it runs; an interrupted run resumes where it stopped."""
    from chmigrate import api
    from chmigrate.cli.render import run_notes, script_lines, target_heading, up_document, up_notes

    t0 = time.perf_counter()
    reporter = TerminalReporter(ctx.term)
    result = api.up(ctx.settings, to=to, dry_run=dry_run, allow_changed=allow_changed or (), retry=retry,
                    reporter=reporter, consent=consent_for(ctx.term, yes, "up"))
    if format == "json":
        ctx.term.document(up_document(result))
        return EXIT_OK
    for t in result.targets:
        heading = target_heading(t.engine, t.target, t.embedded)
        if t.dry_run:
            ctx.term.line(f"{heading}: dry run")
            lines = [f"would apply {a.version} {a.name}" + (f" from statement {a.resumed_from}" if a.resumed_from
                                                              else "") for a in t.applied] + run_notes(t)
            for note in lines or ["nothing to apply"]:
                ctx.term.line(f"  {note}")
            for line in destroyed_lines(t):
                ctx.term.line(f"  {line}")
            if t.script:
                ctx.term.line("")
                for line in script_lines(t.statements, t.script, ""):
                    ctx.term.line(line)
        elif t.applied:
            n = sum(a.statements for a in t.applied)
            ctx.term.line(f"{heading}: applied {len(t.applied)} migration(s), {n} statement(s)")
            for line in destroyed_lines(t):
                ctx.term.line(f"  {line}")
        else:
            ctx.term.line(f"{heading}: up to date, nothing to apply")
        for note in up_notes(t) if not t.dry_run else ():
            ctx.term.info(f"  {note}")
    ctx.term.info(f"done in {time.perf_counter() - t0:.2f} s")
    return EXIT_OK


def consent_for(term: "Terminal", yes: bool, command: str) -> "Consent":
    """--yes: given in advance. On a terminal (stdin and stdout): show the report and ask y/N. Otherwise
    no: the library refuses, naming what would be destroyed."""
    if yes:
        return True
    if not term.interactive:
        return False

    def ask(report: "DestructionReport") -> bool:
        from chmigrate.cli.render import destruction_lines
        from chmigrate.operations.destruction import human_bytes

        term.line(f"{command} would destroy stored data:")
        for line in destruction_lines(report):
            term.line(f"  {line}")
        return term.ask(f"destroy {report.rows:,} rows ({human_bytes(report.bytes)})?")

    return ask
