"""Alembic migrations: upgrade the schema and refuse to run on an outdated one.

The version table is `oms_alembic_version`, so the OMS's migrations live beside the
host application's own Alembic history without touching it.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .db import db
from .errors import SchemaOutdated

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "oms_alembic_version"


def alembic_config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@contextmanager
def migration_connection() -> Iterator:
    """A connection in a transaction for schema changes.

    On SQLite, ALTER TABLE is done by rebuilding the table (copy, drop, rename), and
    dropping a table that other rows point at fails while foreign keys are enforced.
    So they are switched off for the migration (SQLite honours that only outside a
    transaction), and `PRAGMA foreign_key_check` must find nothing broken before
    the migration commits.
    """
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if raw is not None:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"The migration broke foreign keys: {broken[:5]}")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(revision: str = "head") -> None:
    with migration_connection() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(revision: str) -> None:
    with migration_connection() as connection:
        command.downgrade(alembic_config(connection), revision)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def check_current() -> None:
    """Raise SchemaOutdated with what to do when the database is not at head."""
    current, head = current_revision(), head_revision()
    if current != head:
        raise SchemaOutdated(
            f"The OMS database schema is at revision {current or 'none (empty database)'}, "
            f"this code needs {head}. Run: flask oms db upgrade"
        )
