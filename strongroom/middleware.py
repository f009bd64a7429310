"""What happens to every request around its view: the request id and the access log.

Body checks live in ``strongroom.bodies``; both are installed by ``init_app``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request

from strongroom import bodies
from strongroom.errors import InvalidHeader
from strongroom.logs import request_id_var

log = logging.getLogger("strongroom.access")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

F = TypeVar("F", bound=Callable[..., Any])


def sensitive_path(view: F) -> F:
    """Mark a route whose URL holds a secret (a share-link token, say).

    Its access log lines then show the route template (``/s/<token>``), never the
    actual path.
    """
    view._strongroom_sensitive_path = True  # type: ignore[attr-defined]
    return view


def new_request_id() -> str:
    return secrets.token_hex(16)


def _start_request() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER)
    if incoming is not None and _CONTROL_RE.search(incoming):
        g.request_id = new_request_id()
        request_id_var.set(g.request_id)
        raise InvalidHeader(f"{REQUEST_ID_HEADER} must not contain control characters.")
    if incoming is not None and _REQUEST_ID_RE.match(incoming):
        g.request_id = incoming
    else:
        # Absent or oddly shaped (too long, spaces, non-ASCII): use one of our own.
        g.request_id = new_request_id()
    request_id_var.set(g.request_id)


# Paths under these prefixes hold a secret (share-link tokens) even when no route
# matched them (a 404 or 405): their rest is never logged.
SECRET_PATH_PREFIXES = ("/s/",)


def _logged_path() -> str:
    view = current_app.view_functions.get(request.endpoint or "")
    if request.url_rule is not None and getattr(view, "_strongroom_sensitive_path", False):
        return request.url_rule.rule
    for prefix in SECRET_PATH_PREFIXES:
        if request.path.startswith(prefix):
            return prefix + "<redacted>"
    return request.path


def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id") or new_request_id()
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("started")
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    path = _logged_path()
    log.info(
        "%s %s %s",
        request.method,
        path,
        response.status_code,
        extra={
            "method": request.method,
            "path": path,  # never the query string: it may carry tokens
            "route": request.url_rule.rule if request.url_rule else None,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": g.get("user_id"),
            "remote_addr": request.remote_addr,
        },
    )
    return response


def _reset_context(_exc: BaseException | None) -> None:
    request_id_var.set(None)


def init_app(app: Flask) -> None:
    app.before_request(_start_request)  # first, so every later hook has the request id
    bodies.init_app(app)
    app.after_request(_finish_request)
    app.teardown_request(_reset_context)
