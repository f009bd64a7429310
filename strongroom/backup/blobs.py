"""The blobs of a backup: copied from a local store, or listed for an S3 store.

Blobs are immutable (a key is written once, by one upload), so copying them after the
database snapshot yields exactly the bytes the snapshot's rows describe; each copy is
checked against the row's ciphertext SHA-256 on the way. A blob that vanished in
between (its file was deleted during the backup) fails the backup: run it again.

For S3 the blobs stay in the bucket (bucket versioning or replication protects them,
docs/operations/backup.md); the backup lists each referenced object with its size and
ETag, and restore checks that they are all there.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strongroom.backup.database import BlobRef
from strongroom.backup.exceptions import BackupError, BlobVanished, ManifestInvalid
from strongroom.backup.manifest import FILE_MODE, hash_file, private_dir
from strongroom.storage.interfaces import (
    BlobNotFound,
    BlobStore,
    StorageError,
    is_valid_key,
    validate_key,
)

BLOBS_DIR = "blobs"
MODE_COPIED = "copied"
MODE_S3 = "s3-listed"


def blob_path(key: str) -> str:
    """Where blob ``key`` lives inside a backup (relative, ``/``-separated)."""
    validate_key(key)
    return f"{BLOBS_DIR}/{key[:2]}/{key}"


def copy_blobs(
    store: BlobStore, refs: list[BlobRef], dest: Path, *, progress: Callable[[int], None]
) -> None:
    """Copy every referenced blob into ``dest/blobs/``, checking size and SHA-256."""
    for done, ref in enumerate(refs, start=1):
        target = dest / blob_path(ref.key)
        private_dir(target.parent)
        digest, size = hashlib.sha256(), 0
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        try:
            with closing(store.open(ref.key)) as reader:
                for chunk in reader:
                    digest.update(chunk)
                    size += len(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BlobNotFound as err:
            raise BlobVanished(
                f"blob {ref.key} vanished after the database snapshot (a file deleted during "
                "the backup?); run the backup again"
            ) from err
        finally:
            os.close(fd)
        if size != ref.size or digest.hexdigest() != ref.sha256:
            raise BackupError(
                f"blob {ref.key} does not match its file row (size {size}, expected "
                f"{ref.size}): the blob store is damaged; run `strongroom storage verify`"
            )
        progress(done)


@dataclass(frozen=True)
class S3Object:
    """What S3 says of a blob's object: size, ETag and (versioned bucket) version id."""

    size: int
    etag: str
    version_id: str | None


def s3_object_info(store: BlobStore, key: str) -> S3Object | None:
    """The object of blob ``key`` in an S3 store, or ``None`` when it is absent."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415  # only with S3

    client: Any = getattr(store, "client", None)
    if store.name != "s3" or client is None:
        raise BackupError("the configured blob store is not S3")
    try:
        head = client.head_object(Bucket=store.bucket, Key=store.object_key(key))  # type: ignore[attr-defined]
    except ClientError as err:
        if str(err.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise BackupError(f"the S3 store failed reading blob {key}: {err}") from err
    except BotoCoreError as err:
        raise BackupError(f"the S3 store cannot be reached: {err}") from err
    version = head.get("VersionId")
    return S3Object(
        size=int(head["ContentLength"]),
        etag=str(head.get("ETag", "")).strip('"'),
        version_id=str(version) if version and version != "null" else None,
    )


def list_s3_blobs(
    store: BlobStore, refs: list[BlobRef], *, progress: Callable[[int], None]
) -> list[dict[str, Any]]:
    """Each referenced object with its size, ETag and version id (when the bucket is
    versioned: the version to copy back if the object is deleted later); raises
    ``BlobVanished``."""
    listed = []
    for done, ref in enumerate(refs, start=1):
        info = s3_object_info(store, ref.key)
        if info is None:
            raise BlobVanished(f"blob {ref.key} is missing from the bucket; run the backup again")
        entry = _index_entry(ref)
        entry["etag"] = info.etag
        if info.version_id is not None:
            entry["version_id"] = info.version_id
        listed.append(entry)
        progress(done)
    return listed


def _index_entry(ref: BlobRef) -> dict[str, Any]:
    return {"key": ref.key, "size": ref.size, "sha256": ref.sha256}


def index_entries(refs: list[BlobRef]) -> list[dict[str, Any]]:
    return [_index_entry(ref) for ref in refs]


def load_index(path: Path) -> list[BlobRef]:
    """The blob index (``blobs.json``) of a backup; raises ``ManifestInvalid``."""
    try:
        entries = json.loads(path.read_bytes())
        refs = [BlobRef(str(e["key"]), int(e["size"]), str(e["sha256"])) for e in entries]
    except FileNotFoundError as err:
        raise ManifestInvalid(f"{path.name} is missing") from err
    except (ValueError, KeyError, TypeError) as err:
        raise ManifestInvalid(f"{path.name} is garbled ({err})") from err
    bad = [ref.key for ref in refs if not is_valid_key(ref.key)]
    if bad:
        # A key is also a path inside the backup and the store: never ``../`` or ``/``.
        raise ManifestInvalid(f"{path.name} names {len(bad)} invalid blob key(s): {bad[0]!r}")
    return refs


def load_s3_details(path: Path) -> dict[str, dict[str, str]]:
    """Per blob key, the ``etag`` and ``version_id`` recorded for it (when any)."""
    entries = json.loads(path.read_bytes())
    return {
        str(e["key"]): {k: str(e[k]) for k in ("etag", "version_id") if k in e} for e in entries
    }


def check_copied(
    backup: Path, refs: list[BlobRef], hashed: dict[str, tuple[int, str]]
) -> list[str]:
    """Problems with the copied blobs: missing, or not the bytes the row describes.

    ``hashed`` maps paths already hashed (and matching the manifest) to their size and
    SHA-256, so a large backup is read once; other copies are hashed here.
    """
    problems = []
    for ref in refs:
        relative = blob_path(ref.key)
        path = backup / relative
        if relative in hashed:
            size, digest = hashed[relative]
        elif path.is_file():
            size, digest = hash_file(path)
        else:
            problems.append(f"blob {ref.key} is missing from the backup")
            continue
        if size != ref.size or digest != ref.sha256:
            problems.append(f"blob {ref.key} does not match the hash its file row records")
    return problems


def check_s3(
    store: BlobStore, refs: list[BlobRef], details: dict[str, dict[str, str]]
) -> list[str]:
    """Problems with the listed S3 objects: missing, or of another size or ETag."""
    problems = []
    for ref in refs:
        recorded = details.get(ref.key, {})
        try:
            info = s3_object_info(store, ref.key)
        except (BackupError, StorageError) as err:
            problems.append(f"blob {ref.key}: {err}")
            continue
        if info is None:
            version = recorded.get("version_id")
            hint = (
                f" (backed up as version {version}: delete the delete marker above it to "
                "bring it back)"
                if version
                else ""
            )
            problems.append(f"blob {ref.key} is missing from the bucket{hint}")
        elif info.size != ref.size:
            problems.append(f"blob {ref.key} in the bucket has {info.size} bytes, not {ref.size}")
        elif "etag" in recorded and recorded["etag"] != info.etag:
            problems.append(f"blob {ref.key} in the bucket has another ETag than when backed up")
    return problems


def restore_copied(
    backup: Path, refs: list[BlobRef], store: BlobStore, *, progress: Callable[[int], None]
) -> None:
    """Write every copied blob into ``store`` under its key (any store: local or S3)."""
    for done, ref in enumerate(refs, start=1):
        validate_key(ref.key)
        with (backup / blob_path(ref.key)).open("rb") as source, store.create(ref.key) as writer:
            while chunk := source.read(1024 * 1024):
                writer.write(chunk)
            writer.commit()
        progress(done)


def remove_restored(store: BlobStore, refs: list[BlobRef]) -> None:
    """Undo ``restore_copied`` after a later step failed (the store was empty before)."""
    for ref in refs:
        try:
            store.delete(ref.key)
        except StorageError:
            continue  # best effort; `storage gc` collects what stays
