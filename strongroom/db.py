"""Engine, per-request session, declarative base and migration helpers.

SQLite is the zero-set-up default: WAL mode so readers never block the writer,
foreign keys on, and a busy timeout so concurrent writers wait instead of failing.
The pysqlite driver's own transaction handling is switched off and ``BEGIN`` is
emitted by SQLAlchemy instead, so SAVEPOINTs work and a caller can ask for
``BEGIN IMMEDIATE`` (the ledger serializes appends that way).
PostgreSQL gets a pre-pinged connection pool so a restarted server costs no errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, DateTime, Dialect, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from strongroom.settings import Settings

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLITE_BUSY_TIMEOUT_MS = 5000


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC, on SQLite as on PostgreSQL.

    SQLite keeps no zone and hands back naive values; comparing those with aware ones
    raises, so every timestamp goes in as UTC and comes out aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base class of every table; constraint names are stable for migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(settings: Settings) -> Engine:
    """An engine configured for the database in ``settings.database_url``."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            # The default lives under the data directory, which may not exist yet.
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        # Statement parameters (password hashes, token hashes) never reach error
        # messages, and so never the logs.
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": "strongroom"},
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # FULL: a commit is on disk before it is acknowledged, even across power loss
        # (NORMAL in WAL mode may lose the last commits); uploads and the ledger
        # promise exactly that.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """The engine and session factory of one app; one session per request."""

    def __init__(self, settings: Settings) -> None:
        self.engine = make_engine(settings)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Sessions that will write. On SQLite their transactions BEGIN IMMEDIATE: a
        # deferred transaction that reads, then writes after another connection has
        # committed, fails at once with "database is locked" (WAL snapshot too old),
        # whatever the busy timeout; taking the write lock at BEGIN makes writers
        # queue instead. PostgreSQL needs nothing of the kind.
        writer = self.engine
        if self.engine.dialect.name == "sqlite":
            writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self.write_sessions = sessionmaker(writer, expire_on_commit=False)

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A session for work outside a request (CLI, jobs); closed on exit."""
        factory = self.write_sessions if write else self.sessions
        with factory() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


# --- migrations -----------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(files("strongroom") / "migrations"))
    config.attributes["connection"] = connection
    return config


MIGRATION_LOCK_ID = 0x5354524F4E47  # "STRONG": the PostgreSQL advisory lock for migrations


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` in one transaction.

    Several instances may run ``db upgrade`` at once during a rolling deploy; on
    PostgreSQL a transaction-scoped advisory lock makes them take turns (the later
    ones then find nothing to do). SQLite's write lock does the same on its own.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        command.upgrade(alembic_config(connection), revision)


@dataclass(frozen=True)
class SchemaStatus:
    """Where the database stands against the migrations in this release."""

    current: tuple[str, ...]
    heads: tuple[str, ...]

    @property
    def is_current(self) -> bool:
        return set(self.current) == set(self.heads)


def schema_status(connection: Connection) -> SchemaStatus:
    context = MigrationContext.configure(connection)
    script = ScriptDirectory.from_config(alembic_config())
    return SchemaStatus(
        current=tuple(sorted(context.get_current_heads())),
        heads=tuple(sorted(script.get_heads())),
    )


def ping(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))
