"""Options shared by every command, the single exit path, and the error-to-exit-code mapping."""

from __future__ import annotations

import functools
import inspect
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from chmigrate.cli.app import Command
from chmigrate.errors import EXIT_DATABASE, EXIT_USAGE, ChmigrateError

if TYPE_CHECKING:
    from chmigrate.cli.output import Terminal
    from chmigrate.settings import Settings

# `--help` never runs a command: the settings, the terminal and masking are imported when one runs.


@dataclass
class Context:
    settings: Settings
    term: Terminal
    debug: bool


def _env(text: str) -> str:
    # Help text is Rich markup: a literal `[` must be escaped, or `[env X]` would vanish as a style tag.
    return text.replace("[", "\\[")


_COMMON: list[tuple[str, Any, Any]] = [
    ("env", Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional
        "--env", metavar="NAME", help=_env("the named environment [tool.chmigrate.environments.NAME] of the config "
        "file [env CHMIGRATE_ENV]"), rich_help_panel="Connection")], None),
    ("clickhouse_url", Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional
        "--clickhouse-url", metavar="URL", help=_env("ClickHouse HTTP(S) URL, e.g. http://default@127.0.0.1:8123/"
        "default [env CHMIGRATE_CLICKHOUSE_URL; default: the embedded local engine]"),
        rich_help_panel="Connection")], None),
    ("password_file", Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--password-file", metavar="FILE", help=_env("file holding the ClickHouse password [env "
        "CLICKHOUSE_PASSWORD holds the password itself]"), rich_help_panel="Connection")], None),
    ("database", Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--database", metavar="NAME", help=_env("target ClickHouse database [env CHMIGRATE_DATABASE; default: "
        "the URL's, else default]"), rich_help_panel="Connection")], None),
    ("cluster", Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--cluster", metavar="NAME", help=_env("send DDL ON CLUSTER NAME with Replicated* engines (in a "
        "Replicated database: engines only) [env CHMIGRATE_CLUSTER; default: none, a single node]"),
        rich_help_panel="Connection")], None),
    ("postgres_url", Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--postgres-url", metavar="URL", help=_env("postgresql:// URL [env CHMIGRATE_POSTGRES_URL; default: an "
        "embedded local server]"), rich_help_panel="Connection")], None),
    ("postgres_password_file", Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--postgres-password-file", metavar="FILE", help=_env("file holding the Postgres password "
        "[env PGPASSWORD]"), rich_help_panel="Connection")], None),
    ("only", Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--only", metavar="ENGINE", help=_env("clickhouse or postgres [env CHMIGRATE_ONLY; default: both]"),
        rich_help_panel="Connection")], None),
    ("migrations_dir", Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--migrations-dir", metavar="DIR", help=_env("ClickHouse migrations folder [env "
        "CHMIGRATE_MIGRATIONS_DIR; default clickhouse/]"), rich_help_panel="Project")], None),
    ("var", Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--var", metavar="NAME=VALUE", help=_env("value of ${NAME} in migrations (repeatable) "
        "[env CHMIGRATE_VAR_NAME]"), rich_help_panel="Project")], None),
    ("config", Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--config", metavar="FILE", help=_env("settings file [default: chmigrate.toml, or [tool.chmigrate] in "
        "pyproject.toml]"), rich_help_panel="Project")], None),
    ("debug", Annotated[bool, typer.Option("--debug", help="show tracebacks (secrets masked)",
                                           rich_help_panel="Project")], False),
    ("quiet", Annotated[bool, typer.Option("--quiet", "-q", help="print errors only (a --format json document "
                                           "still prints)", rich_help_panel="Output")], False),
    ("verbose", Annotated[bool, typer.Option("--verbose", "-v", help="also print each statement in full as it "
                                             "is sent", rich_help_panel="Output")], False),
]
_COMMON_NAMES = [n for n, _, _ in _COMMON]

TEXT_OR_JSON = ("text", "json")
# The `--format` option of a reporting command; `command(..., formats=...)` checks its value.
FormatOption = Annotated[str, typer.Option("--format", metavar="FORMAT", help="text or json")]
LockTimeoutOption = Annotated[Optional[float], typer.Option(  # noqa: UP045
    "--lock-timeout", metavar="SECONDS", help=_env("seconds to wait for another run's lock "
    "[env CHMIGRATE_LOCK_TIMEOUT; default 60]"))]


# Set by cli.app.main when the command line names no command (`chmigrate --help`): commands are then registered
# for the list alone (name, help, group), without options, which spares Typer from building every command's
# options, most of the time `--help` took. A listed command is never run.
LISTING_ONLY = False


def _listed(name: str) -> Callable[[], None]:
    def listed() -> None:
        raise RuntimeError(f"chmigrate {name} was registered for the command list only")

    return listed


def exit_codes(*lines: str) -> str:
    """The closing `Exit codes:` paragraph of a command's help."""
    return "Exit codes: " + "; ".join(lines) + "."


def _paragraphs(doc: str) -> str:
    # Rich help keeps single newlines; a docstring's line breaks are only where the source line ended.
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


def command(app: typer.Typer, name: str, *, panel: str, epilog: str,
            formats: tuple[str, ...] = ()) -> Callable[[Callable[..., int]], Callable[..., None]]:
    """Register fn(ctx, **own_options) -> exit code as a command with the common options.

    `formats`: the values its `--format` accepts; any other is a usage error (exit 2). A format other than
    text makes stdout one machine document (progress and notes go to stderr); with json, an error still
    exits with its code and stdout holds `{"version": 1, "error": {...}}`.
    """

    def decorate(fn: Callable[..., int]) -> Callable[..., None]:
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.name != "ctx"]
        extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d)
                 for n, a, d in _COMMON]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> None:
            from chmigrate.cli.output import Terminal

            common = {k: kwargs.pop(k) for k in _COMMON_NAMES}
            fmt = kwargs.get("format", "text") if formats else "text"
            if fmt not in (formats or ("text",)):
                Terminal().error(f"--format: {fmt!r} is not one of {', '.join(formats)}",
                                 f"`chmigrate {name} -h` lists the options")
                raise typer.Exit(EXIT_USAGE)
            quiet, verbose = bool(common.pop("quiet")), bool(common.pop("verbose"))
            if quiet and verbose:
                Terminal().error("--quiet and --verbose exclude each other", "give one of them")
                raise typer.Exit(EXIT_USAGE)
            term = Terminal(machine=fmt != "text", json=fmt == "json", quiet=quiet, verbose=verbose)
            code = run(fn, common, kwargs, term)
            if term.json and not term.documented and term.errors:
                from chmigrate.cli.render import JSON_VERSION

                message, hint = term.errors[0]
                term.document({"version": JSON_VERSION,
                               "error": {"exit_code": code, "message": message, "hint": hint}})
            raise typer.Exit(code)

        wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + extra)
        del wrapper.__wrapped__
        app.command(name, cls=Command, help=_paragraphs(fn.__doc__ or ""), epilog=epilog,
                    rich_help_panel=panel)(_listed(name) if LISTING_ONLY else wrapper)
        return wrapper

    return decorate


def run(fn: Callable[..., int], common: dict[str, Any], own: dict[str, Any], term: Terminal) -> int:
    import logging

    from chmigrate.masking import redact
    from chmigrate.settings import load

    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    debug = bool(common.pop("debug", False)) or os.environ.get("CHMIGRATE_DEBUG") == "1"
    settings: Settings | None = None
    try:
        flags = {
            "clickhouse_url": common["clickhouse_url"],
            "clickhouse_password_file": common["password_file"],
            "database": common["database"],
            "cluster": common["cluster"],
            "postgres_url": common["postgres_url"],
            "postgres_password_file": common["postgres_password_file"],
            "only": common["only"],
            "migrations_dir": common["migrations_dir"],
            "var": common["var"],
            "config": common["config"],
            "env": common["env"],
        }
        if own.get("lock_timeout") is not None:
            flags["lock_timeout"] = own.pop("lock_timeout")
        own.pop("lock_timeout", None)
        settings = load(flags)
        if settings.environment is not None:  # every command says which environment it runs in
            term.environment = settings.environment
            term.info(f"environment: {settings.environment} ({settings.config_file})")
        return fn(Context(settings, term, debug), **own)
    except ChmigrateError as exc:
        secrets = settings.secrets if settings else _early_secrets(common)
        if debug:
            term.info(debug_traceback(exc, secrets))
        term.error(redact(exc.message, secrets), redact(exc.hint, secrets) if exc.hint else None)
        return exc.exit_code
    except KeyboardInterrupt:
        term.error("interrupted")
        return 130
    except BrokenPipeError:
        # the reader went away (`chmigrate ... | head`): stop as a tool killed by SIGPIPE does, silently
        # (the run's own work, if any, is recorded in the ledger as usual)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        return 141
    except Exception as exc:  # an unexpected failure: still one line, still no secrets
        secrets = settings.secrets if settings else _early_secrets(common)
        if debug:
            term.info(debug_traceback(exc, secrets))
        msg = " ".join(str(exc).split())[:500]
        term.error(redact(f"unexpected {type(exc).__name__}: {msg}", secrets),
                   None if debug else "run again with --debug for the traceback")
        return EXIT_DATABASE


def debug_traceback(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """The traceback `--debug` shows, secrets masked. It includes the original cause even where the code
    raised its own error `from None` (to keep the one-line message clean): that cause is the driver's
    exception, which is what a person debugging wants to see."""
    from chmigrate.masking import redact

    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__suppress_context__ = False
        link = link.__cause__ or link.__context__
    return redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), secrets)


def _early_secrets(common: dict[str, Any]) -> tuple[str, ...]:
    """The passwords known before the settings loaded (or when they failed to): the password variables and
    those inside the URLs given as flags or in the environment."""
    from chmigrate.masking import url_secrets

    found = [os.environ.get("CLICKHOUSE_PASSWORD"), os.environ.get("PGPASSWORD")]
    for url in (common.get("clickhouse_url"), common.get("postgres_url"),
                os.environ.get("CHMIGRATE_CLICKHOUSE_URL"), os.environ.get("CHMIGRATE_POSTGRES_URL")):
        found += url_secrets(url)
    return tuple(dict.fromkeys(s for s in found if s))
