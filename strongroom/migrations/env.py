"""Alembic environment: runs on the connection that ``strongroom.db.upgrade`` hands in.

Migrations are only ever applied through ``strongroom db upgrade`` (or the same
function in tests), which passes an open connection in ``config.attributes``; there
is no second way to find the database, so the CLI and the app can never disagree.
"""

from __future__ import annotations

from alembic import context

from strongroom.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `strongroom db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
