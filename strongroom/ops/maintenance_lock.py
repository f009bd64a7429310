"""One maintenance run at a time per database, whichever host starts it.

- PostgreSQL: a session-level advisory lock, held on a connection of its own for the
  whole run. Its key is derived from the database and schema names, so two Strongroom
  instances in different schemas of one server never wait for each other. The server
  drops it when the holding connection ends, so a killed run never leaves it behind.
- SQLite: an exclusive ``flock`` on ``<database file>-maintenance.lock`` next to the
  database (an SQLite database is only ever shared by processes of one machine). The
  kernel drops it when the process dies. An in-memory database is private to its
  process: there is nothing to share and no lock is taken.

The lock only keeps concurrent runs from doing the same work twice; every step is
correct without it (deletes are conditional, a checkpoint is stored once per size).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

POLL_SECONDS = 0.2
_KEY_LABEL = b"strongroom maintenance lock v1\0"


def _until(acquire: Callable[[], bool], wait: float) -> bool:
    """Call ``acquire`` until it succeeds or ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    while True:
        if acquire():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def advisory_key(database: str, schema: str) -> int:
    """The signed 64-bit advisory-lock key for the maintenance of ``database.schema``."""
    digest = hashlib.blake2b(
        _KEY_LABEL + database.encode() + b"\0" + schema.encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def _postgres_lock(engine: Engine, wait: float) -> Iterator[bool]:
    connection: Connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        names = connection.execute(text("SELECT current_database(), current_schema()")).one()
        key = advisory_key(str(names[0]), str(names[1]))

        def acquire() -> bool:
            statement = text("SELECT pg_try_advisory_lock(:key)")
            return bool(connection.execute(statement, {"key": key}).scalar_one())

        held = _until(acquire, wait)
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    except BaseException:
        # Never hand a connection that may still hold the lock back to the pool.
        connection.invalidate()
        raise
    finally:
        connection.close()


@contextmanager
def _file_lock(path: Path, wait: float) -> Iterator[bool]:
    # Read-only is enough for flock, and the empty file holds nothing secret: 0644 lets
    # a run as another user (root, by hand) share the lock file instead of failing.
    descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:

        def acquire() -> bool:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        held = _until(acquire, wait)
        try:
            yield held
        finally:
            if held:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def sqlite_lock_path(engine: Engine) -> Path | None:
    """The lock file for an SQLite database file; ``None`` for an in-memory one."""
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file::memory:"):
        return None
    return Path(f"{name}-maintenance.lock")


@contextmanager
def maintenance_lock(engine: Engine, *, wait: float = 0.0) -> Iterator[bool]:
    """Hold the maintenance lock of ``engine``'s database for the ``with`` block.

    Yields ``True`` when held, ``False`` when another run still held it after ``wait``
    seconds (0: one try). Database errors and ``OSError`` (the lock file) propagate.
    """
    if engine.dialect.name == "postgresql":
        with _postgres_lock(engine, wait) as held:
            yield held
        return
    path = sqlite_lock_path(engine)
    if path is None:
        yield True
        return
    with _file_lock(path, wait) as held:
        yield held
