"""``strongroom db``: apply and inspect database migrations."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from strongroom.cli.common import fail, settings_or_exit
from strongroom.db import Database, schema_status, upgrade
from strongroom.settings import mask_url


@click.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (creates the SQLite file when needed)."""
    settings = settings_or_exit()
    database = Database(settings)
    try:
        with database.engine.connect() as connection:
            before = schema_status(connection).current
        upgrade(database.engine, revision)
        with database.engine.connect() as connection:
            after = schema_status(connection)
    except SQLAlchemyError as err:
        fail("migration failed:", [f"{type(err).__name__}: {err.args[0] if err.args else ''}"])
    finally:
        database.dispose()
    where = mask_url(settings.database_url)
    if before == after.current:
        click.echo(f"{where}: already at {_revs(after.current)} (head)")
    else:
        click.echo(f"{where}: upgraded from {_revs(before)} to {_revs(after.current)}")


@db_group.command("current")
@click.option("--check", is_flag=True, help="Exit with status 1 when migrations are pending.")
def db_current(check: bool) -> None:
    """Show the database's revision and the newest one this release ships."""
    settings = settings_or_exit()
    database = Database(settings)
    try:
        with database.engine.connect() as connection:
            status = schema_status(connection)
    except SQLAlchemyError as err:
        fail("cannot read the schema version:", [type(err).__name__])
    finally:
        database.dispose()
    click.echo(f"database: {mask_url(settings.database_url)}")
    click.echo(f"current:  {_revs(status.current)}")
    click.echo(f"head:     {_revs(status.heads)}")
    if status.is_current:
        click.echo("up to date")
    else:
        click.echo("migrations pending: run `strongroom db upgrade`")
        if check:
            raise SystemExit(1)


def _revs(revisions: tuple[str, ...]) -> str:
    return ",".join(revisions) or "none"
