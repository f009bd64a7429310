"""Storing an upload: encrypt and hash on the way to the blob store, then commit.

The consistency protocol of DESIGN.md section 3: the ciphertext is written to a new
blob and made durable first; only then does one transaction insert the file row and
append the ``file:upload`` ledger entry that commits to both hashes. If anything
fails before that commit, the blob is removed (and ``storage gc`` removes whatever a
crash leaves behind), so no reader ever sees a file without its content.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from strongroom.auth.models import User
from strongroom.crypto.format import new_header
from strongroom.crypto.keys import KeyProvider, WrappedKey
from strongroom.crypto.stream import Encryptor, new_data_key
from strongroom.files.exceptions import FileTooLarge, QuotaExceeded
from strongroom.files.hashing import BackgroundHash
from strongroom.files.models import StoredFile
from strongroom.files.names import name_key
from strongroom.files.sniff import SNIFF_BYTES, detect_content_type
from strongroom.ledger.services import record_event
from strongroom.storage.interfaces import BlobStore, BlobWriter, StorageError

log = logging.getLogger(__name__)


def new_file_id() -> str:
    """144 random bits, URL-safe: ids cannot be guessed or enumerated."""
    return secrets.token_urlsafe(18)


def new_blob_key() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class WrittenBlob:
    """What was written for one upload, before any row refers to it."""

    file_id: str
    blob_key: str
    size: int
    sha256: bytes
    ciphertext_size: int
    ciphertext_sha256: bytes
    segment_size: int
    content_type: str
    wrapped: WrappedKey
    key_provider: str


@dataclass
class _Meter:
    """Counts the plaintext, keeps its first bytes, enforces the limits."""

    max_size: int
    allowance: int | None  # bytes left in the quota; None: no quota
    size: int = 0
    head: bytes = b""

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_size:
            raise FileTooLarge(f"The file is larger than the limit of {self.max_size} bytes.")
        if self.allowance is not None and self.size > self.allowance:
            raise QuotaExceeded(
                f"The file does not fit in your storage quota ({self.allowance} bytes left)."
            )
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]


def write_blob(
    chunks: Iterable[bytes],
    *,
    name: str,
    store: BlobStore,
    keys: KeyProvider,
    segment_size: int,
    max_size: int,
    allowance: int | None,
) -> WrittenBlob:
    """Encrypt ``chunks`` into a new, committed blob, hashing both sides on the way.

    Raises ``FileTooLarge`` or ``QuotaExceeded`` as soon as the stream passes a limit
    (the partial blob is discarded), and whatever the source or the store raise.
    """
    file_id, blob_key = new_file_id(), new_blob_key()
    data_key = new_data_key()
    wrapped = keys.wrap(data_key, file_id=file_id)
    encryptor = Encryptor(data_key, file_id=file_id, header=new_header(segment_size=segment_size))
    del data_key  # only the wrapped form outlives this function
    meter = _Meter(max_size=max_size, allowance=allowance)
    with (
        BackgroundHash("sha256-plaintext") as plain_digest,
        BackgroundHash("sha256-ciphertext") as cipher_digest,
        store.create(blob_key) as writer,
    ):
        for chunk in chunks:
            meter.feed(chunk)
            plain_digest.update((chunk,))
            _write(writer, cipher_digest, encryptor.update(chunk))
        _write(writer, cipher_digest, encryptor.finalize())
        writer.commit()
        ciphertext_size = writer.bytes_written
    return WrittenBlob(
        file_id=file_id,
        blob_key=blob_key,
        size=meter.size,
        sha256=plain_digest.digest(),
        ciphertext_size=ciphertext_size,
        ciphertext_sha256=cipher_digest.digest(),
        segment_size=segment_size,
        content_type=detect_content_type(meter.head, name),
        wrapped=wrapped,
        key_provider=keys.name,
    )


def _write(writer: BlobWriter, digest: BackgroundHash, pieces: list[bytes]) -> None:
    if pieces:
        digest.update(pieces)
        for piece in pieces:
            writer.write(piece)


def usage(db: Session, owner_id: int) -> tuple[int, int]:
    """``(bytes, files)`` stored by ``owner_id``."""
    row = db.execute(
        select(func.coalesce(func.sum(StoredFile.size), 0), func.count(StoredFile.id)).where(
            StoredFile.owner_id == owner_id
        )
    ).one()
    return int(row[0]), int(row[1])


def quota_allowance(db: Session, owner_id: int, quota: int) -> int | None:
    """Bytes ``owner_id`` may still store, or ``None`` without a quota."""
    if quota == 0:
        return None
    return max(0, quota - usage(db, owner_id)[0])


def record_upload(
    db: Session,
    blob: WrittenBlob,
    *,
    owner: User,
    name: str,
    raw_name: str,
    quota: int,
    at: datetime,
) -> StoredFile:
    """Insert the file row and its ``file:upload`` entry (the caller commits).

    ``name`` is the cleaned name (``names.clean_name``); ``raw_name`` what was sent.

    The quota is checked again here, under the owner's row lock, because two uploads
    that each fit alone may not fit together. Raises ``QuotaExceeded``.
    """
    _lock_owner(db, owner.id)
    allowance = quota_allowance(db, owner.id, quota)
    if allowance is not None and blob.size > allowance:
        raise QuotaExceeded(
            f"The file does not fit in your storage quota ({allowance} bytes left)."
        )
    entry = record_event(
        db,
        "file:upload",
        actor=f"user:{owner.id}",
        target=f"file:{blob.file_id}",
        details={
            "name": name,
            "size": blob.size,
            "sha256": blob.sha256.hex(),
            "ciphertext_sha256": blob.ciphertext_sha256.hex(),
            "ciphertext_size": blob.ciphertext_size,
            "key_version": blob.wrapped.version,
        },
        at=at,
    )
    row = StoredFile(
        id=blob.file_id,
        owner_id=owner.id,
        name=name,
        name_key=name_key(name),
        original_name=raw_name.encode("utf-8", "surrogatepass")[:4096],
        content_type=blob.content_type,
        size=blob.size,
        sha256=blob.sha256,
        blob_key=blob.blob_key,
        ciphertext_size=blob.ciphertext_size,
        ciphertext_sha256=blob.ciphertext_sha256,
        segment_size=blob.segment_size,
        key_provider=blob.key_provider,
        key_version=blob.wrapped.version,
        wrapped_key=blob.wrapped.blob,
        created_at=at,
        updated_at=at,
        upload_entry=entry.index,
    )
    db.add(row)
    db.flush()
    return row


def _lock_owner(db: Session, owner_id: int) -> None:
    # PostgreSQL: FOR UPDATE serializes concurrent uploads of one owner. SQLite has
    # taken the database write lock already (BEGIN IMMEDIATE) and ignores the clause.
    db.execute(select(User.id).where(User.id == owner_id).with_for_update())


def discard_blob(store: BlobStore, blob_key: str) -> None:
    """Remove a blob no row will refer to; a failure is left to ``storage gc``."""
    try:
        store.delete(blob_key)
    except StorageError:
        log.warning(
            "could not remove an unreferenced blob; storage gc will", extra={"blob": blob_key}
        )
