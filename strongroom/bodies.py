"""Request bodies: media type, size limit and JSON, checked before any view runs.

- A body whose ``Content-Length`` is over the route's limit is refused before a byte
  of it is read. A body sent without a length (chunked) is read through
  ``CappedStream``, which raises ``BodyTooLarge`` the moment it passes the limit, so
  no reader, whatever it calls, ever gets a silently truncated body.
- JSON is parsed once, strictly: UTF-8 only (no BOM, no UTF-16), no duplicate keys
  (which parsers disagree about), no NaN/Infinity, bounded nesting. Schemas then validate the parsed
  value (``strongroom.api``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Literal, TypeVar, cast

from flask import Flask, Request, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_input_stream

from strongroom.context import get_settings
from strongroom.errors import BodyTooLarge, MalformedJson, UnsupportedMediaType

JSON_TYPES = ("application/json",)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Limit = Literal["max_request_size", "max_upload_size"]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class BodyPolicy:
    """What a route accepts as a request body."""

    media_types: tuple[str, ...] = JSON_TYPES
    limit: Limit = "max_request_size"
    # The view reads the body as a stream (uploads): nothing may parse it before,
    # not even ``request.form`` for a CSRF field (werkzeug would spool it to disk).
    streamed: bool = False


DEFAULT_POLICY = BodyPolicy()


def accepts_body(
    *media_types: str, limit: Limit = "max_request_size", streamed: bool = False
) -> Callable[[F], F]:
    """Declare the media types and size limit of a route's body (default: JSON, 1 MiB)."""
    policy = BodyPolicy(media_types or JSON_TYPES, limit, streamed)

    def decorate(view: F) -> F:
        view._strongroom_body = policy  # type: ignore[attr-defined]
        return view

    return decorate


class CappedStream(io.RawIOBase):
    """Reads through to ``inner`` and raises ``BodyTooLarge`` past ``limit`` bytes."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self._seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        data = self._inner.read(len(view))
        self._seen += len(data)
        if self._seen > self._limit:
            raise BodyTooLarge(f"The request body is over the limit of {self._limit} bytes.")
        view[: len(data)] = data
        return len(data)


class StrongroomRequest(Request):
    """A request whose body stream enforces the route's limit (``body_limit``)."""

    body_limit: int | None = None

    @cached_property
    def stream(self) -> IO[bytes]:
        # One byte of slack so that "exactly at the limit" and "over it" differ: at
        # its cap werkzeug stops reading silently instead of raising.
        cap = None if self.body_limit is None else self.body_limit + 1
        inner = get_input_stream(self.environ, max_content_length=cap)
        if self.body_limit is None:
            return inner
        return cast(IO[bytes], CappedStream(inner, self.body_limit))

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        raise MalformedJson(f"The body is not valid JSON: {e}") from e


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _refuse_lone_surrogates(value: Any) -> None:
    """``"\\ud800"`` is valid JSON syntax but no Unicode text: it cannot be stored, hashed
    or compared, so it is refused here rather than failing deep inside a view."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as err:
                raise ValueError("a string holds an unpaired UTF-16 surrogate") from err
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, but parsing refuses what RFC 8259 leaves ambiguous."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if isinstance(s, bytes | bytearray):
            s = bytes(s).decode("utf-8")  # strict: invalid UTF-8 raises ValueError
        if s.startswith("\ufeff"):
            raise ValueError("a byte order mark is not allowed")
        try:
            value = json.loads(
                s, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants, **kwargs
            )
        except RecursionError as err:
            raise ValueError("nested too deeply") from err
        _refuse_lone_surrogates(value)
        return value


def body_policy() -> BodyPolicy:
    """The body policy of the current request's view."""
    return _body_policy()


def _body_policy() -> BodyPolicy:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "_strongroom_body", DEFAULT_POLICY)


def check_body() -> None:
    """Before-request hook: limit, media type and (for JSON) a strict parse."""
    if request.method not in BODY_METHODS or request.endpoint is None:
        return  # routing failed: the 404/405 is raised after the hooks
    policy = _body_policy()
    limit: int = getattr(get_settings(), policy.limit)
    size = request.content_length
    if size is not None and size > limit:
        raise BodyTooLarge(f"The request body is {size} bytes; the limit is {limit} bytes.")
    request.body_limit = limit  # type: ignore[attr-defined]  # flask types it as Request
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
        request.get_json()  # parse now so malformed JSON fails before the view runs


def init_app(app: Flask) -> None:
    app.request_class = StrongroomRequest
    app.json = StrictJSONProvider(app)
    app.before_request(check_body)
