"""Prometheus metrics: what Strongroom counts, and how the counts leave the process.

Names follow Prometheus conventions (``strongroom_`` prefix, base units, ``_total``
counters); labels are few and bounded: route templates (never raw paths), the
method (unknown ones as ``other``), the status, named outcomes.

Two modes:

* **In-process** (tests, ``serve --dev``, any single process): the metrics live in a
  registry of their own and are read from memory.
* **Multiprocess** (``strongroom serve`` under gunicorn): ``use_multiprocess_dir``
  makes every metric keep its value in memory-mapped files in a fresh directory
  (``PROMETHEUS_MULTIPROC_DIR``), one set per worker process; a scrape sums them
  all, so every worker's counts show whichever process answers. Counter and
  histogram files of workers that have died stay, so their counts are never lost;
  gauges are ``livesum`` (the files of dead workers are removed by gunicorn's
  ``child_exit`` hook, see ``metrics_server``).

This module imports neither Flask nor the database, so any layer may count through
it; the request hooks, the ``/metrics`` route, the database pool and the ledger
collector live in ``metrics_web`` and ``metrics_db``.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
    values,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "strongroom_"

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # no route matched (404, 405): the path is never a label
SIGNIN_RESULTS = frozenset({"success", "failure", "throttled", "challenge"})

# Seconds. Requests are mostly milliseconds; transfers of large files take minutes.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
TRANSFER_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class Metrics:
    """Every metric the service updates itself (scrape-time ones are in ``metrics_db``)."""

    requests: Counter
    request_duration: Histogram
    requests_in_progress: Gauge
    upload_bytes: Counter
    upload_duration: Histogram
    download_bytes: Counter
    download_duration: Histogram
    signins: Counter
    rate_limited: Counter
    storage_errors: Counter
    pool_size: Gauge
    pool_max_overflow: Gauge
    pool_open: Gauge
    pool_checked_out: Gauge
    pool_overflow: Gauge


def _build(registry: CollectorRegistry | None) -> Metrics:
    """The metrics, registered in ``registry`` (``None`` in multiprocess mode, where
    the files are the registry)."""
    r = registry

    def gauge(name: str, doc: str) -> Gauge:
        # livesum: the sum over the workers alive now (a dead worker's pool is gone).
        return Gauge(PREFIX + name, doc, registry=r, multiprocess_mode="livesum")

    return Metrics(
        requests=Counter(
            PREFIX + "http_requests", "HTTP requests answered, by route template, method "
            "and status.", ["route", "method", "status"], registry=r,
        ),
        request_duration=Histogram(
            PREFIX + "http_request_duration_seconds", "Time from the request's arrival "
            "to its response headers (streamed bodies are timed by the transfer metrics).",
            ["route", "method", "status"], buckets=REQUEST_BUCKETS, registry=r,
        ),
        requests_in_progress=gauge("http_requests_in_progress", "Requests being handled."),
        upload_bytes=Counter(
            PREFIX + "upload_bytes", "Plaintext bytes of uploads that were stored.",
            registry=r,
        ),
        upload_duration=Histogram(
            PREFIX + "upload_duration_seconds", "Time to receive, encrypt and store an "
            "upload; outcome is stored or failed.", ["outcome"], buckets=TRANSFER_BUCKETS,
            registry=r,
        ),
        download_bytes=Counter(
            PREFIX + "download_bytes", "Plaintext bytes sent by downloads (owner, grantee "
            "and share-link routes).", ["route"], registry=r,
        ),
        download_duration=Histogram(
            PREFIX + "download_duration_seconds", "Time to stream a download; outcome is "
            "complete, or incomplete when the client left or the stream failed.",
            ["route", "outcome"], buckets=TRANSFER_BUCKETS, registry=r,
        ),
        signins=Counter(
            PREFIX + "signins", "Sign-in attempts by result: success, failure, throttled, "
            "or challenge (password right, second factor asked).", ["result"], registry=r,
        ),
        rate_limited=Counter(
            PREFIX + "rate_limited", "Requests refused by a named rate limit.", ["limit"],
            registry=r,
        ),
        storage_errors=Counter(
            PREFIX + "storage_errors", "Blob store operations that failed, by backend, "
            "operation and error (unavailable, not_found, other).",
            ["backend", "operation", "error"], registry=r,
        ),
        pool_size=gauge("db_pool_size", "Configured database pool size, summed over workers."),
        pool_max_overflow=gauge(
            "db_pool_max_overflow", "Connections allowed beyond the pool size, summed over "
            "workers."
        ),
        pool_open=gauge("db_pool_open_connections", "Database connections open."),
        pool_checked_out=gauge(
            "db_pool_checked_out_connections", "Database connections in use by a request."
        ),
        pool_overflow=gauge(
            "db_pool_overflow_connections", "Open connections beyond the pool size."
        ),
    )  # fmt: skip


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.metrics: Metrics | None = None
        self.registry: CollectorRegistry | None = None


_state = _State()


def multiprocess_dir() -> str | None:
    """The directory of the per-process metric files, when in multiprocess mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def get() -> Metrics:
    """The process's metrics, built on first use in the mode the process is in."""
    metrics = _state.metrics
    if metrics is not None:
        return metrics
    with _state.lock:
        if _state.metrics is None:
            disable_created_metrics()  # type: ignore[no-untyped-call]  # the _created series only double the output
            registry = None if multiprocess_dir() else CollectorRegistry(auto_describe=True)
            _state.metrics = _build(registry)
            _state.registry = registry
        return _state.metrics


def make_multiprocess_dir() -> Path:
    """A fresh, empty, private directory for the workers' metric files."""
    return Path(tempfile.mkdtemp(prefix="strongroom-metrics-"))


def use_multiprocess_dir(path: Path) -> None:
    """Keep this process's (and its forked children's) metrics in ``path``.

    prometheus-client picks its value class from the environment when it is first
    imported; ``strongroom serve`` only knows the directory later (it creates a fresh
    one per run), so the class is chosen again here, before any metric is built, and
    the environment variable is set for the processes gunicorn forks.
    """
    os.environ[MULTIPROC_ENV] = str(path)
    with _state.lock:
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        _state.metrics = None
        _state.registry = None


def use_in_process() -> None:
    """Back to metrics in this process's memory (``serve`` gave up before forking, or
    the server stopped): nothing may write to a directory that is being removed."""
    os.environ.pop(MULTIPROC_ENV, None)
    with _state.lock:
        values.ValueClass = values.MutexValue
        _state.metrics = None
        _state.registry = None


def exposition(extra: Iterable[Collector] = (), accept: str | None = None) -> tuple[bytes, str]:
    """The text exposition of every metric plus ``extra`` collectors, and its media type
    (negotiated from an ``Accept`` header, as Prometheus sends one)."""
    get()
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory:
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    elif _state.registry is not None:
        registry.register(_state.registry)
    for collector in extra:
        registry.register(collector)
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


# --- what the edges call ------------------------------------------------------------


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def observe_request(route: str | None, method: str, status: int, seconds: float | None) -> None:
    """Count one answered request (``route`` is the matched rule's template)."""
    labels = (route or UNMATCHED_ROUTE, method_label(method), str(status))
    metrics = get()
    metrics.requests.labels(*labels).inc()
    if seconds is not None:
        metrics.request_duration.labels(*labels).observe(seconds)


def count_signin(result: str) -> None:
    if result in SIGNIN_RESULTS:
        get().signins.labels(result).inc()


def count_rate_limited(limit: str) -> None:
    get().rate_limited.labels(limit).inc()


def count_storage_error(backend: str, operation: str, error: str) -> None:
    get().storage_errors.labels(backend, operation, error).inc()


class UploadTimer:
    """Times one upload: ``with UploadTimer() as upload: ...; upload.stored(size)``.

    Leaving the block without ``stored`` (an exception) counts a failed upload.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._started = 0.0
        self._size: int | None = None

    def __enter__(self) -> UploadTimer:
        self._started = self._clock()
        return self

    def stored(self, size: int) -> None:
        self._size = size

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        metrics = get()
        elapsed = self._clock() - self._started
        if self._size is None:
            metrics.upload_duration.labels("failed").observe(elapsed)
            return
        metrics.upload_bytes.inc(self._size)
        metrics.upload_duration.labels("stored").observe(elapsed)


class MeteredDownload:
    """A download body that counts the bytes it yields and, once closed (by the WSGI
    server, after the last byte or when the client went away), its duration.

    ``expected`` is the number of bytes the response promised: fewer sent means the
    download is ``incomplete``.
    """

    def __init__(
        self,
        body: Iterable[bytes],
        *,
        route: str,
        expected: int,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._body = body
        self._iterator: Iterator[bytes] = iter(body)
        self._route = route
        self._expected = expected
        self._clock = clock
        self._started = clock()
        self._sent = 0
        self._closed = False

    def __iter__(self) -> MeteredDownload:
        return self

    def __next__(self) -> bytes:
        chunk = next(self._iterator)
        self._sent += len(chunk)
        return chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            metrics = get()
            outcome = "complete" if self._sent >= self._expected else "incomplete"
            metrics.download_bytes.labels(self._route).inc(self._sent)
            elapsed = self._clock() - self._started
            metrics.download_duration.labels(self._route, outcome).observe(elapsed)
