"""Access to the current app's settings and database from inside a request.

Services never call these: they receive what they need as arguments. Views and
request hooks use them to find what ``create_app`` wired up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from strongroom.db import Database
from strongroom.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
_SETTINGS = "strongroom.settings"
_WRITES = "_strongroom_writes"
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
        # Requests that change state write (audit events at least); reads do not,
        # unless the view says so (a download ledgers every read).
        writes = request.method not in {"GET", "HEAD", "OPTIONS"} or _view_writes()
        g.db_session = (database.write_sessions if writes else database.sessions)()
    session: Session = g.db_session
    return session


def writes_on_read(view: F) -> F:
    """Mark a GET view that writes: its session takes the write lock at its first
    statement (SQLite ``BEGIN IMMEDIATE``), so its read-then-write never fails on a
    snapshot another writer has moved past."""
    setattr(view, _WRITES, True)
    return view


def _view_writes() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, _WRITES, False))


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
