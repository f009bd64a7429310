"""Running the app under gunicorn.

The app is built once, before gunicorn starts, so a bad setting or a pending
migration is reported as a sentence instead of a worker traceback. Workers are
forked from it (``preload_app``) and each drops the database connections it
inherited, so no two processes ever share one.

Requests so broken that gunicorn refuses them before the app sees them (raw
non-ASCII bytes in the request line, malformed headers, oversized header blocks)
would get gunicorn's HTML page; ``ProblemThreadWorker`` answers them with the same
problem+json as every other error and logs a line.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import secrets
import socket
from typing import Any

from apiflask import APIFlask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from strongroom.context import get_database
from strongroom.errors import PROBLEM_MIMETYPE, STATUS_PROBLEMS, ProblemType
from strongroom.ops.metrics_db import reset_pool_gauges

log = logging.getLogger("strongroom.access")

MAX_DEFAULT_WORKERS = 8
# Requests may stream multi-gigabyte uploads: the gthread worker keeps its heartbeat
# going while a thread works, so `timeout` only catches a wedged worker, and the
# long graceful timeout lets uploads in flight finish during a restart.
GUNICORN_DEFAULTS: dict[str, Any] = {
    "worker_class": "strongroom.server.ProblemThreadWorker",
    "timeout": 60,
    "graceful_timeout": 60,
    "keepalive": 5,
    "limit_request_line": 8190,
    "limit_request_fields": 100,
    "limit_request_field_size": 8190,
    "accesslog": None,  # the app writes its own access log with request ids
    "errorlog": "-",
    # Which proxy headers to trust is the app's decision (STRONGROOM_TRUSTED_PROXY_HOPS).
    "secure_scheme_headers": {},
    "forwarded_allow_ips": "",
    "preload_app": True,
    "proc_name": "strongroom",
    "control_socket_disable": True,  # no control socket written into $HOME
    "logger_class": "strongroom.server.GunicornLogger",
}

_NOT_HTTP = "The request is not valid HTTP/1.1"
_GUNICORN_REFUSALS: tuple[tuple[type[Exception], int, str], ...] = (
    (http_errors.LimitRequestLine, 414, "The request line is too long."),
    (http_errors.LimitRequestHeaders, 431, "The request headers are too large or too many."),
    (http_errors.UnsupportedTransferCoding, 501, "This transfer coding is not supported."),
    (http_errors.ForbiddenProxyRequest, 403, "Proxy requests are not allowed."),
    (
        http_errors.InvalidRequestLine,
        400,
        f"{_NOT_HTTP}: the request line is malformed "
        "(bytes outside ASCII must be percent-encoded).",
    ),
    (http_errors.InvalidRequestMethod, 400, f"{_NOT_HTTP}: the method is malformed."),
    (http_errors.InvalidHTTPVersion, 400, f"{_NOT_HTTP}: unsupported HTTP version."),
    (http_errors.InvalidHeaderName, 400, f"{_NOT_HTTP}: a header name is malformed."),
    (
        http_errors.InvalidHeader,
        400,
        f"{_NOT_HTTP}: a header is malformed or conflicts with "
        "another (control characters, or both Content-Length and chunked).",
    ),
    (http_errors.ObsoleteFolding, 400, f"{_NOT_HTTP}: folded header lines are obsolete."),
    (http_errors.InvalidChunkSize, 400, f"{_NOT_HTTP}: a chunk size is malformed."),
    (http_errors.ChunkMissingTerminator, 400, f"{_NOT_HTTP}: a chunk is not terminated."),
    (http_errors.InvalidChunkExtension, 400, f"{_NOT_HTTP}: a chunk extension is malformed."),
    (http_errors.InvalidProxyLine, 400, f"{_NOT_HTTP}: the PROXY line is malformed."),
    (http_errors.InvalidSchemeHeaders, 400, f"{_NOT_HTTP}: conflicting scheme headers."),
    (http_errors.ExpectationFailed, 400, f"{_NOT_HTTP}: the Expect header cannot be met."),
)


def default_workers() -> int:
    return min(2 * (os.cpu_count() or 1) + 1, MAX_DEFAULT_WORKERS)


def refusal_for(exc: Exception) -> tuple[int, str] | None:
    """The status and explanation for a request gunicorn could not parse, if it is one."""
    if isinstance(exc, http_errors.InvalidResponseHeader | http_errors.InvalidResponseHeaderName):
        return None  # a header the app produced: the app's fault, gunicorn's 500
    for cls, status, detail in _GUNICORN_REFUSALS:
        if isinstance(exc, cls):
            return status, detail
    return None


def problem_bytes(problem: ProblemType, detail: str, request_id: str) -> bytes:
    """A complete HTTP/1.1 response carrying a problem+json body, connection closed."""
    body = json.dumps(
        {
            "type": problem.uri,
            "title": problem.title,
            "status": problem.status,
            "detail": detail,
            "instance": f"urn:strongroom:request:{request_id}",
            "request_id": request_id,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {problem.status} {problem.title}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_MIMETYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n\r\n"
    )
    return head.encode("ascii") + body


class GunicornLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own messages go through Strongroom's handler (JSON in production)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True


class ProblemThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, answering unparsable requests with problem+json."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: Exception) -> None:
        refusal = refusal_for(exc)
        if refusal is None:
            super().handle_error(req, client, addr, exc)  # app-side: gunicorn's 500
            return
        status, detail = refusal
        request_id = secrets.token_hex(16)
        log.warning(
            "request refused by the HTTP parser",
            extra={
                "status": status,
                "error_class": type(exc).__name__,
                "remote_addr": (addr or ("",))[0],
                "request_id_assigned": request_id,
            },
        )
        try:
            client.sendall(problem_bytes(STATUS_PROBLEMS[status], detail, request_id))
        except OSError:
            log.debug("could not send the refusal; the client went away")


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 8 * 1024 * 1024
TRIM_THRESHOLD = 32 * 1024 * 1024
ARENA_MAX = 1


def tune_malloc() -> bool:
    """Keep the buffers of large transfers in one heap instead of fresh ``mmap`` calls.

    A file transfer allocates a new 1 MiB ``bytes`` for every body read and a 1 MiB
    piece for every response write. glibc serves blocks that size with ``mmap`` and
    returns them with ``munmap``, so each costs 256 page faults and the kernel zeroing
    the pages again: measured at 0.2-1 million faults and about a tenth of the time per
    GiB uploaded (docs/benchmarks.md). An 8 MiB threshold reuses heap memory instead;
    the 32 MiB trim threshold bounds what the heap keeps unused. One arena: otherwise
    each helper thread of a transfer (hashing, prefetch) gets an arena of its own, each
    keeping up to the trim threshold, which measured at 30-60 MB more per worker; the
    allocations are few and large, so sharing one arena costs no measurable speed.
    Returns whether the C library took the settings (other C libraries are left alone).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    settings = (
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (_M_ARENA_MAX, ARENA_MAX),
    )
    accepted = [bool(mallopt(option, value)) for option, value in settings]  # all of them
    return all(accepted)


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """Runs an already-built app under gunicorn with the given options."""

    def __init__(self, app: APIFlask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in {**self.options, "post_fork": _post_fork}.items():
            self.cfg.set(key, value)

    def load(self) -> APIFlask:
        return self.application

    def run(self) -> None:
        with self.application.app_context():
            # The master built the app and checked the schema; it serves nothing, so
            # it keeps no connection open while the workers run.
            get_database().dispose()
        super().run()


def _post_fork(_server: Any, worker: Any) -> None:
    app = worker.app.application
    with app.app_context():
        # Connections opened before the fork belong to the parent; never reuse them.
        get_database().engine.dispose(close=False)
        # The pool gauges count this worker's connections, which start at none.
        reset_pool_gauges(get_database().engine)
