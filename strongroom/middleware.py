"""What happens to every request before and after its view: request id, body checks,
access log.

Body checks run before the view, so an oversized, mistyped or malformed body is
refused without the view ever seeing it; a body whose ``Content-Length`` is over the
limit is refused before a byte of it is read.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from flask import Flask, Request, Response, current_app, g, request

from strongroom.context import get_settings
from strongroom.errors import BodyTooLarge, InvalidHeader, MalformedJson, UnsupportedMediaType
from strongroom.logs import request_id_var

log = logging.getLogger("strongroom.access")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPES = ("application/json",)

F = TypeVar("F", bound=Callable[..., Any])


class StrongroomRequest(Request):
    """Turns an unparsable JSON body into ``MalformedJson`` (a 400 problem)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        raise MalformedJson(f"The body is not valid JSON: {e}") from e


@dataclass(frozen=True)
class BodyPolicy:
    """What a route accepts as a request body."""

    media_types: tuple[str, ...] = JSON_TYPES
    limit: Literal["max_request_size", "max_upload_size"] = "max_request_size"


DEFAULT_POLICY = BodyPolicy()


def accepts_body(
    *media_types: str, limit: Literal["max_request_size", "max_upload_size"] = "max_request_size"
) -> Callable[[F], F]:
    """Declare the media types and size limit of a route's body (default: JSON, 1 MiB)."""
    policy = BodyPolicy(media_types or JSON_TYPES, limit)

    def decorate(view: F) -> F:
        view._strongroom_body = policy  # type: ignore[attr-defined]
        return view

    return decorate


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


def _body_policy() -> BodyPolicy:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "_strongroom_body", DEFAULT_POLICY)


def _check_body() -> None:
    if request.method not in _BODY_METHODS or request.endpoint is None:
        return  # routing failed: the 404/405 is raised after the hooks
    policy = _body_policy()
    limit = getattr(get_settings(), policy.limit)
    g.body_limit = limit
    size = request.content_length
    if size is not None and size > limit:
        raise BodyTooLarge(f"The request body is {size} bytes; the limit is {limit} bytes.")
    # A body sent without a length is cut off one byte past the limit, so that byte
    # tells "exactly at the limit" from "over it" (werkzeug stops silently at its cap).
    request.max_content_length = limit + 1
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if not (size or chunked):
        return
    mimetype = request.mimetype
    if mimetype not in policy.media_types:
        expected = " or ".join(policy.media_types)
        raise UnsupportedMediaType(
            f"Send the body as {expected} (got {mimetype or 'no Content-Type'})."
        )
    if mimetype in JSON_TYPES:
        body_bytes()
        request.get_json()  # parse now so malformed JSON fails before the view runs


def body_bytes() -> bytes:
    """The whole request body, refused with ``BodyTooLarge`` when over the route's limit.

    Views that read a body in one piece use this rather than ``request.get_data()``,
    which would hand over a body without a length truncated at the cap.
    """
    data = request.get_data(cache=True)
    limit = g.get("body_limit", get_settings().max_request_size)
    if len(data) > limit:
        raise BodyTooLarge(f"The request body is over the limit of {limit} bytes.")
    return data


def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id") or new_request_id()
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("started")
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "path": request.path,
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
    app.request_class = StrongroomRequest
    app.before_request(_start_request)
    app.before_request(_check_body)
    app.after_request(_finish_request)
    app.teardown_request(_reset_context)
