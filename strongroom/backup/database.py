"""The database copy: one consistent snapshot, and what the backup needs to know of it.

- SQLite: the online backup API copies the running database page by page inside one
  read transaction, so the copy is a single snapshot even in WAL mode with writers
  at work (copying the file would miss the WAL or tear a page).
- PostgreSQL: a REPEATABLE READ transaction exports its snapshot
  (``pg_export_snapshot()``); ``pg_dump --snapshot`` dumps exactly that snapshot while
  the same transaction lists the blobs and the latest checkpoint, so the dump, the
  blob list and the checkpoint agree. Connection details reach ``pg_dump`` and
  ``pg_restore`` through libpq's environment (``PGPASSWORD``...), never the command
  line, where any user of the machine could read them.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from strongroom.backup.exceptions import RestoreRefused, SnapshotFailed
from strongroom.backup.manifest import FILE_MODE

# URL query parameters and the libpq environment variable each becomes.
_LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "sslmode": "PGSSLMODE",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "gssencmode": "PGGSSENCMODE",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}
_STDERR_TAIL = 2000


@dataclass(frozen=True)
class BlobRef:
    """A blob a file row refers to: its key, ciphertext size and SHA-256 (hex)."""

    key: str
    size: int
    sha256: str


@dataclass
class SnapshotContents:
    """What the snapshot holds that the backup records next to it."""

    revision: str
    blobs: list[BlobRef] = field(default_factory=list)
    checkpoint_size: int | None = None
    checkpoint_note: str | None = None
    key_versions: list[str] = field(default_factory=list)
    schema: str | None = None


Query = Callable[[str], Sequence[Sequence[Any]]]


def read_contents(query: Query) -> SnapshotContents:
    """Read the revision, the referenced blobs and the latest checkpoint via ``query``."""
    revisions = [str(row[0]) for row in query("SELECT version_num FROM alembic_version")]
    if len(revisions) != 1:
        raise SnapshotFailed("the database has no single schema revision: run `db upgrade`")
    blobs = [
        BlobRef(str(key), int(size), bytes(digest).hex())
        for key, size, digest in query(
            "SELECT blob_key, ciphertext_size, ciphertext_sha256 FROM files ORDER BY blob_key"
        )
    ]
    contents = SnapshotContents(revision=revisions[0], blobs=blobs)
    rows = query("SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
    if rows:
        contents.checkpoint_size, contents.checkpoint_note = int(rows[0][0]), str(rows[0][1])
    versions = query("SELECT DISTINCT key_version FROM files")
    contents.key_versions = sorted(str(row[0]) for row in versions)
    return contents


# --- SQLite ---------------------------------------------------------------------


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; the path is quoted so ``?``, ``#`` or ``%`` in it stay
    part of the name instead of the URI's syntax."""
    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise SnapshotFailed("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def snapshot_sqlite(source: Path, dest: Path) -> SnapshotContents:
    """Copy the live database at ``source`` into the new file ``dest`` (0600) in one
    snapshot and read what it holds from the copy."""
    if not source.is_file():
        raise SnapshotFailed(f"the SQLite database {source} does not exist")
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    try:
        with (
            closing(_read_only(source)) as src,
            closing(sqlite3.connect(dest)) as dst,
        ):
            src.execute("PRAGMA busy_timeout=5000")
            # pages=-1: the whole database in one step, inside one read transaction.
            src.backup(dst, pages=-1)
            # The copy is one self-contained file: no WAL beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as err:
        raise SnapshotFailed(f"the SQLite online backup failed: {err}") from err
    return sqlite_contents(dest)


def sqlite_contents(path: Path) -> SnapshotContents:
    """What the SQLite copy at ``path`` holds (opened read-only)."""
    try:
        with closing(_read_only(path)) as copy:
            return read_contents(lambda sql: copy.execute(sql).fetchall())
    except sqlite3.Error as err:
        raise SnapshotFailed(f"the SQLite copy cannot be read: {err}") from err


def sqlite_integrity(path: Path) -> list[str]:
    """``PRAGMA integrity_check`` of the copy: [] when it is sound, else its complaints."""
    try:
        with closing(_read_only(path)) as copy:
            rows = [str(row[0]) for row in copy.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as err:
        return [f"the SQLite copy does not open: {err}"]
    return [] if rows == ["ok"] else rows[:20]


def sqlite_tables(path: Path) -> list[str]:
    """The tables of the SQLite database at ``path`` ([] when there is no file)."""
    if not path.exists():
        return []
    try:
        with closing(_read_only(path)) as target:
            rows = target.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
    except sqlite3.Error as err:
        raise RestoreRefused(f"{path} exists and is not a readable SQLite database: {err}") from err
    return sorted(str(row[0]) for row in rows)


def restore_sqlite(copy: Path, target: Path) -> None:
    """Write the backup's copy into ``target`` (which holds no table) with the backup
    API, then switch it back to WAL."""
    if sqlite_tables(target):
        raise RestoreRefused(f"the SQLite database {target} is not empty")
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not target.exists():
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    try:
        with (
            closing(_read_only(copy)) as src,
            closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as err:
        raise SnapshotFailed(f"writing the SQLite database {target} failed: {err}") from err


# --- PostgreSQL -----------------------------------------------------------------


def libpq_environment(url: str) -> dict[str, str]:
    """The environment for ``pg_dump``/``pg_restore`` to reach the database at ``url``
    (the process's own environment plus ``PG*`` variables; the password included)."""
    parsed = make_url(url)
    env = dict(os.environ)
    plain = {
        "PGHOST": parsed.host,
        "PGPORT": str(parsed.port) if parsed.port else None,
        "PGUSER": parsed.username,
        "PGPASSWORD": parsed.password if isinstance(parsed.password, str) else None,
        "PGDATABASE": parsed.database,
    }
    env.update({name: value for name, value in plain.items() if value})
    for key, value in parsed.query.items():
        name = _LIBPQ_ENV.get(key)
        if name is None:
            raise SnapshotFailed(f"the database URL parameter {key!r} is not supported here")
        env[name] = ",".join(value) if isinstance(value, tuple) else value
    return env


def _run(command: list[str], env: dict[str, str], *, stdout: Any = subprocess.PIPE) -> str:
    try:
        result = subprocess.run(  # noqa: S603  # fixed program, arguments hold no secret
            command, env=env, stdout=stdout, stderr=subprocess.PIPE, check=False
        )
    except FileNotFoundError as err:
        raise SnapshotFailed(
            f"{command[0]} is not installed (Debian: apt-get install postgresql-client)"
        ) from err
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
        raise SnapshotFailed(f"{Path(command[0]).name} failed: {message}")
    return result.stdout.decode("utf-8", "replace") if stdout is subprocess.PIPE else ""


def current_schema(connection: Connection) -> str:
    schema = connection.execute(text("SELECT current_schema()")).scalar()
    if not schema:
        raise RestoreRefused(
            "the database URL's search_path names no existing schema: create it first"
        )
    return str(schema)


def snapshot_postgres(engine: Engine, url: str, dest: Path, *, pg_dump: str) -> SnapshotContents:
    """``pg_dump`` (custom format) of the app's schema into the new file ``dest`` (0600),
    from the same snapshot the returned contents were read in."""
    env = libpq_environment(url)
    with engine.connect() as plain:
        connection = plain.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            snapshot = str(connection.execute(text("SELECT pg_export_snapshot()")).scalar())
            schema = current_schema(connection)
            contents = read_contents(lambda sql: connection.execute(text(sql)).all())
            contents.schema = schema
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                command = [pg_dump, "--format=custom", f"--schema={schema}"]
                _run([*command, f"--snapshot={snapshot}"], env, stdout=fd)
                os.fsync(fd)
            finally:
                os.close(fd)
    return contents


def pg_list(dump: Path, *, pg_restore: str) -> list[str]:
    """The dump's table of contents (``pg_restore --list``); raises ``SnapshotFailed``."""
    return [
        line
        for line in _run([pg_restore, "--list", str(dump)], dict(os.environ)).splitlines()
        if line and not line.startswith(";")
    ]


def postgres_tables(connection: Connection, schema: str) -> list[str]:
    rows = connection.execute(
        text("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = :s"), {"s": schema}
    )
    return sorted(str(row[0]) for row in rows)


def _schema_exists(connection: Connection, schema: str) -> bool:
    found = connection.execute(
        text("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = :s"), {"s": schema}
    ).first()
    return found is not None


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(name)


def _without_schema_entry(entries: list[str]) -> str:
    # The target schema exists already (empty): creating it again would fail, and
    # commenting on it needs its owner (``public`` belongs to the database owner).
    return "".join(
        f"{line}\n" for line in entries if not re.search(r" SCHEMA - | COMMENT - SCHEMA ", line)
    )


def restore_postgres(
    engine: Engine, url: str, dump: Path, *, dumped_schema: str, pg_restore: str, workdir: Path
) -> None:
    """Restore ``dump`` into the (empty) schema the URL's search_path selects.

    The dump names its schema; when the target's name differs, the empty target is
    renamed to the dumped name for the restore and back afterwards, so its owner and
    grants stay. Raises ``RestoreRefused`` when that name is taken by another schema.
    """
    with engine.begin() as connection:
        target = current_schema(connection)
        if postgres_tables(connection, target):
            raise RestoreRefused(f"the PostgreSQL schema {target!r} is not empty")
        renamed = target != dumped_schema
        if renamed:
            if _schema_exists(connection, dumped_schema):
                raise RestoreRefused(
                    f"the backup's schema {dumped_schema!r} already exists in this database; "
                    f"restore into it, or drop it, or use another database"
                )
            connection.execute(
                text(
                    f"ALTER SCHEMA {_quote(connection, target)} "
                    f"RENAME TO {_quote(connection, dumped_schema)}"
                )
            )
    listing = workdir / "restore.list"
    listing.write_text(_without_schema_entry(pg_list(dump, pg_restore=pg_restore)))
    env = libpq_environment(url)
    command = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error"]
    command += ["--single-transaction", f"--use-list={listing}"]
    try:
        _run([*command, f"--dbname={env.get('PGDATABASE', '')}", str(dump)], env)
    finally:
        if renamed:
            with engine.begin() as connection:
                connection.execute(
                    text(
                        f"ALTER SCHEMA {_quote(connection, dumped_schema)} "
                        f"RENAME TO {_quote(connection, target)}"
                    )
                )
