"""Migrations apply from empty, and the app refuses a schema that is not current."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError

from strongroom.app import create_app
from strongroom.db import Database, schema_status, upgrade
from strongroom.settings import ConfigError, load_settings
from tests.conftest import MIGRATION_HEAD, migrate


def test_upgrade_from_empty(fresh_database_url: str) -> None:
    database = Database(load_settings({"database_url": fresh_database_url}))
    try:
        with database.engine.connect() as connection:
            before = schema_status(connection)
        assert before.current == ()
        assert not before.is_current
        upgrade(database.engine)
        with database.engine.connect() as connection:
            after = schema_status(connection)
            tables = set(inspect(connection).get_table_names())
        assert after.is_current
        assert after.current == after.heads == (MIGRATION_HEAD,)
        assert "alembic_version" in tables
        upgrade(database.engine)  # a second run is a no-op, not an error
    finally:
        database.dispose()


def test_app_refuses_to_start_on_an_unmigrated_database(
    fresh_database_url: str, tmp_path: object
) -> None:
    with pytest.raises(ConfigError) as caught:
        create_app({"mode": "testing", "database_url": fresh_database_url})
    assert "strongroom db upgrade" in caught.value.problems[0]


def test_app_refuses_to_start_on_an_unknown_revision(fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    engine = create_engine(fresh_database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    with pytest.raises(ConfigError, match=f"needs {MIGRATION_HEAD}"):
        create_app({"mode": "testing", "database_url": fresh_database_url})


def test_app_refuses_to_start_when_the_database_is_unreachable() -> None:
    with pytest.raises(ConfigError, match="cannot be reached"):
        create_app({"mode": "testing", "database_url": "postgresql://nobody@127.0.0.1:1/none"})


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    settings = load_settings({"data_dir": str(tmp_path)})
    database = Database(settings)
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
    finally:
        database.dispose()


def test_sqlite_begin_immediate_takes_the_write_lock(tmp_path: object) -> None:
    """The ledger serializes appends with BEGIN IMMEDIATE; it must lock out other writers
    at BEGIN, not at the first write (a plain BEGIN would let both start)."""
    database = Database(load_settings({"data_dir": str(tmp_path)}))
    try:
        with database.engine.begin() as setup:
            setup.execute(text("CREATE TABLE t (x INTEGER)"))
        first = database.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        second = database.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        second.connection.driver_connection.execute("PRAGMA busy_timeout=50")
        with first.begin():
            first.execute(text("SELECT count(*) FROM t"))  # a read: BEGIN alone took the lock
            with pytest.raises(OperationalError, match="locked"), second.begin():
                second.execute(text("SELECT 1"))
        with second.begin():  # free again once the first one commits
            second.execute(text("INSERT INTO t VALUES (1)"))
        first.close()
        second.close()
    finally:
        database.dispose()
