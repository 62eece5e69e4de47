"""`chmigrate new NAME`: scaffold the next version's file."""

from typing import Annotated

import typer

from chmigrate import api
from chmigrate.cli.app import app
from chmigrate.cli.common import Context, command
from chmigrate.errors import EXIT_OK


@command(app, "new")
def new(ctx: Context, name: Annotated[str, typer.Argument(help="what the migration does, e.g. add_region")],
        ) -> int:
    """Create the next migration file in the migrations folder."""
    path = api.new(ctx.settings, name)
    ctx.term.line(f"created {path}")
    return EXIT_OK
