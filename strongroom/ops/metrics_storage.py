"""Counting blob store failures at the store's edge, without touching the stores.

``metered_store`` wraps the app's ``BlobStore`` (and the readers and writers it hands
out) and counts each failure in ``strongroom_storage_errors_total`` by backend,
operation and error, then re-raises it unchanged. A missing blob counts only where
one was promised (``open``, ``size``); a bad key or range is the caller's mistake,
not the store's, and is not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from strongroom.ops import metrics
from strongroom.storage.interfaces import (
    BlobInfo,
    BlobNotFound,
    BlobReader,
    BlobStore,
    BlobWriter,
    InvalidBlobKey,
    StorageUnavailable,
)

T = TypeVar("T")


def error_label(exc: BaseException) -> str | None:
    """The ``error`` label for ``exc``, or ``None`` when it is no store failure."""
    if isinstance(exc, StorageUnavailable):
        return "unavailable"
    if isinstance(exc, BlobNotFound):
        return "not_found"
    if isinstance(exc, InvalidBlobKey | ValueError | GeneratorExit):
        return None
    if isinstance(exc, Exception):
        return "other"
    return None  # KeyboardInterrupt, SystemExit: not the store's doing


class _Counting:
    def __init__(self, backend: str) -> None:
        self._backend = backend

    def _count(self, operation: str, exc: BaseException) -> None:
        label = error_label(exc)
        if label is not None:
            metrics.count_storage_error(self._backend, operation, label)

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except BaseException as exc:
            self._count(operation, exc)
            raise


class MeteredReader(_Counting):
    """A ``BlobReader`` whose failures mid-stream are counted as ``read``."""

    def __init__(self, reader: BlobReader, backend: str) -> None:
        super().__init__(backend)
        self._reader = reader

    def __iter__(self) -> MeteredReader:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._reader)
        except StopIteration:
            raise
        except BaseException as exc:
            self._count("read", exc)
            raise

    def close(self) -> None:
        self._reader.close()


class MeteredWriter(_Counting):
    """A ``BlobWriter`` whose failed writes and commits are counted."""

    def __init__(self, writer: BlobWriter, backend: str) -> None:
        super().__init__(backend)
        self._writer = writer

    @property
    def bytes_written(self) -> int:
        return self._writer.bytes_written

    @bytes_written.setter
    def bytes_written(self, value: int) -> None:
        self._writer.bytes_written = value

    def write(self, data: bytes) -> None:
        self._call("write", lambda: self._writer.write(data))

    def commit(self) -> None:
        self._call("commit", self._writer.commit)

    def abort(self) -> None:
        self._writer.abort()

    def __enter__(self) -> MeteredWriter:
        self._writer.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._writer.__exit__(exc_type, exc, tb)


class MeteredStore(_Counting):
    """A ``BlobStore`` that counts the failures of ``store``; everything else passes
    through (attributes it does not define are the wrapped store's)."""

    def __init__(self, store: BlobStore) -> None:
        super().__init__(store.name)
        self.wrapped = store
        self.name = store.name

    def __getattr__(self, attribute: str) -> Any:
        if attribute == "wrapped":  # not set yet (a copy in the making): no recursion
            raise AttributeError(attribute)
        return getattr(self.wrapped, attribute)

    def create(self, key: str) -> BlobWriter:
        return MeteredWriter(self._call("create", lambda: self.wrapped.create(key)), self.name)

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> BlobReader:
        reader = self._call("open", lambda: self.wrapped.open(key, start=start, end=end))
        return MeteredReader(reader, self.name)

    def size(self, key: str) -> int:
        return self._call("size", lambda: self.wrapped.size(key))

    def exists(self, key: str) -> bool:
        return self._call("exists", lambda: self.wrapped.exists(key))

    def delete(self, key: str) -> None:
        self._call("delete", lambda: self.wrapped.delete(key))

    def list(self) -> Iterator[BlobInfo]:
        iterator = self._call("list", lambda: iter(self.wrapped.list()))
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            except BaseException as exc:
                self._count("list", exc)
                raise
            yield item

    def cleanup_incomplete(self, *, older_than: datetime) -> int:
        return self._call("cleanup", lambda: self.wrapped.cleanup_incomplete(older_than=older_than))

    def probe(self) -> None:
        self._call("probe", self.wrapped.probe)


def metered_store(store: BlobStore) -> BlobStore:
    """``store``, with its failures counted (a store already metered is returned as is)."""
    if isinstance(store, MeteredStore):
        return store
    return MeteredStore(store)
