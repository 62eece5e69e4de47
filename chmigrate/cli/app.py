"""The Typer application: one small module per command registers itself here."""

import typer

app = typer.Typer(
    name="chmigrate",
    help="Schema-as-code migrations, verification and drift detection for ClickHouse and Postgres.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Importing a command module registers its command; heavy libraries load only when it runs.
    from chmigrate.cli import (  # noqa: F401
        cmd_baseline,
        cmd_diff,
        cmd_down,
        cmd_new,
        cmd_plan,
        cmd_resolve,
        cmd_status,
        cmd_unlock,
        cmd_up,
        cmd_verify,
    )


def main() -> None:
    _register()
    app()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="print the version and exit", is_eager=True),
) -> None:
    if version:
        from chmigrate import __version__

        typer.echo(f"chmigrate {__version__}")
        raise typer.Exit(0)
