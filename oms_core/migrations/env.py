"""Alembic environment: runs on the connection `oms_core.schema` hands in."""
from alembic import context

from oms_core import models  # noqa: F401  (registers every table on the metadata)
from oms_core.db import db
from oms_core.schema import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through `flask oms db upgrade`.")

context.configure(
    connection=connection,
    target_metadata=db.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite needs table rebuilds for ALTER
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
