"""`chmigrate new NAME`: scaffold the next version's file."""

from typing import Annotated

import typer

from chmigrate.cli.app import AUTHOR, app
from chmigrate.cli.common import Context, command, exit_codes
from chmigrate.errors import EXIT_OK


@command(app, "new", panel=AUTHOR, epilog=(
    "Examples:\n"
    "  chmigrate new add_region_column\n"
    "  chmigrate new 'Add region column'   # written as ..._add_region_column.sql\n\n"
    + exit_codes("0 created", "2 the name has no letter or digit, or the folder holds a bad file")))
def new(ctx: Context, name: Annotated[str, typer.Argument(
        metavar="NAME", help="what the migration does: letters, digits, '_' and '-', e.g. add_region")],
        ) -> int:
    """Create the next migration file in the migrations folder.

    Files are named <digits>_<name>.sql. Spaces and other characters outside the name's grammar become '_'
    and letters become lower case; the command says so when it changes the name."""
    from chmigrate import api
    from chmigrate.migrations import filenames

    path = api.new(ctx.settings, name)
    parsed = filenames.parse(path.name)
    written = parsed.name if parsed else path.stem
    if written != name:
        ctx.term.info(f"note: NAME {name!r} is not a file name ({filenames.GRAMMAR}; a name is letters, digits, "
                      f"'_' and '-'): wrote it as {written!r}")
    ctx.term.line(f"created {path}")
    return EXIT_OK
