"""``backup restore``: a verified backup into an empty instance, then migrations.

Refused, before anything is written, when the backup does not verify, when the
database or (for copied blobs) the blob store is not empty, when the backup comes from
a newer schema than this release knows, or when the configured ledger signing key is
not the one whose public key the backup holds (``ledger verify`` would then fail on
every old checkpoint: restore the key from the key backup first).

After the restore the backup's checkpoint must be in the restored ledger with the
same root, so an auditor's pinned checkpoint stays consistent with the restored log.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import select

from strongroom.backup import blobs as blob_restore
from strongroom.backup.create import DEFAULT_TOOLS, Tools
from strongroom.backup.database import (
    current_schema,
    postgres_tables,
    restore_postgres,
    restore_sqlite,
    sqlite_path,
    sqlite_tables,
)
from strongroom.backup.exceptions import RestoreRefused
from strongroom.backup.manifest import BLOB_INDEX_NAME, Manifest
from strongroom.backup.verify import verify_backup
from strongroom.crypto.keys import KeyProvider
from strongroom.db import Database, alembic_config, schema_status, upgrade
from strongroom.files.models import StoredFile
from strongroom.ledger.models import LedgerCheckpoint
from strongroom.ledger.note import Signer, open_checkpoint
from strongroom.ledger.proofs import root_at
from strongroom.settings import Settings
from strongroom.storage.interfaces import BlobStore


@dataclass
class RestoreReport:
    """What the restore did and what the operator still has to look at."""

    backup: Path
    revision_before: str
    revision_after: str
    blobs: int
    files: int = 0
    warnings: list[str] = field(default_factory=list)


def restore_backup(
    backup: Path,
    *,
    settings: Settings,
    database: Database,
    store: BlobStore,
    signer: Signer,
    keys: KeyProvider | None,
    tools: Tools = DEFAULT_TOOLS,
    progress: Callable[[int], None] = lambda _n: None,
) -> RestoreReport:
    """Restore ``backup`` into the instance the settings describe (which must be empty)."""
    manifest = _verified(backup, store, tools)
    _check_compatible(manifest, backup, settings, signer)
    _check_empty(manifest, settings, database, store)
    refs = blob_restore.load_index(backup / BLOB_INDEX_NAME)
    copied = manifest.blobs["mode"] == blob_restore.MODE_COPIED
    try:
        if copied:
            blob_restore.restore_copied(backup, refs, store, progress=progress)
        _restore_database(
            backup / str(manifest.database["file"]), manifest, settings, database, tools
        )
    except BaseException:
        # The database restore is one transaction (pg_restore --single-transaction, the
        # SQLite backup API): when it fails nothing is in the database, so the blobs
        # written for it go too and the instance is empty again for another attempt.
        if copied:
            blob_restore.remove_restored(store, refs)
        raise
    database.engine.dispose()  # connections opened before the restore saw no tables
    upgrade(database.engine)
    with database.engine.connect() as connection:
        after = ",".join(schema_status(connection).current)
    report = RestoreReport(backup, manifest.schema_revision, after, len(refs))
    _check_restored(manifest, backup, database, signer, keys, report)
    return report


def _restore_database(
    copy: Path, manifest: Manifest, settings: Settings, database: Database, tools: Tools
) -> None:
    if settings.is_sqlite:
        restore_sqlite(copy, sqlite_path(settings.database_url))
        return
    restore_postgres(
        database.engine,
        settings.database_url,
        copy,
        dumped_schema=str(manifest.database["schema"]),
        pg_restore=tools.pg_restore,
        workdir=_workdir(settings),
    )


def _workdir(settings: Settings) -> Path:
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return settings.data_dir


def _verified(backup: Path, store: BlobStore, tools: Tools) -> Manifest:
    s3_store = store if store.name == "s3" else None
    report = verify_backup(backup, s3_store=s3_store, pg_restore=tools.pg_restore)
    if not report.ok or report.manifest is None:
        raise RestoreRefused(
            "the backup does not verify: " + "; ".join(report.problems)
            + " (run `strongroom backup verify`)"
        )  # fmt: skip
    if report.manifest.blobs.get("mode") == blob_restore.MODE_S3 and s3_store is None:
        raise RestoreRefused(
            "this backup's blobs stay in an S3 bucket "
            f"({report.manifest.blobs.get('store', {}).get('bucket')!r}): configure that "
            "bucket, or its replica, as the blob store"
        )
    return report.manifest


def _check_compatible(manifest: Manifest, backup: Path, settings: Settings, signer: Signer) -> None:
    kind = "sqlite" if settings.is_sqlite else "postgresql"
    if manifest.database["kind"] != kind:
        raise RestoreRefused(
            f"this is a {manifest.database['kind']} backup; the configured database is {kind}"
        )
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(manifest.schema_revision)
    except CommandError:
        known = None
    if known is None:
        raise RestoreRefused(
            f"the backup is at schema revision {manifest.schema_revision}, which this release "
            "does not know (a newer release made it): restore with that release"
        )
    key_text = (backup / str(manifest.ledger["public_key"])).read_text("ascii").strip()
    if not hmac.compare_digest(key_text, signer.verifier.encode()):
        raise RestoreRefused(
            "the configured ledger signing key is not the one that signed this backup's "
            f"checkpoints (backup: {key_text}; configured: {signer.verifier.encode()}); set "
            "STRONGROOM_LEDGER_SIGNING_KEY to the key kept in your key backup"
        )


def _check_empty(
    manifest: Manifest, settings: Settings, database: Database, store: BlobStore
) -> None:
    if settings.is_sqlite:
        tables = sqlite_tables(sqlite_path(settings.database_url))
    else:
        with database.engine.connect() as connection:
            tables = postgres_tables(connection, current_schema(connection))
    if tables:
        raise RestoreRefused(
            f"the database is not empty ({len(tables)} tables, e.g. {tables[0]}): restore only "
            "into an empty database (do not run `db upgrade` before restoring)"
        )
    if manifest.blobs["mode"] == blob_restore.MODE_COPIED and next(iter(store.list()), None):
        raise RestoreRefused("the blob store is not empty: restore only into an empty one")


def _check_restored(  # noqa: PLR0917  # private helper, called once
    manifest: Manifest,
    backup: Path,
    database: Database,
    signer: Signer,
    keys: KeyProvider | None,
    report: RestoreReport,
) -> None:
    with database.session(write=False) as db:
        report.files = len(db.scalars(select(StoredFile.id)).all())
        note_path = manifest.ledger.get("checkpoint")
        if note_path is not None:
            checkpoint = open_checkpoint((backup / str(note_path)).read_bytes(), signer.verifier)
            stored = db.get(LedgerCheckpoint, checkpoint.size)
            if stored is None or root_at(db, checkpoint.size) != checkpoint.root:
                raise RestoreRefused(
                    f"the restored ledger does not hold the backup's checkpoint at size "
                    f"{checkpoint.size}: do not use this instance; report it"
                )
        versions = set(db.scalars(select(StoredFile.key_version).distinct()))
    held = set(keys.versions()) if keys is not None else set()
    for version in sorted(versions - held):
        report.warnings.append(
            f"master key version {version} is used by files but not configured: those files "
            "cannot be read until it is restored from the key backup (docs/operations/keys.md)"
        )
