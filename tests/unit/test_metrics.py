"""The metrics core, the store wrapper, the pool gauges and the production guard's
rule for the metrics token, without an app.

Metrics are the process's, so each test compares values before and after.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from strongroom.guard import MIN_METRICS_TOKEN_CHARS, metrics_token_problems, production_problems
from strongroom.ops import metrics, metrics_server
from strongroom.ops.metrics_db import instrument_pool
from strongroom.ops.metrics_storage import error_label, metered_store
from strongroom.settings import load_settings
from strongroom.storage.interfaces import (
    BlobInfo,
    BlobNotFound,
    InvalidBlobKey,
    StorageUnavailable,
)
from strongroom.storage.local import LocalBlobStore
from tests.unit.test_guard import production


def sample(name: str, **labels: str) -> float:
    body, _ = metrics.exposition()
    for family in text_string_to_metric_families(body.decode()):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


# --- labels ---------------------------------------------------------------------------


def test_requests_are_labelled_by_template_method_and_status() -> None:
    labels = {"route": "/api/v1/files/<file_id>", "method": "GET", "status": "200"}
    before = sample("strongroom_http_requests_total", **labels)
    metrics.observe_request("/api/v1/files/<file_id>", "GET", 200, 0.01)
    assert sample("strongroom_http_requests_total", **labels) == before + 1
    assert sample("strongroom_http_request_duration_seconds_bucket", le="0.01", **labels) >= 1


@pytest.mark.parametrize(
    ("route", "method", "expected"),
    [
        (None, "GET", ("unmatched", "GET")),
        ("/healthz", "PROPFIND", ("/healthz", "other")),
        ("/healthz", "get", ("/healthz", "other")),  # methods are case-sensitive tokens
        ("/healthz", "DELETE", ("/healthz", "DELETE")),
    ],
)
def test_unknown_routes_and_methods_collapse(
    route: str | None, method: str, expected: tuple[str, str]
) -> None:
    labels = {"route": expected[0], "method": expected[1], "status": "404"}
    before = sample("strongroom_http_requests_total", **labels)
    metrics.observe_request(route, method, 404, None)
    assert sample("strongroom_http_requests_total", **labels) == before + 1


def test_only_known_sign_in_results_are_counted() -> None:
    before = sample("strongroom_signins_total", result="success")
    metrics.count_signin("success")
    metrics.count_signin("something-else")
    assert sample("strongroom_signins_total", result="success") == before + 1
    assert sample("strongroom_signins_total", result="something-else") == 0


# --- transfers ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Body:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(("taken", "outcome"), [(3, "complete"), (1, "incomplete")])
def test_a_download_counts_what_it_sent_once_closed(taken: int, outcome: str) -> None:
    route = f"/test/download/{outcome}"
    clock = Clock()
    body = Body([b"a" * 10, b"b" * 10, b"c" * 5])
    metered = metrics.MeteredDownload(body, route=route, expected=25, clock=clock)
    for _, _chunk in zip(range(taken), metered, strict=False):
        clock.now += 2
    assert sample("strongroom_download_bytes_total", route=route) == 0  # not before close
    metered.close()
    metered.close()  # the WSGI server may close twice: counted once
    assert body.closed
    assert sample("strongroom_download_bytes_total", route=route) == min(taken * 10, 25)
    count = sample("strongroom_download_duration_seconds_count", route=route, outcome=outcome)
    assert count == 1
    seconds = sample("strongroom_download_duration_seconds_sum", route=route, outcome=outcome)
    assert seconds == 2 * taken


def test_an_upload_is_stored_or_failed() -> None:
    stored_before = sample("strongroom_upload_duration_seconds_count", outcome="stored")
    failed_before = sample("strongroom_upload_duration_seconds_count", outcome="failed")
    bytes_before = sample("strongroom_upload_bytes_total")
    with metrics.UploadTimer() as timer:
        timer.stored(1234)
    with pytest.raises(ValueError, match="refused"), metrics.UploadTimer():
        raise ValueError("refused")
    assert sample("strongroom_upload_duration_seconds_count", outcome="stored") == stored_before + 1
    assert sample("strongroom_upload_duration_seconds_count", outcome="failed") == failed_before + 1
    assert sample("strongroom_upload_bytes_total") == bytes_before + 1234


# --- the blob store's errors ------------------------------------------------------------


class BrokenStore:
    """A store whose every operation fails in a chosen way."""

    name = "broken"

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.extra_attribute = "passed through"

    def create(self, key: str) -> Any:
        raise self.error

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> Any:
        def chunks() -> Iterator[bytes]:
            yield b"first"
            raise self.error

        return chunks()

    def size(self, key: str) -> int:
        raise self.error

    def exists(self, key: str) -> bool:
        raise self.error

    def delete(self, key: str) -> None:
        raise self.error

    def list(self) -> Iterator[BlobInfo]:
        raise self.error
        yield  # pragma: no cover

    def cleanup_incomplete(self, *, older_than: datetime) -> int:
        raise self.error

    def probe(self) -> None:
        raise self.error


def errors(operation: str, error: str) -> float:
    return sample(
        "strongroom_storage_errors_total", backend="broken", operation=operation, error=error
    )


def test_store_failures_are_counted_and_reraised() -> None:
    store = metered_store(BrokenStore(StorageUnavailable("down")))  # type: ignore[arg-type]
    before = {op: errors(op, "unavailable") for op in ("probe", "size", "read", "list")}
    with pytest.raises(StorageUnavailable):
        store.probe()
    with pytest.raises(StorageUnavailable):
        store.size("k" * 16)
    reader = store.open("k" * 16)
    assert next(reader) == b"first"
    with pytest.raises(StorageUnavailable):
        next(reader)
    with pytest.raises(StorageUnavailable):
        list(store.list())
    for op, count in before.items():
        assert errors(op, "unavailable") == count + 1, op
    assert store.extra_attribute == "passed through"  # type: ignore[attr-defined]
    assert metered_store(store) is store


def test_missing_blobs_count_and_bad_keys_do_not() -> None:
    missing = metered_store(BrokenStore(BlobNotFound("gone")))  # type: ignore[arg-type]
    before = errors("size", "not_found")
    with pytest.raises(BlobNotFound):
        missing.size("k" * 16)
    assert errors("size", "not_found") == before + 1
    bad_key = metered_store(BrokenStore(InvalidBlobKey("bad")))  # type: ignore[arg-type]
    before_any = sample("strongroom_storage_errors_total", backend="broken", operation="size",
                        error="other")  # fmt: skip
    with pytest.raises(InvalidBlobKey):
        bad_key.size("bad")
    assert error_label(InvalidBlobKey("bad")) is None
    assert error_label(OSError("disk")) == "other"
    assert sample("strongroom_storage_errors_total", backend="broken", operation="size",
                  error="other") == before_any  # fmt: skip


def test_a_real_store_works_through_the_wrapper(tmp_path: Path) -> None:
    store = metered_store(LocalBlobStore(tmp_path))
    key = "a" * 20
    with store.create(key) as writer:
        writer.write(b"hello")
        assert writer.bytes_written == 5
        writer.commit()
    assert b"".join(store.open(key)) == b"hello"
    assert store.size(key) == 5
    assert [info.key for info in store.list()] == [key]
    store.probe()
    store.delete(key)
    assert not store.exists(key)


# --- the pool ---------------------------------------------------------------------------


def test_pool_gauges_follow_checkouts(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}", pool_size=3, max_overflow=2)
    gauges = instrument_pool(engine)
    assert instrument_pool(engine) is gauges  # once per engine
    assert sample("strongroom_db_pool_size") == 3
    assert sample("strongroom_db_pool_max_overflow") == 2
    connections = [engine.connect() for _ in range(4)]
    for connection in connections:
        connection.execute(text("select 1"))
    assert sample("strongroom_db_pool_checked_out_connections") == 4
    assert sample("strongroom_db_pool_open_connections") == 4
    assert sample("strongroom_db_pool_overflow_connections") == 1
    for connection in connections:
        connection.close()
    assert sample("strongroom_db_pool_checked_out_connections") == 0
    # Returned beyond the pool's size, the overflow connection is closed.
    assert sample("strongroom_db_pool_open_connections") == 3
    assert sample("strongroom_db_pool_overflow_connections") == 0
    engine.dispose()
    assert sample("strongroom_db_pool_open_connections") == 0


# --- the production guard ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (None, None),
        ("", None),
        ("Yx3" * 11, "placeholder"),  # 33 characters, but a repeat
        ("k" * (MIN_METRICS_TOKEN_CHARS - 1), "characters long"),
        ("changeme-changeme-changeme-changeme", "placeholder"),
        ("prometheus-metrics-token-for-example", "placeholder"),
    ],
)
def test_the_guard_refuses_weak_metrics_tokens(token: str | None, problem: str | None) -> None:
    found = metrics_token_problems(SecretStr(token) if token is not None else None)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1
        assert "STRONGROOM_METRICS_TOKEN" in found[0]
        assert problem in found[0]
        assert str(token) not in found[0]


def test_the_guard_accepts_a_random_token() -> None:
    assert metrics_token_problems(SecretStr(secrets.token_urlsafe(32))) == []


# --- multiprocess mode --------------------------------------------------------------------

MULTIPROCESS_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from prometheus_client.parser import text_string_to_metric_families
    from strongroom.ops import metrics, metrics_server

    directory = metrics_server.prepare()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)
    metrics.get().pool_size.set(7)  # as the master does while building the app
    metrics_server.gunicorn_hooks(directory, None)["when_ready"](None)
    children = []
    for n in range(3):
        pid = os.fork()
        if pid == 0:
            for _ in range(n + 1):
                metrics.observe_request("/x", "GET", 200, 0.001)
            metrics.get().pool_size.set(5)
            os._exit(0)
        os.waitpid(pid, 0)
        children.append(pid)
    hooks = metrics_server.gunicorn_hooks(directory, None)
    hooks["child_exit"](None, type("Worker", (), {"pid": children[0]}))
    body, _ = metrics.exposition()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(body.decode()) for s in f.samples
    }
    labels = (("method", "GET"), ("route", "/x"), ("status", "200"))
    print(found[("strongroom_http_requests_total", labels)])
    print(found[("strongroom_db_pool_size", ())])
    hooks["on_exit"](None)
    print(directory.exists())
    """
)


def test_multiprocess_counts_sum_over_processes_and_survive_their_death() -> None:
    result = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    requests, pool_size, directory_left = result.stdout.split()
    assert float(requests) == 1 + 2 + 3  # every child's counts, the dead ones' included
    # The master's own gauge (7) is gone; of the children, the one marked dead is too.
    assert float(pool_size) == 5 + 5
    assert directory_left == "False"


def test_serve_giving_up_leaves_the_process_counting_in_memory() -> None:
    """``serve`` may stop before forking (a bad setting, run in-process by the CLI tests):
    the process must not keep writing into the removed directory."""
    script = textwrap.dedent(
        """
        import os
        from strongroom.ops import metrics, metrics_server
        directory = metrics_server.prepare()
        metrics.observe_request("/x", "GET", 200, 0.1)
        metrics_server.remove(directory)
        assert not directory.exists()
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
        metrics.observe_request("/x", "GET", 200, 0.1)
        body, _ = metrics.exposition()
        print(body.decode())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert 'strongroom_http_requests_total{method="GET",route="/x",status="200"} 1.0' in (
        result.stdout
    )


def test_production_lists_a_weak_metrics_token_with_the_other_problems(tmp_path: Path) -> None:
    weak = load_settings(production(tmp_path, metrics_token="short-token"))
    assert [p for p in production_problems(weak) if "STRONGROOM_METRICS_TOKEN" in p] == [
        "STRONGROOM_METRICS_TOKEN is 11 characters long: production needs at least 32 (for "
        "example: python -c 'import secrets; print(secrets.token_urlsafe(32))')."
    ]
    good = load_settings(production(tmp_path, metrics_token=secrets.token_urlsafe(32)))
    assert production_problems(good) == []


@pytest.mark.parametrize(
    ("bind", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:9464", ("::1", 9464)),
     ("metrics.internal:80", ("metrics.internal", 80))],
)  # fmt: skip
def test_metrics_bind_addresses_split(bind: str, expected: tuple[str, int]) -> None:
    assert metrics_server.split_bind(bind) == expected


class OneGauge:
    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("strongroom_test_gauge", "A test gauge.", value=42)


def test_the_exporter_serves_the_files_and_extra_collectors_then_stops(tmp_path: Path) -> None:
    exporter = metrics_server.start_exporter("127.0.0.1:0", tmp_path, [OneGauge()])
    try:
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:  # loopback
            body = response.read().decode()
    finally:
        exporter.stop()
    assert "strongroom_test_gauge 42.0" in body
    with pytest.raises(OSError):  # noqa: PT011  # connection refused, in any flavour
        urllib.request.urlopen(url, timeout=2)
