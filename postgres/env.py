"""Alembic environment of chmigrate's Postgres project.

chmigrate runs this through Alembic's Python API and hands it an open connection. What makes
the project chmigrate's own (the version table orchestrator.chmigrate_alembic_version, the
hooks that limit comparison to the tables in models.py, one transaction per revision) lives in
chmigrate.targets.pg_env, so that every project gets the same. Keep this file small.
"""

from pathlib import Path

from alembic import context

from chmigrate.targets.pg_env import load_metadata, run

run(context, load_metadata(Path(__file__).with_name("models.py")))
