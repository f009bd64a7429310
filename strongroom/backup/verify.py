"""``backup verify``: everything a restore relies on, checked without restoring.

1. The manifest reads, and every file it lists has its size and SHA-256; no file is
   unlisted.
2. The database copy opens: SQLite ``PRAGMA integrity_check`` (and its revision,
   blobs and checkpoint agree with the manifest); PostgreSQL ``pg_restore --list``.
3. Every referenced blob is present: in the backup with the SHA-256 its row records,
   or (S3) in the bucket with its size and ETag when a store is given.
4. The checkpoint's signature verifies with the backup's public key (and that key is
   the one the caller pinned, when one is).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from strongroom.backup import blobs as blob_check
from strongroom.backup.database import pg_list, sqlite_contents, sqlite_integrity
from strongroom.backup.exceptions import BackupError, ManifestInvalid
from strongroom.backup.manifest import (
    BLOB_INDEX_NAME,
    MANIFEST_NAME,
    Manifest,
    hash_file,
    load_manifest,
    safe_relative,
)
from strongroom.ledger.note import NoteError, Verifier, open_checkpoint
from strongroom.storage.interfaces import BlobStore

REQUIRED_TABLES = ("alembic_version", "files", "ledger_entries", "ledger_checkpoints", "users")


@dataclass
class VerifyReport:
    """What ``verify_backup`` found: ``problems`` (each one sentence) and ``notes``."""

    backup: Path
    manifest: Manifest | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_backup(
    backup: Path,
    *,
    pinned: Verifier | None = None,
    s3_store: BlobStore | None = None,
    pg_restore: str = "pg_restore",
) -> VerifyReport:
    """Check the backup in ``backup``; never raises for what it finds, only reports."""
    report = VerifyReport(backup)
    try:
        report.manifest = manifest = load_manifest(backup)
    except ManifestInvalid as err:
        report.problems.append(str(err))
        return report
    damaged = _check_files(backup, manifest, report)
    _check_database(backup, manifest, report, pg_restore, damaged)
    hashed = {e.path: (e.size, e.sha256) for e in manifest.files if e.path not in damaged}
    _check_blobs(backup, manifest, report, s3_store, hashed)
    _check_checkpoint(backup, manifest, report, pinned)
    return report


def _symlinks(backup: Path) -> list[str]:
    """Every symbolic link inside the backup: a backup is written with none, and one
    would let ``verify`` and ``restore`` read a file from outside the backup."""
    found = []
    for directory, dirs, files in os.walk(backup):  # never follows links
        for name in dirs + files:
            path = Path(directory) / name
            if path.is_symlink():
                found.append(path.relative_to(backup).as_posix())
    return sorted(found)


def _check_files(backup: Path, manifest: Manifest, report: VerifyReport) -> set[str]:
    damaged = set()
    listed = {entry.path for entry in manifest.files}
    links = _symlinks(backup)
    for link in links:
        report.problems.append(f"{link} is a symbolic link (a backup holds none)")
    for entry in manifest.files:
        path = backup / entry.path
        if any(entry.path == link or entry.path.startswith(f"{link}/") for link in links):
            damaged.add(entry.path)
            continue
        if not path.is_file():
            report.problems.append(f"{entry.path} is missing")
            damaged.add(entry.path)
            continue
        size, digest = hash_file(path)
        if size != entry.size or digest != entry.sha256:
            report.problems.append(f"{entry.path} does not match its SHA-256 in the manifest")
            damaged.add(entry.path)
    for path in sorted(p for p in backup.rglob("*") if p.is_file()):
        relative = path.relative_to(backup).as_posix()
        if relative != MANIFEST_NAME and relative not in listed:
            report.problems.append(f"{relative} is not listed in the manifest")
    return damaged


def _check_database(
    backup: Path, manifest: Manifest, report: VerifyReport, pg_restore: str, damaged: set[str]
) -> None:
    try:
        name = safe_relative(str(manifest.database["file"]))
        kind = manifest.database["kind"]
    except (KeyError, ManifestInvalid) as err:
        report.problems.append(f"the manifest does not name the database copy ({err})")
        return
    path = backup / name
    if name in damaged:
        return  # already reported; opening a damaged copy says nothing more
    if kind == "sqlite":
        _check_sqlite(path, manifest, report)
    elif kind == "postgresql":
        _check_pg_dump(path, manifest, report, pg_restore)
    else:
        report.problems.append(f"unknown database kind {kind!r} in the manifest")


def _check_sqlite(path: Path, manifest: Manifest, report: VerifyReport) -> None:
    complaints = sqlite_integrity(path)
    if complaints:
        report.problems.extend(f"SQLite integrity check: {c}" for c in complaints)
        return
    try:
        contents = sqlite_contents(path)
    except BackupError as err:
        report.problems.append(str(err))
        return
    if contents.revision != manifest.schema_revision:
        report.problems.append(
            f"the database copy is at revision {contents.revision}, the manifest says "
            f"{manifest.schema_revision}"
        )
    if contents.checkpoint_size != manifest.ledger.get("size"):
        report.problems.append("the database copy's latest checkpoint is not the manifest's")
    try:
        indexed = {ref.key for ref in blob_check.load_index(path.parent / BLOB_INDEX_NAME)}
    except ManifestInvalid:
        return  # reported by _check_blobs
    missing = sorted({ref.key for ref in contents.blobs} - indexed)
    report.problems.extend(
        f"file rows refer to blob {k}, absent from {BLOB_INDEX_NAME}" for k in missing
    )


def _check_pg_dump(path: Path, manifest: Manifest, report: VerifyReport, pg_restore: str) -> None:
    try:
        entries = pg_list(path, pg_restore=pg_restore)
    except BackupError as err:
        report.problems.append(f"the PostgreSQL dump does not list: {err}")
        return
    schema = manifest.database.get("schema")
    for table in REQUIRED_TABLES:
        if not any(f"TABLE DATA {schema} {table} " in line for line in entries):
            report.problems.append(f"the PostgreSQL dump holds no data for table {table}")


def _check_blobs(
    backup: Path,
    manifest: Manifest,
    report: VerifyReport,
    s3_store: BlobStore | None,
    hashed: dict[str, tuple[int, str]],
) -> None:
    try:
        refs = blob_check.load_index(backup / BLOB_INDEX_NAME)
    except ManifestInvalid as err:
        report.problems.append(f"the blob index: {err}")
        return
    if len(refs) != manifest.blobs.get("count"):
        report.problems.append(f"{BLOB_INDEX_NAME} lists {len(refs)} blobs, the manifest says "
                               f"{manifest.blobs.get('count')}")  # fmt: skip
    mode = manifest.blobs.get("mode")
    if mode == blob_check.MODE_COPIED:
        report.problems.extend(blob_check.check_copied(backup, refs, hashed))
    elif mode == blob_check.MODE_S3:
        if s3_store is None:
            report.notes.append(
                f"{len(refs)} blobs are in the S3 bucket and were not checked (no S3 store given)"
            )
            return
        details = blob_check.load_s3_details(backup / BLOB_INDEX_NAME)
        report.problems.extend(blob_check.check_s3(s3_store, refs, details))
    else:
        report.problems.append(f"unknown blob mode {mode!r} in the manifest")


def _check_checkpoint(
    backup: Path, manifest: Manifest, report: VerifyReport, pinned: Verifier | None
) -> None:
    ledger = manifest.ledger
    try:
        key_text = (backup / safe_relative(str(ledger["public_key"]))).read_text("ascii").strip()
        verifier = Verifier.parse(key_text)
    except (KeyError, OSError, UnicodeDecodeError, ManifestInvalid, NoteError) as err:
        report.problems.append(f"the ledger public key is unusable: {err}")
        return
    if pinned is not None and pinned.encode() != verifier.encode():
        report.problems.append("the backup's ledger public key is not the key you pinned")
        verifier = pinned
    if ledger.get("checkpoint") is None:
        report.notes.append("the ledger was empty: the backup holds no checkpoint")
        return
    try:
        note = (backup / safe_relative(str(ledger["checkpoint"]))).read_bytes()
        checkpoint = open_checkpoint(note, verifier)
    except (OSError, ManifestInvalid, NoteError) as err:
        report.problems.append(f"the checkpoint does not verify: {err}")
        return
    if checkpoint.size != ledger.get("size"):
        report.problems.append(
            f"the checkpoint is for size {checkpoint.size}, the manifest says {ledger.get('size')}"
        )
