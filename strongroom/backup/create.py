"""``backup create``: snapshot, blobs, checkpoint and public key, manifest, rename.

Order matters: a checkpoint is signed first (so the backup's checkpoint covers nearly
all of the snapshot), then the database snapshot is taken, then the blobs *its* rows
refer to are copied or listed. Everything is written under a temporary name and the
directory is renamed only when complete.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from strongroom import __version__
from strongroom.backup import blobs as blob_copy
from strongroom.backup.database import (
    SnapshotContents,
    snapshot_postgres,
    snapshot_sqlite,
    sqlite_path,
)
from strongroom.backup.layout import INCOMPLETE_PREFIX, free_name
from strongroom.backup.manifest import (
    BLOB_INDEX_NAME,
    CHECKPOINT_PATH,
    FORMAT,
    MANIFEST_NAME,
    PUBLIC_KEY_PATH,
    VERSION,
    Manifest,
    list_files,
    private_dir,
    write_private,
)
from strongroom.crypto.keys import KeyProvider
from strongroom.db import Database
from strongroom.ledger.checkpoints import store_checkpoint
from strongroom.ledger.note import Signer
from strongroom.ledger.proofs import current_size
from strongroom.settings import Settings
from strongroom.storage.interfaces import BlobStore

log = logging.getLogger(__name__)
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"


@dataclass(frozen=True)
class Tools:
    """The PostgreSQL client programs (Debian's ``postgresql-client``)."""

    pg_dump: str = "pg_dump"
    pg_restore: str = "pg_restore"


DEFAULT_TOOLS = Tools()


def create_backup(
    root: Path,
    *,
    settings: Settings,
    database: Database,
    store: BlobStore,
    signer: Signer,
    keys: KeyProvider | None,
    now: datetime,
    tools: Tools = DEFAULT_TOOLS,
    progress: Callable[[int], None] = lambda _n: None,
) -> tuple[Path, Manifest]:
    """Write a new complete backup inside ``root``; returns its directory and manifest."""
    private_dir(root)
    name = free_name(root, now)
    temp = root / f"{INCOMPLETE_PREFIX}{name}-{secrets.token_hex(4)}"
    temp.mkdir(mode=0o700)
    try:
        _sign_checkpoint(database, signer, now)
        database_info, contents = _snapshot(temp, settings, database, tools)
        blobs_info = _blobs(temp, store, contents, progress)
        ledger_info = _ledger(temp, signer, contents)
        manifest = Manifest(
            data={
                "format": FORMAT,
                "version": VERSION,
                "created_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "app_version": __version__,
                "schema_revision": contents.revision,
                "database": database_info,
                "blobs": blobs_info,
                "ledger": ledger_info,
                "master_keys": _fingerprints(keys, contents.key_versions),
            }
        )
        manifest.files = list_files(temp)
        write_private(temp / MANIFEST_NAME, manifest.to_json())
        _fsync_tree(temp)
        final = root / free_name(root, now)
        temp.rename(final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    log.info("backup written", extra={"backup": str(final), "blobs": blobs_info["count"]})
    return final, manifest


def _sign_checkpoint(database: Database, signer: Signer, now: datetime) -> None:
    with database.session() as db:
        if current_size(db) == 0:
            return
        store_checkpoint(db, signer, at=now)  # None: another process signed it just now


def _snapshot(
    temp: Path, settings: Settings, database: Database, tools: Tools
) -> tuple[dict[str, object], SnapshotContents]:
    if settings.is_sqlite:
        contents = snapshot_sqlite(sqlite_path(settings.database_url), temp / SQLITE_FILE)
        return {"kind": "sqlite", "file": SQLITE_FILE}, contents
    contents = snapshot_postgres(
        database.engine, settings.database_url, temp / PG_FILE, pg_dump=tools.pg_dump
    )
    info: dict[str, object] = {
        "kind": "postgresql",
        "file": PG_FILE,
        "format": "pg_dump custom",
        "schema": contents.schema,
        "pg_dump": _tool_version(tools.pg_dump),
    }
    return info, contents


def _tool_version(program: str) -> str:
    result = subprocess.run(  # noqa: S603  # a fixed program and flag
        [program, "--version"], capture_output=True, check=False, text=True
    )
    return result.stdout.strip()


def _blobs(
    temp: Path, store: BlobStore, contents: SnapshotContents, progress: Callable[[int], None]
) -> dict[str, object]:
    refs = contents.blobs
    info: dict[str, object] = {
        "count": len(refs),
        "bytes": sum(ref.size for ref in refs),
        "index": BLOB_INDEX_NAME,
    }
    if store.name == "s3":
        entries = blob_copy.list_s3_blobs(store, refs, progress=progress)
        info["mode"] = blob_copy.MODE_S3
        info["store"] = {
            "backend": "s3",
            "bucket": getattr(store, "bucket", ""),
            "prefix": getattr(store, "prefix", ""),
        }
    else:
        blob_copy.copy_blobs(store, refs, temp, progress=progress)
        entries = blob_copy.index_entries(refs)
        info["mode"] = blob_copy.MODE_COPIED
        info["store"] = {"backend": store.name}
    write_private(temp / BLOB_INDEX_NAME, json.dumps(entries, indent=1).encode("utf-8"))
    return info


def _ledger(temp: Path, signer: Signer, contents: SnapshotContents) -> dict[str, object]:
    write_private(temp / PUBLIC_KEY_PATH, (signer.verifier.encode() + "\n").encode("ascii"))
    info: dict[str, object] = {
        "origin": signer.name,
        "public_key": PUBLIC_KEY_PATH,
        "size": contents.checkpoint_size,
        "checkpoint": None,
    }
    if contents.checkpoint_note is not None:
        write_private(temp / CHECKPOINT_PATH, contents.checkpoint_note.encode("utf-8"))
        info["checkpoint"] = CHECKPOINT_PATH
    return info


def _fingerprints(keys: KeyProvider | None, versions: list[str]) -> dict[str, str]:
    """Which master key versions the backup's files need, with each key's non-secret
    fingerprint (``keys status`` prints the same), so the right keys can be found."""
    held = keys.versions() if keys is not None else ()
    fingerprint = getattr(keys, "fingerprint", None)
    return {
        version: fingerprint(version) if fingerprint and version in held else "unknown"
        for version in versions
    }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        _fsync_dir(directory)
