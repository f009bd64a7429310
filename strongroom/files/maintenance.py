"""Storage upkeep: collect unreferenced blobs (``storage gc``) and scrub every file
(``storage verify``).

The collector only removes what no row refers to *and* is older than the grace
period: an upload commits its blob before its row (DESIGN.md section 3), so a young
unreferenced blob may be one whose row is about to be written. The scrub changes
nothing; it reads every blob, decrypts it and compares both hashes with the row and
with the ``file:upload`` ledger entry that committed to them.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from strongroom.crypto.exceptions import FormatError, KeyringError
from strongroom.crypto.keys import KeyProvider
from strongroom.crypto.stream import Decryptor
from strongroom.files.models import StoredFile
from strongroom.files.reading import Snapshot
from strongroom.ledger.models import LedgerEntry
from strongroom.ledger.services import record_event
from strongroom.storage.interfaces import BlobNotFound, BlobStore

log = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True)
class GcReport:
    examined: int
    removed: int
    incomplete: int


def collect_garbage(
    db: Session, store: BlobStore, *, grace: timedelta, now: datetime, dry_run: bool = False
) -> GcReport:
    """Remove blobs older than ``grace`` that no file row refers to, and interrupted
    uploads older than ``grace``; ledger ``storage:gc`` when anything went."""
    cutoff = now - grace
    examined = removed = 0
    candidates = (info for info in store.list() if info.modified < cutoff)
    for batch in _batched(candidates, BATCH):
        examined += len(batch)
        keys = [info.key for info in batch]
        referenced = set(
            db.scalars(select(StoredFile.blob_key).where(StoredFile.blob_key.in_(keys)))
        )
        db.rollback()  # no transaction held while the store works
        for key in keys:
            if key not in referenced:
                removed += 1
                if not dry_run:
                    store.delete(key)
    incomplete = 0 if dry_run else store.cleanup_incomplete(older_than=cutoff)
    if (removed or incomplete) and not dry_run:
        record_event(
            db,
            "storage:gc",
            actor="system",
            target=f"storage:{store.name}",
            details={"blobs": removed, "incomplete": incomplete},
            at=now,
        )
        db.commit()
    return GcReport(examined=examined, removed=removed, incomplete=incomplete)


def _batched(items: Iterator[object], size: int) -> Iterator[list]:  # type: ignore[type-arg]
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


@dataclass
class ScrubReport:
    """What the scrub found; ``problems`` holds one line per damaged file."""

    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def scrub(
    db: Session,
    store: BlobStore,
    keys: KeyProvider,
    *,
    progress: Callable[[int], None] = lambda _n: None,
) -> ScrubReport:
    """Read, decrypt and hash every file; compare with its row and its ledger entry."""
    report = ScrubReport()
    last_id = ""
    while True:
        rows = db.scalars(
            select(StoredFile).where(StoredFile.id > last_id).order_by(StoredFile.id).limit(BATCH)
        ).all()
        if not rows:
            return report
        committed = _committed_hashes(db, [row.upload_entry for row in rows])
        for row in rows:
            problem = check_file(row, store, keys, committed.get(row.upload_entry))
            report.files += 1
            report.bytes += row.size
            if problem:
                report.problems.append(f"file {row.id} (blob {row.blob_key}): {problem}")
            progress(report.files)
        last_id = rows[-1].id


def _committed_hashes(db: Session, indexes: list[int]) -> dict[int, dict[str, object]]:
    entries = db.execute(
        select(LedgerEntry.index, LedgerEntry.details).where(LedgerEntry.index.in_(indexes))
    ).all()
    return {index: details for index, details in entries if details}


def check_file(
    row: StoredFile, store: BlobStore, keys: KeyProvider, committed: dict[str, object] | None
) -> str | None:
    """``None`` when the file is whole, else what is wrong with it."""
    snapshot = Snapshot.of(row)
    try:
        data_key = keys.unwrap(snapshot.wrapped, file_id=row.id)
    except KeyringError as err:
        return f"data key cannot be unwrapped ({type(err).__name__}: {err})"
    plain, cipher, size = hashlib.sha256(), hashlib.sha256(), 0
    decryptor = Decryptor(data_key, file_id=row.id)
    try:
        with closing(store.open(row.blob_key)) as blob:
            for chunk in blob:
                cipher.update(chunk)
                size += len(chunk)
                for piece in decryptor.update(chunk):
                    plain.update(piece)
        for piece in decryptor.finalize():
            plain.update(piece)
    except BlobNotFound:
        return "blob missing"
    except FormatError as err:
        return f"fails authentication ({type(err).__name__}: {err})"
    return _compare(row, committed, plain.digest(), cipher.digest(), size)


def _compare(
    row: StoredFile, committed: dict[str, object] | None, plain: bytes, cipher: bytes, size: int
) -> str | None:
    if plain != row.sha256 or cipher != row.ciphertext_sha256 or size != row.ciphertext_size:
        return "content does not match the hashes in its row"
    if committed is None:
        return None  # the upload entry was redacted: the row is all there is to compare
    if committed.get("sha256") != plain.hex() or committed.get("ciphertext_sha256") != cipher.hex():
        return "content or row does not match the hashes the ledger committed to"
    return None
