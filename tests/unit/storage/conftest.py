"""Stores for the storage tests: a local one on tmp_path, an S3 one on the session's
moto server (``moto_endpoint``, from tests/conftest.py; a fresh bucket per test), and
a fault proxy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from strongroom.storage.interfaces import BlobStore
from strongroom.storage.local import LocalBlobStore
from strongroom.storage.s3 import S3BlobStore
from tests.storage_support import FaultProxy, s3_test_store

S3Factory = Callable[..., S3BlobStore]


@pytest.fixture
def make_s3_store(moto_endpoint: str) -> Iterator[S3Factory]:
    """Build S3 stores (fresh bucket each) on moto, or on ``endpoint_url=`` (a proxy)."""
    stores: list[S3BlobStore] = []

    def factory(*, endpoint_url: str | None = None, **options: Any) -> S3BlobStore:
        store = s3_test_store(endpoint_url or moto_endpoint, **options)
        stores.append(store)
        return store

    yield factory
    for store in stores:
        store.close()


@pytest.fixture
def fault_proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the session's moto server."""
    with FaultProxy(moto_endpoint) as proxy:
        yield proxy


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """Each store implementation in turn, empty: local on ``tmp_path``, S3 on moto."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    # Through the proxy (with no faults): it reports real multipart start times.
    proxy: FaultProxy = request.getfixturevalue("fault_proxy")
    factory: S3Factory = request.getfixturevalue("make_s3_store")
    return factory(endpoint_url=proxy.url)
