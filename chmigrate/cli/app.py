"""The Typer application: one small module per command registers itself here."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

from chmigrate.cli.start import version_line

# Command groups of `chmigrate --help`, in the order they are shown.
APPLY, INSPECT, AUTHOR, OPERATE = "Apply", "Inspect", "Author", "Operate"


def _hide_type_tags(params: list[Any]) -> list[Any]:
    # A flag takes no value: an empty metavar shows none. Value options name theirs (`--to VERSION`), and an
    # argument is shown by its name alone (`NAME`, not Typer's `{NAME}`), in usage as in its row.
    for p in params:
        if getattr(p, "is_flag", False):
            p.metavar = ""
        elif isinstance(p, TyperArgument):
            name = p.metavar or (p.name or "").upper()
            p.make_metavar = lambda *a, _name=name, **k: _name  # type: ignore[method-assign]
    return params


# Help is plain text, laid out by click's own formatter: rendering it with rich costs ~0.1 s of imports on
# every `--help`, more than the rest of chmigrate's start-up. Options and commands keep their groups.


def _write_sections(formatter: Any, sections: dict[str, list[tuple[str, str]]]) -> None:
    """Each group under its title, the second column aligned across all of them."""
    width = min(32, max((len(first) for rows in sections.values() for first, _ in rows), default=0))
    for title, rows in sections.items():
        if rows:
            with formatter.section(title):
                formatter.write_dl([(first.ljust(width), text.replace("\\[", "[")) for first, text in rows],
                                   col_max=32)


def _format_options(cmd: Any, ctx: Any, formatter: Any) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
    for param in cmd.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is not None:
            default = "Arguments" if isinstance(param, TyperArgument) else "Options"
            sections.setdefault(getattr(param, "rich_help_panel", None) or default, []).append(record)
    return sections


def _format_epilog(cmd: Any, formatter: Any) -> None:
    """The epilog as written: indented lines (examples) kept, other lines wrapped to the terminal."""
    import textwrap

    if cmd.epilog:
        formatter.write_paragraph()
        for line in cmd.epilog.splitlines():
            if not line or line.startswith(" "):
                formatter.write(f"  {line}\n" if line else "\n")
            else:
                formatter.write(textwrap.fill(line, formatter.width, initial_indent="  ",
                                              subsequent_indent="  ") + "\n")


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _hide_type_tags(super().get_params(ctx))

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _write_sections(formatter, _format_options(self, ctx, formatter))

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        _format_epilog(self, formatter)


class Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _hide_type_tags(super().get_params(ctx))

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections = _format_options(self, ctx, formatter)
        sections.update({name: [] for name in (APPLY, INSPECT, AUTHOR, OPERATE)})
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                panel = getattr(cmd, "rich_help_panel", None) or OPERATE
                sections.setdefault(panel, []).append((name, cmd.get_short_help_str(limit=200)))
        _write_sections(formatter, sections)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        _format_epilog(self, formatter)


app = typer.Typer(
    name="chmigrate",
    cls=Group,
    help="Schema-as-code migrations, verification and drift detection for ClickHouse and Postgres.",
    epilog="Run `chmigrate COMMAND -h` for a command's options, examples and exit codes. "
           "Full reference: the README (sections Commands, Configuration and JSON output).\n\n"
           "Exit codes: 0 ok; 1 a check failed, drift found or the ledger forbids it; "
           "2 usage or configuration error; 3 database error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)


COMMANDS = ("up", "down", "baseline", "resolve", "status", "plan", "diff", "verify", "new", "snapshot", "lint",
            "unlock", "doctor", "backfill")


def _register(only: str | None = None) -> None:
    # Importing a command module registers its command, in this order within its group; heavy libraries load
    # only when a command runs. `only`: the one command the command line runs (Typer then builds its options
    # alone).
    from importlib import import_module

    if app.registered_commands:
        return  # registered already
    for name in COMMANDS:
        if only is None or name == only:
            import_module(f"chmigrate.cli.cmd_{name}")
    if only is None or only == "version":
        app.command("version", cls=Command, rich_help_panel=OPERATE,
                    epilog="Example:\n  chmigrate version\n\nExit codes: 0.")(_version)


def _command_of(args: list[str]) -> str | None:
    """The command a command line runs: its first word, unless a --help comes first (the root's help)."""
    for arg in args:
        if arg in ("--help", "-h"):
            return None
        if not arg.startswith("-"):
            return arg
    return None


def main() -> None:
    """Run the command line (chmigrate.cli.start answers `--version` before this module loads)."""
    if sys.argv[1:] in (["--version"], ["version"]):
        print(version_line())
        return
    name = _command_of(sys.argv[1:])
    if name is None:  # the root's help (or a usage error): the commands are listed, none runs
        from chmigrate.cli import common

        common.LISTING_ONLY = True
        _register()
    else:
        _register(name if name in COMMANDS or name == "version" else None)
    app()


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="print the versions of chmigrate, clickhouse-connect "
                                 "and chDB, and exit", is_eager=True, callback=_print_version),
) -> None:
    pass


def _version() -> None:
    """Print the versions of chmigrate, clickhouse-connect and chDB (starts no engine)."""
    typer.echo(version_line())
