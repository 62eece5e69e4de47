"""`chmigrate doctor`: the platform's troubleshooting list, run as read-only checks on both databases."""

from typing import Annotated, Optional

import typer

from chmigrate.cli.app import OPERATE, app
from chmigrate.cli.common import TEXT_OR_JSON, Context, FormatOption, command, exit_codes
from chmigrate.errors import EXIT_CHECK_FAILED, EXIT_DATABASE, EXIT_OK, ConfigError

_STYLES = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


@command(app, "doctor", panel=OPERATE, formats=TEXT_OR_JSON, epilog=(
    "Examples:\n"
    "  chmigrate doctor\n"
    "  chmigrate doctor --env prod --since 24h --format json\n\n"
    + exit_codes("0 no check failed (warnings allowed)", "1 a check failed",
                 "2 usage or configuration error", "3 a database could not be reached (its checks are skipped)")))
def doctor(
    ctx: Context,
    format: FormatOption = "text",
    since: Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional
        "--since", metavar="DURATION", help="the window for models seen, the latest event and River jobs, e.g. "
        "24h, 7d, 90m [config doctor.since; default 7d]")] = None,
) -> int:
    """Run the platform's troubleshooting checks, read-only.

    Each database reachable and its version; `verify`; every materialized view attached with its source and
    target; events in the last hour and the latest one; the daily rollup against the raw events on the last
    complete days; model prices (rows, newest fetch, models without a price); River's usage_write and
    pricing_refresh jobs. Each check passes, warns, fails or is skipped, with its finding and the next step."""
    from chmigrate import api
    from chmigrate.cli.render import doctor_document
    from chmigrate.cli.wording import DOCTOR_TITLES, finding_lines
    from chmigrate.settings import parse_duration

    window = None
    if since is not None:
        try:
            window = parse_duration(since)
        except ValueError as exc:
            raise ConfigError("--since", str(exc)) from None
    result = api.doctor(ctx.settings, since=window)
    if format == "json":
        ctx.term.document(doctor_document(result))
    else:
        rows, styles = [], []
        for f in result.findings:
            text, step = finding_lines(f)
            rows.append([f.status.upper(), DOCTOR_TITLES[f.check], text + (f"\n-> {step}" if step else "")])
            styles.append(_STYLES[f.status])
        if ctx.term.rich:
            ctx.term.table("doctor" + (f" ({result.environment})" if result.environment else ""),
                           ["status", "check", "finding / next step"], rows, styles)
        else:
            for (status, title, text) in rows:
                first, _, step = text.partition("\n")
                ctx.term.line(f"{status:<5} {title}: {first}")
                if step:
                    ctx.term.line(f"      {step}")
        counts = {s: sum(f.status == s for f in result.findings) for s in ("pass", "warn", "fail", "skip")}
        ctx.term.line("doctor: " + ", ".join(f"{n} {s}" for s, n in counts.items())
                      + (f" (environment {result.environment})" if result.environment else ""))
    if result.unreachable:
        return EXIT_DATABASE
    return EXIT_CHECK_FAILED if result.failed else EXIT_OK
