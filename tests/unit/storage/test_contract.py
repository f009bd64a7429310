"""The one contract every ``BlobStore`` keeps, run against each implementation.

The ``store`` fixture gives an empty local store, then an empty S3 store on a real
moto server process (5 MiB parts, so the larger sizes take the multipart path).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.storage.interfaces import (
    MAX_CHUNK,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    InvalidBlobKey,
    StorageError,
    validate_key,
)
from tests.storage_support import S3_TEST_PART_SIZE, leftovers

PART = S3_TEST_PART_SIZE
PIECE = 1024 * 1024 + 7  # odd-sized writes straddle part boundaries


def new_key() -> str:
    return secrets.token_urlsafe(24)


def put(store: BlobStore, key: str, data: bytes) -> None:
    with store.create(key) as writer:
        for offset in range(0, len(data), PIECE):
            writer.write(data[offset : offset + PIECE])
        writer.commit()
        assert writer.bytes_written == len(data)


def read(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    chunks = list(store.open(key, start=start, end=end))
    assert all(0 < len(chunk) <= MAX_CHUNK for chunk in chunks)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "size",
    [0, 1, MAX_CHUNK + 1, PART, 2 * PART + 123],
    ids=["empty", "one-byte", "chunk-plus-one", "exactly-one-part", "multipart"],
)
def test_round_trip(store: BlobStore, size: int) -> None:
    key, data = new_key(), secrets.token_bytes(size)
    put(store, key, data)
    assert read(store, key) == data
    assert store.size(key) == size
    assert store.exists(key)
    assert leftovers(store) == 0


@pytest.mark.parametrize("size", [100, PART + 1], ids=["small", "multipart"])
def test_nothing_visible_before_commit(store: BlobStore, size: int) -> None:
    key = new_key()
    with store.create(key) as writer:
        writer.write(secrets.token_bytes(size))
        assert not store.exists(key)
        assert key not in {info.key for info in store.list()}
        with pytest.raises(BlobNotFound):
            store.open(key)
        with pytest.raises(BlobNotFound):
            store.size(key)
        writer.commit()
    assert store.size(key) == size


@pytest.mark.parametrize("size", [100, PART + 1], ids=["small", "multipart"])
def test_abort_leaves_nothing(store: BlobStore, size: int) -> None:
    key = new_key()
    writer = store.create(key)
    writer.write(secrets.token_bytes(size))
    writer.abort()
    writer.abort()  # idempotent
    assert not store.exists(key)
    assert list(store.list()) == []
    assert leftovers(store) == 0
    with pytest.raises(StorageError):
        writer.write(b"more")


@pytest.mark.parametrize("size", [100, PART + 1], ids=["small", "multipart"])
def test_leaving_without_commit_aborts(store: BlobStore, size: int) -> None:
    quiet, failing = new_key(), new_key()
    with store.create(quiet) as writer:
        writer.write(secrets.token_bytes(size))

    def interrupted_upload() -> None:
        with store.create(failing) as writer:
            writer.write(secrets.token_bytes(size))
            raise RuntimeError("caller failed")

    with pytest.raises(RuntimeError, match="caller failed"):
        interrupted_upload()
    assert not store.exists(quiet)
    assert not store.exists(failing)
    assert list(store.list()) == []
    assert leftovers(store) == 0


def test_commit_replaces(store: BlobStore) -> None:
    key = new_key()
    put(store, key, b"first version, longer")
    put(store, key, b"second")
    assert read(store, key) == b"second"
    assert [(info.key, info.size) for info in store.list()] == [(key, 6)]


def test_commit_after_abort_or_twice_is_refused(store: BlobStore) -> None:
    key = new_key()
    with store.create(key) as writer:
        writer.write(b"x")
        writer.commit()
        writer.abort()  # after commit: nothing to undo
        with pytest.raises(StorageError):
            writer.commit()
    assert read(store, key) == b"x"


RANGES = [(0, None), (10, 20), (5, 5), (0, 1), (100, None), (MAX_CHUNK - 1, MAX_CHUNK + 2)]


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_ranged_open(store: BlobStore, start: int, end: int | None) -> None:
    key, data = new_key(), secrets.token_bytes(2 * MAX_CHUNK + 5)
    put(store, key, data)
    assert read(store, key, start, end) == data[start:end]


def test_range_past_the_end_is_cut(store: BlobStore) -> None:
    key, data = new_key(), secrets.token_bytes(1000)
    put(store, key, data)
    assert read(store, key, 990, 5000) == data[990:]
    assert read(store, key, 999) == data[999:]
    assert read(store, key, 1000) == b""
    assert read(store, key, 2000, 3000) == b""


def test_range_of_an_empty_blob(store: BlobStore) -> None:
    key = new_key()
    put(store, key, b"")
    assert read(store, key, 0, 0) == b""
    assert read(store, key, 0, 10) == b""


@pytest.mark.parametrize(("start", "end"), [(-1, None), (5, 4)])
def test_invalid_range(store: BlobStore, start: int, end: int | None) -> None:
    key = new_key()
    put(store, key, b"0123456789")
    with pytest.raises(ValueError, match="invalid byte range"):
        store.open(key, start=start, end=end)


@pytest.mark.parametrize(("start", "end"), [(0, None), (3, 9), (4, 4)])
def test_open_missing_raises_before_iterating(
    store: BlobStore, start: int, end: int | None
) -> None:
    with pytest.raises(BlobNotFound):
        store.open(new_key(), start=start, end=end)


def test_size_and_exists_of_missing_blob(store: BlobStore) -> None:
    key = new_key()
    with pytest.raises(BlobNotFound):
        store.size(key)
    assert not store.exists(key)


def test_delete_is_idempotent(store: BlobStore) -> None:
    key = new_key()
    put(store, key, b"doomed")
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)
    store.delete(new_key())  # never existed
    assert list(store.list()) == []


def test_list(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(minutes=2)
    sizes = {new_key(): size for size in (0, 1, 3000)}
    for key, size in sizes.items():
        put(store, key, b"z" * size)
    infos = list(store.list())
    assert {info.key: info.size for info in infos} == sizes
    for info in infos:
        assert isinstance(info, BlobInfo)
        assert info.modified.utcoffset() == timedelta(0)
        assert before < info.modified < datetime.now(UTC) + timedelta(minutes=2)


INVALID_KEYS = [
    "../" + "a" * 16,
    "a" * 8 + "/" + "b" * 8,
    "",
    "a" * 16 + "\x00",
    "a" * 129,
    "a" * 15,
    "a" * 16 + ".",
    "é" * 16,
    ".tmp-" + "a" * 16,
    ".probe-" + "a" * 16,
]


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys(store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKey):
        validate_key(key)
    with pytest.raises(InvalidBlobKey):
        store.create(key)
    with pytest.raises(InvalidBlobKey):
        store.open(key)
    with pytest.raises(InvalidBlobKey):
        store.size(key)
    with pytest.raises(InvalidBlobKey):
        store.exists(key)
    with pytest.raises(InvalidBlobKey):
        store.delete(key)


@pytest.mark.parametrize("key", ["a" * 16, "A-z_09" * 21 + "xy", new_key()])
def test_valid_keys(store: BlobStore, key: str) -> None:
    assert validate_key(key) == key
    put(store, key, b"ok")
    assert read(store, key) == b"ok"


def test_cleanup_incomplete(store: BlobStore) -> None:
    committed, interrupted = new_key(), new_key()
    put(store, committed, b"keep me")
    writer = store.create(interrupted)
    writer.write(secrets.token_bytes(PART + 1))  # S3: a multipart upload is now open
    assert leftovers(store) == 1

    assert store.cleanup_incomplete(older_than=datetime.now(UTC) - timedelta(hours=1)) == 0
    assert leftovers(store) == 1  # too recent: it may still be running

    assert store.cleanup_incomplete(older_than=datetime.now(UTC) + timedelta(minutes=1)) == 1
    assert leftovers(store) == 0
    assert [info.key for info in store.list()] == [committed]
    writer.abort()  # the writer's owner finds its upload gone: still safe
    assert store.cleanup_incomplete(older_than=datetime.now(UTC) + timedelta(minutes=1)) == 0


def test_cleanup_needs_an_aware_cutoff(store: BlobStore) -> None:
    with pytest.raises(ValueError, match="aware"):
        store.cleanup_incomplete(older_than=datetime.now())  # noqa: DTZ005  # the point


def test_probe(store: BlobStore) -> None:
    store.probe()
    store.probe()
    assert list(store.list()) == []
    assert leftovers(store) == 0
    assert store.name in {"local", "s3"}
