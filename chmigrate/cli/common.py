"""Options shared by every command, the single exit path, and the error-to-exit-code mapping."""

import functools
import inspect
import logging
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from chmigrate.cli.output import Terminal
from chmigrate.errors import EXIT_DATABASE, ChmigrateError
from chmigrate.masking import redact
from chmigrate.settings import Settings, load


@dataclass
class Context:
    settings: Settings
    term: Terminal
    debug: bool


_COMMON: list[tuple[str, Any, Any]] = [
    ("clickhouse_url", Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional
        "--clickhouse-url", help="ClickHouse HTTP(S) URL, e.g. http://default@127.0.0.1:8123/default "
        "[env CHMIGRATE_CLICKHOUSE_URL; default: the embedded local engine]",
        rich_help_panel="Connection")], None),
    ("password_file", Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--password-file", help="file holding the ClickHouse password [env CLICKHOUSE_PASSWORD holds the "
        "password itself]", rich_help_panel="Connection")], None),
    ("database", Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--database", help="target ClickHouse database [env CHMIGRATE_DATABASE; default: the URL's, else "
        "default]", rich_help_panel="Connection")], None),
    ("postgres_url", Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--postgres-url", help="postgresql:// URL [env CHMIGRATE_POSTGRES_URL; default: an embedded local "
        "server]", rich_help_panel="Connection")], None),
    ("postgres_password_file", Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--postgres-password-file", help="file holding the Postgres password [env PGPASSWORD]",
        rich_help_panel="Connection")], None),
    ("only", Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--only", help="clickhouse or postgres [env CHMIGRATE_ONLY; default: both]",
        rich_help_panel="Connection")], None),
    ("migrations_dir", Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--migrations-dir", help="ClickHouse migrations folder [env CHMIGRATE_MIGRATIONS_DIR; default "
        "clickhouse/]", rich_help_panel="Project")], None),
    ("var", Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--var", help="NAME=VALUE for ${NAME} in migrations (repeatable) [env CHMIGRATE_VAR_NAME]",
        rich_help_panel="Project")], None),
    ("config", Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--config", help="settings file [default: chmigrate.toml, or [tool.chmigrate] in pyproject.toml]",
        rich_help_panel="Project")], None),
    ("debug", Annotated[bool, typer.Option("--debug", help="show tracebacks (secrets masked)",
                                           rich_help_panel="Project")], False),
]
_COMMON_NAMES = [n for n, _, _ in _COMMON]


def command(app: typer.Typer, name: str, *, machine_format: bool = False) -> Callable[[Callable[..., int]],
                                                                                     Callable[..., None]]:
    """Register fn(ctx, **own_options) -> exit code as a command with the common options."""

    def decorate(fn: Callable[..., int]) -> Callable[..., None]:
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.name != "ctx"]
        extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d)
                 for n, a, d in _COMMON]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> None:
            common = {k: kwargs.pop(k) for k in _COMMON_NAMES}
            machine = machine_format and kwargs.get("format", "text") not in ("text", None)
            code = run(fn, common, kwargs, Terminal(machine=machine))
            raise typer.Exit(code)

        wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + extra)
        del wrapper.__wrapped__
        app.command(name, help=fn.__doc__)(wrapper)
        return wrapper

    return decorate


def run(fn: Callable[..., int], common: dict[str, Any], own: dict[str, Any], term: Terminal) -> int:
    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    debug = bool(common.pop("debug", False)) or os.environ.get("CHMIGRATE_DEBUG") == "1"
    settings: Settings | None = None
    try:
        flags = {
            "clickhouse_url": common["clickhouse_url"],
            "clickhouse_password_file": common["password_file"],
            "database": common["database"],
            "postgres_url": common["postgres_url"],
            "postgres_password_file": common["postgres_password_file"],
            "only": common["only"],
            "migrations_dir": common["migrations_dir"],
            "var": common["var"],
            "config": common["config"],
        }
        if own.get("lock_timeout") is not None:
            flags["lock_timeout"] = own.pop("lock_timeout")
        own.pop("lock_timeout", None)
        settings = load(flags)
        return fn(Context(settings, term, debug), **own)
    except ChmigrateError as exc:
        secrets = settings.secrets if settings else _env_secrets()
        if debug:
            term.info(redact(traceback.format_exc(), secrets))
        term.error(redact(exc.message, secrets), redact(exc.hint, secrets) if exc.hint else None)
        return exc.exit_code
    except KeyboardInterrupt:
        term.error("interrupted")
        return 130
    except Exception as exc:  # an unexpected failure: still one line, still no secrets
        secrets = settings.secrets if settings else _env_secrets()
        if debug:
            term.info(redact(traceback.format_exc(), secrets))
        msg = " ".join(str(exc).split())[:500]
        term.error(redact(f"unexpected {type(exc).__name__}: {msg}", secrets),
                   None if debug else "run again with --debug for the traceback")
        return EXIT_DATABASE


def _env_secrets() -> tuple[str, ...]:
    return tuple(v for v in (os.environ.get("CLICKHOUSE_PASSWORD"), os.environ.get("PGPASSWORD")) if v)

