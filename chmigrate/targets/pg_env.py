"""What every chmigrate Alembic project's env.py runs: the settings that make the project chmigrate's.

chmigrate shares the `orchestrator` schema with other tools (River's `river_job`, and maybe
another Alembic project with its own `alembic_version`), so three things are fixed here, in
one place, rather than in each project's env.py:

* the version table is `orchestrator.chmigrate_alembic_version`, never `alembic_version`;
* comparison (autogenerate, drift) sees only the schemas and tables declared in models.py,
  so a foreign table is neither reflected, reported nor altered;
* each revision runs in its own transaction, so a failure leaves the earlier ones applied
  and recorded.

chmigrate drives env.py through Alembic's Python API and passes, in `config.attributes`, the
open SQLAlchemy connection (`connection`) and optionally `on_version_apply` callbacks. Run
with the plain `alembic` command, env.py builds its own engine from `sqlalchemy.url`.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic.runtime.environment import EnvironmentContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import SchemaItem

SCHEMA = "orchestrator"
VERSION_TABLE = "chmigrate_alembic_version"

# CREATE SCHEMA IF NOT EXISTS checks the CREATE privilege on the database before it looks for
# the schema, so a role without that privilege would fail even though the schema exists.
# Looking first keeps such a role working once the schema is there.
ENSURE_SCHEMA_SQL = f"""/* chmigrate: the schema of the version table */ DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{SCHEMA}') THEN
        CREATE SCHEMA IF NOT EXISTS {SCHEMA};
    END IF;
END
$$"""


def load_metadata(models_path: Path) -> MetaData:
    """Import a project's models.py by path and return its `metadata`."""
    name = f"_chmigrate_pg_models_{abs(hash(str(models_path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, models_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {models_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclass-style and typing machinery in models may look itself up
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    metadata = getattr(module, "metadata", None)
    if not isinstance(metadata, MetaData):
        raise ImportError(f"{models_path} defines no SQLAlchemy `metadata` (a sqlalchemy.MetaData)")
    return metadata


def owned_tables(metadata: MetaData) -> set[tuple[str | None, str]]:
    return {(t.schema, t.name) for t in metadata.tables.values()}


def include_hooks(metadata: MetaData) -> dict[str, Any]:
    """`include_schemas`, `include_name` and `include_object` limiting comparison to owned objects."""
    tables = owned_tables(metadata)
    schemas = {schema for schema, _ in tables}

    def include_name(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
        if type_ == "schema":
            return name in schemas
        if type_ == "table":
            return (parent_names.get("schema_name"), name) in tables
        return True

    def include_object(obj: SchemaItem, name: str | None, type_: str, reflected: bool,
                       compare_to: SchemaItem | None) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        if table is None:
            return True
        return (getattr(table, "schema", None), getattr(table, "name", None)) in tables

    return {"include_schemas": True, "include_name": include_name, "include_object": include_object}


def context_options(metadata: MetaData) -> dict[str, Any]:
    """The options every chmigrate MigrationContext is configured with."""
    return {
        "target_metadata": metadata,
        "version_table": VERSION_TABLE,
        "version_table_schema": SCHEMA,
        "transaction_per_migration": True,
        "compare_type": True,
        **include_hooks(metadata),
    }


def run(context: EnvironmentContext, metadata: MetaData) -> None:
    """The body of env.py: run the migrations Alembic asked for, online or offline."""
    callbacks: tuple[Callable[..., None], ...] = tuple(context.config.attributes.get("on_version_apply", ()))
    options = {**context_options(metadata), "on_version_apply": callbacks}
    if context.is_offline_mode():
        context.configure(dialect_name="postgresql", literal_binds=True, **options)
        context.execute(ENSURE_SCHEMA_SQL)
        with context.begin_transaction():
            context.run_migrations()
        return

    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_online(context, connection, options)
        return
    from sqlalchemy import engine_from_config, pool

    section = context.config.get_section(context.config.config_ini_section, {})
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_online(context, connection, options)
    finally:
        engine.dispose()


def _run_online(context: EnvironmentContext, connection: Connection, options: dict[str, Any]) -> None:
    # The version table lives in the schema, and Alembic creates it before the first revision runs.
    connection.execute(text(ENSURE_SCHEMA_SQL))
    connection.commit()
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()
