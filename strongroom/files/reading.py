"""Reading a file back: unwrap its key, then stream and decrypt, whole or a range.

Only authenticated plaintext ever leaves this module: the decryptor yields a segment
after its tag has verified. The first piece is decrypted before the response starts
(``prime``), so a blob damaged at its start, a missing blob or an unusable key is an
error response rather than a cut-off download. Damage further in stops the stream:
``on_damage`` logs and ledgers it, and the exception aborts the connection, so the
client sees a short body against the announced ``Content-Length``. Blob readers are
closed as soon as the stream ends, however it ends, so a failed or abandoned download
gives its S3 connection or descriptor back at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass

from strongroom.crypto.exceptions import FormatError, KeyringError, MasterKeyUnavailable
from strongroom.crypto.format import HEADER_SIZE, parse_header, range_plan
from strongroom.crypto.keys import KeyProvider, WrappedKey
from strongroom.crypto.stream import decrypt_chunks, decrypt_range
from strongroom.files.exceptions import FileCorrupted, KeyUnavailable
from strongroom.files.models import StoredFile
from strongroom.files.pipeline import prefetch
from strongroom.storage.interfaces import BlobNotFound, BlobStore

log = logging.getLogger(__name__)

# Pieces handed to the WSGI server: large enough that per-write overhead vanishes,
# small enough that memory stays flat (one segment is decrypted at a time anyway).
OUTPUT_BYTES = 1024 * 1024

DamageHandler = Callable[[str], None]


@dataclass(frozen=True)
class Snapshot:
    """The fields of a file row a download needs, read inside the request's
    transaction so the stream no longer depends on it."""

    id: str
    blob_key: str
    size: int
    segment_size: int
    wrapped: WrappedKey

    @classmethod
    def of(cls, row: StoredFile) -> Snapshot:
        return cls(
            id=row.id,
            blob_key=row.blob_key,
            size=row.size,
            segment_size=row.segment_size,
            wrapped=WrappedKey(version=row.key_version, blob=row.wrapped_key),
        )


def unwrap(keys: KeyProvider, snapshot: Snapshot) -> bytes:
    """The file's data key; raises ``KeyUnavailable`` with the reason."""
    try:
        return keys.unwrap(snapshot.wrapped, file_id=snapshot.id)
    except MasterKeyUnavailable as err:
        raise KeyUnavailable(
            f"Master key version {snapshot.wrapped.version} is not configured, so this file "
            "cannot be decrypted; an operator must restore it."
        ) from err
    except KeyringError as err:
        raise KeyUnavailable(
            "This file's key does not open with the configured master key (wrong key?)."
        ) from err


def plaintext(
    snapshot: Snapshot,
    *,
    store: BlobStore,
    keys: KeyProvider,
    byte_range: tuple[int, int] | None,
    on_damage: DamageHandler,
) -> Iterator[bytes]:
    """The plaintext (or the inclusive ``byte_range`` of it), first piece already read.

    Raises ``KeyUnavailable``, or ``FileCorrupted`` when the blob is missing or fails
    authentication before anything could be sent.
    """
    data_key = unwrap(keys, snapshot)

    def pieces() -> Iterator[bytes]:
        # A generator, so that even opening the blob happens inside ``_guard``.
        if byte_range is None:
            with closing(store.open(snapshot.blob_key)) as blob:
                yield from decrypt_chunks(blob, data_key=data_key, file_id=snapshot.id)
        else:
            yield from _range(store, snapshot, data_key, byte_range)

    return prime(prefetch(_guard(_coalesce(pieces()), snapshot, on_damage)))


def _range(
    store: BlobStore, snapshot: Snapshot, data_key: bytes, byte_range: tuple[int, int]
) -> Iterator[bytes]:
    with closing(store.open(snapshot.blob_key, start=0, end=HEADER_SIZE)) as head:
        header = parse_header(b"".join(head))
    plan = range_plan(
        plaintext_size=snapshot.size,
        segment_size=header.segment_size,
        start=byte_range[0],
        end=byte_range[1],
    )
    with closing(
        store.open(snapshot.blob_key, start=plan.ciphertext_start, end=plan.ciphertext_end)
    ) as segments:
        yield from decrypt_range(
            header, segments, data_key=data_key, file_id=snapshot.id, plan=plan
        )


def _coalesce(pieces: Iterator[bytes]) -> Iterator[bytes]:
    # One copy per output piece (the join), however many segments went into it.
    batch: list[bytes] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= OUTPUT_BYTES:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def _guard(
    pieces: Iterator[bytes], snapshot: Snapshot, on_damage: DamageHandler
) -> Iterator[bytes]:
    try:
        yield from pieces
    except FormatError as err:
        reason = f"{type(err).__name__}: {err}"
        on_damage(reason)
        raise FileCorrupted(
            "The stored file failed its integrity check; nothing unverified was sent."
        ) from err
    except BlobNotFound as err:
        on_damage("BlobNotFound: the blob is missing")
        raise FileCorrupted("The stored file's content is missing.") from err


def prime(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Run ``pieces`` to its first item now, so early errors raise here."""
    try:
        first = next(pieces)
    except StopIteration:
        return iter(())
    return _chain(first, pieces)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
