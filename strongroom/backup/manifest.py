"""The manifest (``manifest.json``): what a backup holds and the SHA-256 of every file.

Format ``strongroom-backup`` version 1 (docs/operations/backup.md):

```
{"format": "strongroom-backup", "version": 1, "created_at": "...Z",
 "app_version": "...", "schema_revision": "0005",
 "database": {"kind": "sqlite" | "postgresql", "file": "database.sqlite3", ...},
 "blobs": {"mode": "copied" | "s3-listed", "count": N, "bytes": B, "index": "blobs.json"},
 "ledger": {"origin": "...", "size": N, "checkpoint": "ledger/checkpoint",
            "public_key": "ledger/public-key"},
 "master_keys": {"1": "<fingerprint>"},
 "files": [{"path": "...", "size": N, "sha256": "<hex>"}, ...]}
```

Paths are relative, with ``/``; every file in the backup except the manifest itself is
listed. The manifest detects damage; it is not signed, so a forger who rewrites files
and manifest together is caught by the ledger's signatures after a restore, not here.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from strongroom.backup.exceptions import ManifestInvalid

FORMAT = "strongroom-backup"
VERSION = 1
MANIFEST_NAME = "manifest.json"
BLOB_INDEX_NAME = "blobs.json"
CHECKPOINT_PATH = "ledger/checkpoint"
PUBLIC_KEY_PATH = "ledger/public-key"
DIR_MODE = 0o700
FILE_MODE = 0o600
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileEntry:
    """One file of the backup: its relative path, size and SHA-256 (hex)."""

    path: str
    size: int
    sha256: str


@dataclass
class Manifest:
    """The parsed ``manifest.json``; ``data`` keeps every field, ``files`` the list."""

    data: dict[str, Any]
    files: list[FileEntry] = field(default_factory=list)

    @property
    def database(self) -> dict[str, Any]:
        value: dict[str, Any] = self.data["database"]
        return value

    @property
    def blobs(self) -> dict[str, Any]:
        value: dict[str, Any] = self.data["blobs"]
        return value

    @property
    def ledger(self) -> dict[str, Any]:
        value: dict[str, Any] = self.data["ledger"]
        return value

    @property
    def schema_revision(self) -> str:
        return str(self.data["schema_revision"])

    def to_json(self) -> bytes:
        body = {**self.data, "files": [vars(entry) for entry in self.files]}
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8")


def hash_file(path: Path) -> tuple[int, str]:
    """The size and SHA-256 (hex) of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents as 0700 (existing ones are left alone)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        directory.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new 0600 file and fsync it."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def list_files(root: Path) -> list[FileEntry]:
    """Every regular file under ``root`` except the manifest, hashed, sorted by path."""
    entries = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative == MANIFEST_NAME:
            continue
        size, digest = hash_file(path)
        entries.append(FileEntry(relative, size, digest))
    return entries


def safe_relative(path: str) -> str:
    """``path`` when it is a plain relative path inside the backup; raises otherwise."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in path:
        raise ManifestInvalid(f"the manifest names a path outside the backup: {path!r}")
    return path


def load_manifest(backup: Path) -> Manifest:
    """Read and check ``manifest.json``; raises ``ManifestInvalid`` with the reason."""
    path = backup / MANIFEST_NAME
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError as err:
        raise ManifestInvalid(f"{backup} holds no {MANIFEST_NAME}: not a complete backup") from err
    except OSError as err:
        raise ManifestInvalid(f"cannot read {path}: {err.strerror}") from err
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise ManifestInvalid(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestInvalid(f"{path} is not a Strongroom backup manifest")
    if data.get("version") != VERSION:
        raise ManifestInvalid(
            f"{path} has format version {data.get('version')!r}; this release reads {VERSION}"
        )
    try:
        files = [
            FileEntry(safe_relative(str(f["path"])), int(f["size"]), str(f["sha256"]))
            for f in data.pop("files")
        ]
    except (KeyError, TypeError, ValueError) as err:
        raise ManifestInvalid(f"{path} lacks or garbles a required field ({err})") from err
    missing = [k for k in ("database", "blobs", "ledger", "schema_revision") if k not in data]
    if missing:
        raise ManifestInvalid(f"{path} lacks the required field {missing[0]!r}")
    return Manifest(data=data, files=files)
