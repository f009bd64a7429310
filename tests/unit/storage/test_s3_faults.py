"""The S3 store under faults (through the fault proxy in front of moto), and what
only the S3 store does: prefixes, pagination, ranged and streamed reads.

Stores here make at most ``ATTEMPTS`` attempts per request with a short read timeout,
so every failure path ends in bounded, small time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import pytest
from botocore.response import StreamingBody

from strongroom.storage.interfaces import MAX_CHUNK, BlobNotFound, StorageUnavailable
from strongroom.storage.s3 import S3BlobStore
from tests.storage_support import S3_TEST_PART_SIZE, FaultProxy, leftovers

PART = S3_TEST_PART_SIZE
ATTEMPTS = 3
READ_TIMEOUT = 0.5
# Generous for a loaded CI machine, yet far below anything unbounded.
FAILURE_BUDGET_SECONDS = 10.0

S3Factory = Callable[..., S3BlobStore]


def new_key() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def proxied(make_s3_store: S3Factory, fault_proxy: FaultProxy) -> S3BlobStore:
    """An S3 store that talks to moto through the fault proxy."""
    return make_s3_store(
        endpoint_url=fault_proxy.url,
        max_attempts=ATTEMPTS,
        read_timeout=READ_TIMEOUT,
        connect_timeout=READ_TIMEOUT,
    )


def put(store: S3BlobStore, key: str, data: bytes) -> None:
    with store.create(key) as writer:
        writer.write(data)
        writer.commit()


def assert_nothing_left(store: S3BlobStore, proxy: FaultProxy, key: str) -> None:
    proxy.heal()
    assert not store.exists(key)
    assert list(store.list()) == []
    assert leftovers(store) == 0


@pytest.mark.parametrize("status", [500, 503])
def test_put_object_error_then_success_is_retried(
    proxied: S3BlobStore, fault_proxy: FaultProxy, status: int
) -> None:
    key = new_key()
    fault_proxy.fail(status, operation="PutObject")
    put(proxied, key, b"small blob")
    assert fault_proxy.count("PutObject") == 2 <= ATTEMPTS
    assert b"".join(proxied.open(key)) == b"small blob"


def test_upload_part_503_then_success_is_retried(
    proxied: S3BlobStore, fault_proxy: FaultProxy
) -> None:
    key, data = new_key(), secrets.token_bytes(PART + 10)
    fault_proxy.fail(503, operation="UploadPart")
    put(proxied, key, data)
    assert fault_proxy.count("UploadPart") == 3  # two parts, one of them twice
    assert b"".join(proxied.open(key)) == data
    assert leftovers(proxied) == 0


def test_persistent_upload_part_failure_aborts_the_upload(
    proxied: S3BlobStore, fault_proxy: FaultProxy
) -> None:
    key = new_key()
    fault_proxy.fail(500, operation="UploadPart", times=None)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="InternalError"), proxied.create(key) as writer:
        writer.write(secrets.token_bytes(2 * PART))
    assert time.monotonic() - started < FAILURE_BUDGET_SECONDS
    assert fault_proxy.count("UploadPart") == ATTEMPTS  # bounded: then it gives up
    assert fault_proxy.count("AbortMultipartUpload") == 1
    assert_nothing_left(proxied, fault_proxy, key)


def test_failed_complete_leaves_no_object(proxied: S3BlobStore, fault_proxy: FaultProxy) -> None:
    key = new_key()
    fault_proxy.fail(500, operation="CompleteMultipartUpload", times=None)
    with proxied.create(key) as writer:
        writer.write(secrets.token_bytes(PART + 1))
        with pytest.raises(StorageUnavailable):
            writer.commit()
    assert fault_proxy.count("CompleteMultipartUpload") == ATTEMPTS
    assert fault_proxy.count("AbortMultipartUpload") == 1
    assert_nothing_left(proxied, fault_proxy, key)


def test_stall_once_is_retried_after_the_read_timeout(
    proxied: S3BlobStore, fault_proxy: FaultProxy
) -> None:
    key = new_key()
    fault_proxy.stall(30, operation="PutObject")
    started = time.monotonic()
    put(proxied, key, b"late")
    assert READ_TIMEOUT <= time.monotonic() - started < FAILURE_BUDGET_SECONDS
    assert fault_proxy.count("PutObject") == 2
    assert b"".join(proxied.open(key)) == b"late"


def test_persistent_stall_gives_up_in_bounded_time(
    proxied: S3BlobStore, fault_proxy: FaultProxy
) -> None:
    key = new_key()
    fault_proxy.stall(30, operation="PutObject", times=None)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="ReadTimeout"):
        put(proxied, key, b"never")
    elapsed = time.monotonic() - started
    assert ATTEMPTS * READ_TIMEOUT <= elapsed < FAILURE_BUDGET_SECONDS
    assert fault_proxy.count("PutObject") == ATTEMPTS
    assert_nothing_left(proxied, fault_proxy, key)


def test_stalled_upload_part_aborts_the_upload(
    proxied: S3BlobStore, fault_proxy: FaultProxy
) -> None:
    key = new_key()
    fault_proxy.stall(30, operation="UploadPart", times=None)
    with pytest.raises(StorageUnavailable), proxied.create(key) as writer:
        writer.write(secrets.token_bytes(PART))
    assert fault_proxy.count("UploadPart") == ATTEMPTS
    assert_nothing_left(proxied, fault_proxy, key)


def test_get_500_on_open_is_retried(proxied: S3BlobStore, fault_proxy: FaultProxy) -> None:
    key = new_key()
    put(proxied, key, b"readable")
    fault_proxy.fail(500, operation="GetObject")
    assert b"".join(proxied.open(key, start=2)) == b"adable"
    assert fault_proxy.count("GetObject") == 2


def test_persistent_get_failure_is_unavailable_not_missing(
    proxied: S3BlobStore, fault_proxy: FaultProxy
) -> None:
    key = new_key()
    put(proxied, key, b"readable")
    fault_proxy.fail(503, operation="GetObject", times=None)
    with pytest.raises(StorageUnavailable):
        proxied.open(key)
    assert fault_proxy.count("GetObject") == ATTEMPTS


@pytest.mark.parametrize("operation", ["PutObject", "GetObject", "DeleteObject"])
def test_probe_fails_when_any_step_fails(
    proxied: S3BlobStore, fault_proxy: FaultProxy, operation: str
) -> None:
    fault_proxy.fail(500, operation=operation, times=None)
    with pytest.raises(StorageUnavailable):
        proxied.probe()


def test_store_down_is_unavailable(make_s3_store: S3Factory, fault_proxy: FaultProxy) -> None:
    store = make_s3_store(endpoint_url=fault_proxy.url, max_attempts=2, connect_timeout=0.5)
    fault_proxy.stop()  # nothing listens any more
    started = time.monotonic()
    for check in (store.probe, lambda: store.exists(new_key()), lambda: list(store.list())):
        with pytest.raises(StorageUnavailable):
            check()
    assert time.monotonic() - started < FAILURE_BUDGET_SECONDS


# What only the S3 store does.


def test_open_sends_ranged_gets(proxied: S3BlobStore, fault_proxy: FaultProxy) -> None:
    key = new_key()
    put(proxied, key, b"0123456789")
    for start, end in [(0, None), (2, None), (2, 5)]:
        b"".join(proxied.open(key, start=start, end=end))
    ranges = [seen.headers.get("Range") for seen in fault_proxy.requests if seen.method == "GET"]
    assert ranges == [None, "bytes=2-", "bytes=2-4"]


def test_open_streams_the_body_in_chunks(
    make_s3_store: S3Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, key = make_s3_store(), new_key()
    data = secrets.token_bytes(3 * MAX_CHUNK + 1)
    put(store, key, data)
    reads: list[int | None] = []
    real_read = StreamingBody.read

    def read(self: StreamingBody, amt: int | None = None) -> bytes:
        reads.append(amt)
        return real_read(self, amt)

    monkeypatch.setattr(StreamingBody, "read", read)
    chunks = store.open(key)
    first = next(chunks)
    assert len(first) == MAX_CHUNK
    assert reads == [MAX_CHUNK]  # one chunk read, not the whole body
    assert first + b"".join(chunks) == data
    assert None not in reads


def test_list_paginates(proxied: S3BlobStore, fault_proxy: FaultProxy) -> None:
    proxied.list_page_size = 2
    keys = {new_key() for _ in range(5)}
    for key in keys:
        put(proxied, key, b"k")
    assert {info.key for info in proxied.list()} == keys
    assert fault_proxy.count("ListObjectsV2") == 3


def test_prefix_isolates_and_foreign_objects_are_skipped(make_s3_store: S3Factory) -> None:
    store = make_s3_store(prefix="blobs/")
    other = make_s3_store(bucket=store.bucket, prefix="other/")
    key = new_key()
    put(store, key, b"mine")
    put(other, new_key(), b"theirs")
    for foreign in ["blobs/short", "blobs/sub/" + new_key(), "blobs/.probe-old", "loose"]:
        store.client.put_object(Bucket=store.bucket, Key=foreign, Body=b"?")
    assert [info.key for info in store.list()] == [key]
    assert store.client.head_object(Bucket=store.bucket, Key="blobs/" + key)
    with pytest.raises(BlobNotFound):
        other.size(key)


def test_probe_objects_never_listed(make_s3_store: S3Factory) -> None:
    store = make_s3_store()
    store.probe()
    response = store.client.list_objects_v2(Bucket=store.bucket)
    assert response.get("KeyCount", 0) == 0  # deleted, too


def test_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="part_size"):
        S3BlobStore(bucket="b", part_size=PART - 1)
    with pytest.raises(ValueError, match="max_attempts"):
        S3BlobStore(bucket="b", max_attempts=0)


def test_ensure_bucket_is_idempotent(make_s3_store: S3Factory) -> None:
    store = make_s3_store()
    store.ensure_bucket()
    store.probe()
