"""What every blob store offers: the ``BlobStore`` and ``BlobWriter`` protocols, the
exception family, and the key rule all stores share.

A blob is an opaque byte string (an encrypted file) under a key chosen by the caller.
Stores never interpret the bytes; they promise atomic visibility (nothing under a key
until ``commit()``), durability once ``commit()`` returns, and bounded memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol

from strongroom.exceptions import StrongroomError

# The whole key alphabet is URL-safe base64: no "/", "." or NUL can appear, so a key
# can never name a parent directory, a hidden temp file, or another S3 "folder". The
# length floor keeps keys unguessable-sized; the ceiling keeps paths and S3 keys short.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")

# Largest piece ``open()`` yields: bounds the memory a download holds at once.
MAX_CHUNK = 256 * 1024

# Probe objects start with "." so no valid key can collide with one.
PROBE_PREFIX = ".probe-"


class StorageError(StrongroomError):
    """The blob store failed; the message is safe to show (no paths, no bucket)."""


class BlobNotFound(StorageError):
    """No committed blob exists under the key."""


class InvalidBlobKey(StorageError):
    """The key is outside ``[A-Za-z0-9_-]{16,128}``."""


class StorageUnavailable(StorageError):
    """The store cannot be reached, retries are exhausted, or the disk failed."""


@dataclass(frozen=True)
class BlobInfo:
    """A committed blob: its key, size in bytes and last modification (aware UTC)."""

    key: str
    size: int
    modified: datetime


def validate_key(key: str) -> str:
    """Return ``key`` unchanged; raises ``InvalidBlobKey`` unless it matches the rule."""
    if not isinstance(key, str) or KEY_PATTERN.fullmatch(key) is None:
        raise InvalidBlobKey("invalid blob key: 16-128 characters of A-Z a-z 0-9 _ -")
    return key


def is_valid_key(name: str) -> bool:
    """Whether ``name`` is a blob key (``list()`` uses it to skip temp and probe names)."""
    return KEY_PATTERN.fullmatch(name) is not None


def check_range(start: int, end: int | None) -> None:
    """Raise ``ValueError`` for a negative start or an end before the start."""
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range [{start}, {end})")


def check_cutoff(older_than: datetime) -> None:
    """Raise ``ValueError`` for a naive cutoff (ages are compared in UTC)."""
    if older_than.tzinfo is None or older_than.utcoffset() is None:
        raise ValueError("older_than must be an aware datetime")


class BlobReader(Protocol):
    """The chunks of a blob being read. Iterating to the end closes it; a reader
    abandoned early (a failed download) must be closed by the caller, so a network
    connection or descriptor is released at once rather than whenever it is collected."""

    def __iter__(self) -> Iterator[bytes]: ...

    def __next__(self) -> bytes: ...

    def close(self) -> None:
        """Release the connection or descriptor; safe to call more than once."""


class NoBytes:
    """A ``BlobReader`` with nothing to read."""

    def __iter__(self) -> NoBytes:
        return self

    def __next__(self) -> bytes:
        raise StopIteration

    def close(self) -> None:
        """Nothing to release."""


class BlobWriter(Protocol):
    """One blob being written. A context manager: leaving it without ``commit()``
    (normally or by an exception) aborts."""

    bytes_written: int
    """Bytes accepted by ``write()`` so far."""

    def write(self, data: bytes) -> None:
        """Append ``data``; raises ``StorageUnavailable`` (the write is then aborted)."""

    def commit(self) -> None:
        """Make the blob durable and visible at its key, atomically, replacing any
        blob already there; raises ``StorageUnavailable`` (nothing becomes visible)."""

    def abort(self) -> None:
        """Discard everything written; idempotent, safe after a failure, never raises
        for store errors (leftovers are removed by ``cleanup_incomplete``)."""

    def __enter__(self) -> BlobWriter: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BlobStore(Protocol):
    """Where blobs live. Every method raises ``InvalidBlobKey`` for a bad key and
    ``StorageUnavailable`` when the store cannot be used."""

    name: str
    """``"local"`` or ``"s3"``."""

    def create(self, key: str) -> BlobWriter:
        """A writer for ``key``; nothing is visible under ``key`` until it commits."""

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> BlobReader:
        """Bytes ``[start, end)`` (``end`` ``None``: to the end; an end past the blob is
        cut to its size) in chunks of at most 256 KiB. Raises ``BlobNotFound`` before
        yielding anything, ``ValueError`` for a negative or reversed range."""

    def size(self, key: str) -> int:
        """The blob's size in bytes; raises ``BlobNotFound``."""

    def exists(self, key: str) -> bool:
        """Whether a committed blob is under ``key``."""

    def delete(self, key: str) -> None:
        """Remove the blob; does nothing when there is none."""

    def list(self) -> Iterator[BlobInfo]:
        """Every committed blob, in no particular order (no temp or probe objects)."""

    def cleanup_incomplete(self, *, older_than: datetime) -> int:
        """Remove leftovers of interrupted writes started before ``older_than`` (an
        aware datetime); returns how many were removed."""

    def probe(self) -> None:
        """Write, read back and delete a probe object; raises ``StorageUnavailable``."""
