"""Access to the current app's settings and database from inside a request.

Services never call these: they receive what they need as arguments. Views and
request hooks use them to find what ``create_app`` wired up.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from strongroom.db import Database
from strongroom.settings import Settings

_SETTINGS = "strongroom.settings"
_DATABASE = "strongroom.database"


def init_app(app: Flask, settings: Settings, database: Database) -> None:
    app.extensions[_SETTINGS] = settings
    app.extensions[_DATABASE] = database
    app.teardown_appcontext(_close_session)


def get_settings() -> Settings:
    settings: Settings = current_app.extensions[_SETTINGS]
    return settings


def get_database() -> Database:
    database: Database = current_app.extensions[_DATABASE]
    return database


def db_session() -> Session:
    """The request's session, opened on first use and closed when the request ends.

    Whatever the view did not commit is rolled back at the end of the request.
    State-changing methods get a writing session (see ``Database.write_sessions``).
    """
    if "db_session" not in g:
        database = get_database()
        # Requests that change state write (audit events at least); reads do not.
        writes = request.method not in {"GET", "HEAD", "OPTIONS"}
        g.db_session = (database.write_sessions if writes else database.sessions)()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
