"""S3 for tests: moto's server as a real process, and a fault-injecting proxy in front.

``moto_server()`` starts ``python -m moto.server`` on a free loopback port and stops it
afterwards, so the S3 store is tested over real HTTP with botocore's real retries and
timeouts. ``FaultProxy`` forwards to it and can be told to answer the next requests
(all, or those of one S3 operation) with a 500/503 or to stall past the client's read
timeout; it records every request so tests can count attempts, and it corrects the
one answer moto gets wrong that the tests rely on (when a multipart upload started).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from strongroom.storage.interfaces import BlobStore
from strongroom.storage.local import TEMP_PREFIX, LocalBlobStore
from strongroom.storage.s3 import S3BlobStore

LOOPBACK = "127.0.0.1"
TEST_CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
TEST_REGION = "us-east-1"


def free_port() -> int:
    """A port nobody listens on right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class MotoServer:
    """A running ``moto.server`` process."""

    endpoint_url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5):  # noqa: S310  # our own loopback URL
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


def start_moto_server(*, timeout: float = 30.0, log: Path | None = None) -> MotoServer:
    """Start moto's S3-compatible server on a free loopback port; returns once it answers.

    Raises ``RuntimeError`` when it does not come up within ``timeout`` seconds (it
    retries on another port if the first one was taken in between).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        port = free_port()
        sink: IO[bytes] | int = log.open("ab") if log else subprocess.DEVNULL
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
            stdout=sink,
            stderr=sink,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if not isinstance(sink, int):
            sink.close()
        server = MotoServer(f"http://{LOOPBACK}:{port}", process)
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(server.endpoint_url + "/"):
                return server
            time.sleep(0.05)
        server.stop()  # died (port taken?) or too slow: try again while time is left
    raise RuntimeError(f"moto server did not start within {timeout} s")


@contextlib.contextmanager
def moto_server(*, timeout: float = 30.0) -> Iterator[MotoServer]:
    """``start_moto_server()`` for the length of a ``with`` block."""
    server = start_moto_server(timeout=timeout)
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Seen:
    """A request that reached the proxy."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def operation(self) -> str:
        """The S3 operation, told from the method and the query parameters."""
        q = self.query
        if self.path.strip("/").count("/") == 0:  # path-style: only the bucket, no key
            bucket_ops = {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}
            if self.method in bucket_ops:
                return bucket_ops[self.method]
            return "ListMultipartUploads" if "uploads" in q else "ListObjectsV2"
        if self.method == "PUT":
            return "UploadPart" if "partNumber" in q else "PutObject"
        if self.method == "POST":
            return "CreateMultipartUpload" if "uploads" in q else "CompleteMultipartUpload"
        if self.method == "DELETE":
            return "AbortMultipartUpload" if "uploadId" in q else "DeleteObject"
        return "HeadObject" if self.method == "HEAD" else "GetObject"


Matcher = Callable[[Seen], bool]


@dataclass
class Fault:
    """Answer matching requests with ``status``, or stall ``stall`` seconds, ``times``
    times (``None``: every time)."""

    match: Matcher
    status: int = 500
    stall: float = 0.0
    times: int | None = 1


_ERROR_CODES = {500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable"}
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "expect",
}


@dataclass
class FaultProxy:
    """A threaded HTTP proxy to ``upstream`` that injects faults on demand."""

    upstream: str
    requests: list[Seen] = field(default_factory=list)
    _faults: list[Fault] = field(default_factory=list)
    _initiated: dict[str, datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: _ProxyServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._server = _ProxyServer((LOOPBACK, 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes stalled handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail(self, status: int, *, operation: str | None = None, times: int | None = 1) -> None:
        """Answer the next ``times`` requests (of ``operation``) with ``status``."""
        self._add(Fault(_matcher(operation), status=status, times=times))

    def stall(self, seconds: float, *, operation: str | None = None, times: int | None = 1) -> None:
        """Hold the next ``times`` requests (of ``operation``) ``seconds``, then hang up."""
        self._add(Fault(_matcher(operation), stall=seconds, times=times))

    def when(self, match: Matcher, *, status: int = 500, times: int | None = 1) -> None:
        """Answer requests for which ``match`` is true with ``status``."""
        self._add(Fault(match, status=status, times=times))

    def heal(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def count(self, operation: str) -> int:
        """How many requests of ``operation`` reached the proxy."""
        with self._lock:
            return sum(1 for seen in self.requests if seen.operation == operation)

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the proxy stops."""
        self._stopping.wait(seconds)

    def rewrite(self, seen: Seen, status: int, payload: bytes) -> bytes:
        """Fix what moto gets wrong in an upstream answer (see ``_real_initiated``)."""
        if status != 200:
            return payload
        if seen.operation == "CreateMultipartUpload":
            found = re.search(rb"<UploadId>([^<]+)</UploadId>", payload)
            if found:
                with self._lock:
                    self._initiated[found.group(1).decode()] = datetime.now(UTC)
        elif seen.operation == "ListMultipartUploads":
            return re.sub(rb"<Upload>.*?</Upload>", self._real_initiated, payload, flags=re.S)
        return payload

    def _real_initiated(self, upload: re.Match[bytes]) -> bytes:
        # moto answers every upload's Initiated with a constant date in 2010, which would
        # make every upload look stale; S3 reports when it was created, as noted here.
        found = re.search(rb"<UploadId>([^<]+)</UploadId>", upload.group(0))
        with self._lock:
            when = self._initiated.get(found.group(1).decode()) if found else None
        if when is None:
            return upload.group(0)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        return re.sub(
            rb"<Initiated>[^<]*</Initiated>",
            f"<Initiated>{stamp}</Initiated>".encode(),
            upload.group(0),
        )

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def record(self, seen: Seen) -> Fault | None:
        """Log the request and consume the first pending fault it matches."""
        with self._lock:
            self.requests.append(seen)
            for fault in self._faults:
                if fault.match(seen):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None


def _matcher(operation: str | None) -> Matcher:
    return lambda seen: operation is None or seen.operation == operation


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def close_connections(self) -> None:
        """Hang up on kept-alive clients so no handler thread outlives the proxy."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        owner = proxy

    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and 100-continue, as botocore expects
    owner: FaultProxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # quiet: pytest shows failures, not every request

    def handle_any(self) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        seen = Seen(self.command, parts.path, query, dict(self.headers.items()))
        fault = self.owner.record(seen)
        if fault is None:
            self._forward(seen, body)
        elif fault.stall:
            # Never answer: the client's read timeout fires first, then we hang up.
            self.owner.pause(fault.stall)
            self.close_connection = True
        else:
            self._send_error(fault.status)

    # http.server dispatches on do_<METHOD>; every method goes through the same path.
    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any  # noqa: N815

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send_error(self, status: int) -> None:
        code = _ERROR_CODES.get(status, "InternalError")
        payload = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>injected by the test proxy</Message></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _forward(self, seen: Seen, body: bytes) -> None:
        target = urlsplit(self.owner.upstream)
        upstream = http.client.HTTPConnection(target.hostname or LOOPBACK, target.port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or self.command in {"PUT", "POST"}:
                headers["Content-Length"] = str(len(body))
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = self.owner.rewrite(seen, response.status, response.read())
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        finally:
            upstream.close()


S3_TEST_PART_SIZE = 5 * 1024 * 1024  # S3's minimum part: the smallest multipart blobs


def new_bucket_name() -> str:
    """A fresh, valid bucket name."""
    return f"sr-test-{secrets.token_hex(6)}"


def s3_test_store(endpoint_url: str, *, bucket: str | None = None, **options: Any) -> S3BlobStore:
    """An ``S3BlobStore`` on ``endpoint_url`` (moto or a ``FaultProxy``) with test
    credentials, 5 MiB parts, 3 attempts and short timeouts; its bucket (fresh unless
    named) is created. ``options`` override any constructor argument."""
    arguments: dict[str, Any] = {
        "prefix": "blobs/",
        "region": TEST_REGION,
        "part_size": S3_TEST_PART_SIZE,
        "max_attempts": 3,
        "connect_timeout": 2.0,
        "read_timeout": 10.0,
        **TEST_CREDENTIALS,
        **options,
    }
    store = S3BlobStore(bucket=bucket or new_bucket_name(), endpoint_url=endpoint_url, **arguments)
    store.ensure_bucket()
    return store


def leftovers(store: BlobStore) -> int:
    """Traces of unfinished writes: local temp files, or S3 multipart uploads."""
    if isinstance(store, LocalBlobStore):
        return sum(1 for _ in store.root.rglob(f"{TEMP_PREFIX}*"))
    assert isinstance(store, S3BlobStore)
    response = store.client.list_multipart_uploads(Bucket=store.bucket)
    return len(response.get("Uploads", []))
