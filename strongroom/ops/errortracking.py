"""Error tracking with Sentry, on only when ``STRONGROOM_SENTRY_DSN`` is set.

Without a DSN nothing here imports sentry-sdk or starts anything. With one, errors
(unhandled exceptions, which ``strongroom.errors`` logs, and any ``log.error``) go to
Sentry tagged with the request id that the problem+json answer and the access log
show, so a user's report, the log line and the Sentry issue meet.

What leaves the process is decided here, deny by default (docs/operations/
error-tracking.md lists it):

- request: method, URL without its query string (share-link tokens in ``/s/<token>``
  replaced) and a short list of harmless headers; never cookies, bodies, form data,
  query strings, ``Authorization``/``X-CSRF-Token``/``X-File-Name`` or any other
  header not on the list, and no client address;
- no local variables of stack frames (they hold passwords, tokens and file names);
- exceptions keep their type and stack trace, not their message; log events and log
  breadcrumbs keep the message template, not its arguments or the formatted text:
  either may quote a file name, a user name or an address;
- everywhere else (extra data, contexts, breadcrumbs, span descriptions, tags):
  values under a key that names a secret (``password``, ``token``, ``cookie``,
  ``otp``, ...) or personal data (``name``, ``filename``, ``username``, ``note``,
  ``email``) are replaced, and strings
  are scrubbed of anything shaped like a credential (bearer tokens, Strongroom's
  prefixed tokens, share-link paths, query strings, passwords in URLs, recovery
  codes, long random strings).

The request id is also set as a tag on each request's Sentry scope, so performance
transactions (``STRONGROOM_SENTRY_TRACES_SAMPLE_RATE``) carry it as well.

Fork safety: the app is built in gunicorn's master before the workers fork. The SDK
starts its sender thread lazily and checks the process id before each use, so every
worker starts its own after the fork; nothing is sent from the master.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, g

from strongroom import __version__
from strongroom.auth.tokens import CHALLENGE_PREFIX, INVITE_PREFIX, PAT_PREFIX, SESSION_PREFIX
from strongroom.logs import REDACTED, is_sensitive, request_id_var
from strongroom.middleware import REQUEST_ID_HEADER, SECRET_PATH_PREFIXES
from strongroom.settings import Settings

log = logging.getLogger(__name__)

# Request headers that may travel with an event; every other one is dropped.
ALLOWED_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "content-length",
        "content-type",
        "host",
        "user-agent",
        REQUEST_ID_HEADER.lower(),
    }
)
# Keys whose values are secrets wherever they appear (the log filter's list, plus
# what it does not catch: CSRF values, sessions, TOTP and recovery codes, DSNs).
_SECRET_KEY = re.compile(r"csrf|session|^code$|recovery|dsn|signature|private", re.IGNORECASE)
# Keys whose values are personal in data that code attached (log extras, breadcrumb
# data): file names above all. Not applied to the SDK's own contexts, whose ``name``
# fields say "CPython" or "Linux".
_PERSONAL_KEY = re.compile(
    r"^(name|filename|file_name|new_name|old_name|display_name|original_name|username|"
    r"email|note|content[-_]disposition|x[-_]file[-_]name)$",
    re.IGNORECASE,
)
# Query strings kept apart from their URL (HTTP spans and breadcrumbs): never sent.
_QUERY_KEYS = frozenset({"http.query", "http.fragment", "query_string"})
# Frame fields kept as they are: source locations, not data.
_FRAME_FIELDS = frozenset(
    {"filename", "abs_path", "module", "function", "package", "context_line", "pre_context",
     "post_context"}
)  # fmt: skip

_TOKEN_PREFIXES = "|".join(
    re.escape(p) for p in (SESSION_PREFIX, PAT_PREFIX, CHALLENGE_PREFIX, INVITE_PREFIX)
)
_SECRET_PATHS = "|".join(re.escape(p) for p in SECRET_PATH_PREFIXES)
# Long random strings (raw tokens, keys): mixed case and digits, 32 characters or more.
# Hex (request and trace ids, digests) and identifiers stay readable.
_LONG_RANDOM = re.compile(
    r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[0-9])"
    r"[A-Za-z0-9_-]{32,}"
)
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values, wherever they were copied to.
    (re.compile(r"\b(Bearer|Basic|Token)\s+[^\s,;\"']+", re.IGNORECASE), rf"\1 {REDACTED}"),
    # Strongroom's own tokens: sessions, personal access tokens, challenges, invites.
    (re.compile(rf"(?<![A-Za-z0-9])(?:{_TOKEN_PREFIXES})[A-Za-z0-9_-]+"), REDACTED),
    # Share-link tokens in paths and URLs (/s/<token>, /s/<token>/content).
    (re.compile(rf"({_SECRET_PATHS})[^/\s?#\"']+"), rf"\1{REDACTED}"),
    # Query strings (names of uploads, search terms, tokens someone put there).
    (re.compile(r"(/[^\s?\"'<>]*)\?[^\s#\"'<>]*"), rf"\1?{REDACTED}"),
    # Passwords in URLs (a database URL in an exception message).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]*):[^@/\s]+@", re.IGNORECASE), rf"\1:{REDACTED}@"),
    # key=value pairs whose key names a secret (cookies, form bodies, log text).
    (
        re.compile(
            r"((?:pass(?:word|phrase)?|secret|token|session|csrf|cookie|api[_-]?key|otp|"
            r"signature|credential|"
            r"recovery|(?<![\w-])code)[\w-]*[\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s;&,\"']+)",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
    # Recovery codes (four groups of four base32 characters).
    (re.compile(r"\b[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}\b", re.IGNORECASE), REDACTED),
    (_LONG_RANDOM, REDACTED),
)


def scrub_text(text: str) -> str:
    """``text`` with every credential-shaped part replaced by ``[redacted]``."""
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def _secret_key(key: str) -> bool:
    return is_sensitive(key) or bool(_SECRET_KEY.search(key))


def scrub(value: Any, *, personal: bool = False) -> Any:
    """A copy of ``value`` with secrets (and, if ``personal``, personal data) removed.

    Dicts are scrubbed by key and recursively; strings by shape.
    """
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = str(key)
            if name == "vars" or name in _QUERY_KEYS:
                continue  # a stack frame's local variables, a query string: never sent
            if _secret_key(name) or (personal and _PERSONAL_KEY.match(name)):
                out[key] = REDACTED
            elif name in _FRAME_FIELDS:
                out[key] = item
            else:
                out[key] = scrub(item, personal=personal)
        return out
    if isinstance(value, list | tuple):
        return [scrub(item, personal=personal) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def scrub_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """Method, URL without its query, and the allowed headers; nothing else."""
    out: dict[str, Any] = {}
    if "method" in request:
        out["method"] = request["method"]
    if isinstance(request.get("url"), str):
        out["url"] = scrub_text(request["url"].split("?", 1)[0])
    headers = request.get("headers")
    if isinstance(headers, Mapping):
        out["headers"] = {
            name: scrub_text(str(value))
            for name, value in headers.items()
            if str(name).lower() in ALLOWED_HEADERS
        }
    return out


def _tag_request_id(event: dict[str, Any]) -> None:
    request_id = request_id_var.get()
    if request_id:
        tags = event.get("tags")
        if not isinstance(tags, dict):
            tags = event["tags"] = {}
        tags["request_id"] = request_id


def scrub_event(event: dict[str, Any], _hint: Any = None) -> dict[str, Any]:
    """Sentry's ``before_send`` (and ``before_send_transaction``)."""
    _tag_request_id(event)
    cleaned: dict[str, Any] = {}
    for key, value in event.items():
        if key == "request" and isinstance(value, Mapping):
            cleaned[key] = scrub_request(value)
        elif key == "user":
            continue  # no user data at all (an id would do; the request id is enough)
        elif key == "modules":
            cleaned[key] = value  # installed package versions ("pyotp" is no secret)
        elif key in {"extra", "breadcrumbs"}:
            cleaned[key] = scrub(value, personal=True)
        elif key == "logentry" and isinstance(value, Mapping):
            cleaned[key] = _log_template(value)
        elif key == "exception" and isinstance(value, Mapping):
            cleaned[key] = _without_messages(scrub(value))
        else:
            cleaned[key] = scrub(value)
    return cleaned


def _log_template(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A log event's message template only: its arguments and the formatted text may
    hold anything a caller passed (file names, user names, addresses)."""
    message = entry.get("message")
    return {"message": scrub_text(message)} if isinstance(message, str) else {}


def _without_messages(exception: dict[str, Any]) -> dict[str, Any]:
    """Exceptions keep their type and stack trace; their messages are dropped, since
    they may quote user input (a file name, an address) in any shape."""
    values = exception.get("values")
    if isinstance(values, list):
        for value in values:
            if isinstance(value, dict) and "value" in value:
                value["value"] = REDACTED
    return exception


def scrub_breadcrumb(crumb: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """Sentry's ``before_breadcrumb``: breadcrumbs carry log extras and request URLs.

    A log breadcrumb keeps its message template, never the formatted message.
    """
    cleaned: dict[str, Any] = scrub(crumb, personal=True)
    record = hint.get("log_record") if isinstance(hint, Mapping) else None
    if isinstance(record, logging.LogRecord) and "message" in cleaned:
        cleaned["message"] = scrub_text(str(record.msg))
    return cleaned


def init_app(app: Flask, settings: Settings) -> bool:
    """Start Sentry when a DSN is configured; returns whether it did.

    Call after ``strongroom.middleware.init_app``: the hook added here reads the
    request id that middleware's first hook sets.
    """
    dsn = settings.sentry_dsn.get_secret_value().strip() if settings.sentry_dsn else ""
    if not dsn:
        return False
    import sentry_sdk  # noqa: PLC0415  # only when configured: no cost otherwise
    from sentry_sdk.integrations.flask import FlaskIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.logging import LoggingIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.redis import RedisIntegration  # noqa: PLC0415

    sentry_sdk.init(
        dsn=dsn,
        release=f"strongroom@{__version__}",
        environment=settings.sentry_environment or str(settings.mode),
        traces_sample_rate=settings.sentry_traces_sample_rate,
        # send_default_pii stays unset, which means off (user data, client addresses,
        # database query values): sentry-sdk 2.75 deprecates passing it at all.
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,  # type: ignore[arg-type]  # a TypedDict, handled as a dict
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
        before_breadcrumb=scrub_breadcrumb,
        integrations=[
            # Route templates (/s/<token>) name transactions, never the actual paths.
            FlaskIntegration(transaction_style="url"),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        # Rate-limit keys name accounts and client networks: no Redis breadcrumbs or spans.
        disabled_integrations=[RedisIntegration()],
    )

    @app.before_request
    def _tag_request() -> None:
        # On the request's own scope, so the transaction (sent after the request's
        # context is gone) carries the id too; events also get it in before_send.
        sentry_sdk.set_tag("request_id", g.get("request_id"))

    log.info("error tracking on", extra={"environment": settings.sentry_environment or None})
    return True
