"""Every error, in one place, turned into ``application/problem+json`` (RFC 9457).

Domain packages raise their own exception families; the table ``PROBLEMS`` below
maps each family to a stable problem type, a status and a title, so a view never
builds an error response by hand. API clients (anything under ``/api/``, the health
endpoints, or a client that prefers JSON) get problem+json; browsers get an HTML
page, drawn by the web package's error page (``ERROR_PAGE``) in the site's layout, or
the bare page here when there is none or it fails. Outside development no response
ever carries a stack trace.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apiflask.exceptions import HTTPError, _ValidationError
from flask import Flask, Response, current_app, json, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from strongroom.auth import exceptions as auth
from strongroom.exceptions import StrongroomError
from strongroom.files import exceptions as files
from strongroom.ledger import exceptions as ledger
from strongroom.logs import request_id_var
from strongroom.settings import Mode
from strongroom.sharing import exceptions as sharing
from strongroom.storage import interfaces as storage

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "urn:strongroom:problem:"
PROBLEM_MIMETYPE = "application/problem+json"
_JSON_PATH_PREFIXES = ("/api/", "/healthz", "/readyz", "/metrics")
# app.extensions key of the HTML error page renderer:
# (problem, detail, request_id, headers) -> HTML. The web package installs one.
ERROR_PAGE = "strongroom.error_page"


@dataclass(frozen=True)
class ProblemType:
    """A kind of error: its stable identifier, HTTP status and short title."""

    slug: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


STATUS_PROBLEMS: dict[int, ProblemType] = {
    p.status: p
    for p in (
        ProblemType("bad-request", 400, "Bad request"),
        ProblemType("unauthenticated", 401, "Authentication required"),
        ProblemType("forbidden", 403, "Forbidden"),
        ProblemType("not-found", 404, "Not found"),
        ProblemType("method-not-allowed", 405, "Method not allowed"),
        ProblemType("not-acceptable", 406, "Not acceptable"),
        ProblemType("conflict", 409, "Conflict"),
        ProblemType("gone", 410, "Gone"),
        ProblemType("length-required", 411, "Length required"),
        ProblemType("precondition-failed", 412, "Precondition failed"),
        ProblemType("payload-too-large", 413, "Request body too large"),
        ProblemType("uri-too-long", 414, "URI too long"),
        ProblemType("unsupported-media-type", 415, "Unsupported media type"),
        ProblemType("range-not-satisfiable", 416, "Range not satisfiable"),
        ProblemType("validation-failed", 422, "The request is not valid"),
        ProblemType("precondition-required", 428, "Precondition required"),
        ProblemType("rate-limited", 429, "Too many requests"),
        ProblemType("headers-too-large", 431, "Request headers too large"),
        ProblemType("internal-error", 500, "Internal server error"),
        ProblemType("not-implemented", 501, "Not implemented"),
        ProblemType("service-unavailable", 503, "Service unavailable"),
    )
}
INTERNAL = STATUS_PROBLEMS[500]


class RequestError(StrongroomError):
    """A request that is broken at the protocol level (before any view runs)."""


class MalformedJson(RequestError):
    """The body claims to be JSON but is not (or is not UTF-8)."""


class UnsupportedMediaType(RequestError):
    """The body has a media type the route does not accept."""


class InvalidHeader(RequestError):
    """A header the service reads is malformed (control characters, wrong shape)."""


class BodyTooLarge(RequestError):
    """The declared body size is over the route's limit."""


# Exception family -> problem type. Domain packages add their families here, once.
PROBLEMS: dict[type[Exception], ProblemType] = {
    MalformedJson: ProblemType("malformed-json", 400, "Malformed JSON"),
    InvalidHeader: ProblemType("invalid-header", 400, "Invalid header"),
    UnsupportedMediaType: STATUS_PROBLEMS[415],
    BodyTooLarge: STATUS_PROBLEMS[413],
    # Accounts. Most specific first does not matter: the lookup walks each class's MRO.
    auth.InvalidCredentials: ProblemType("invalid-credentials", 401, "Sign-in failed"),
    auth.Unauthenticated: STATUS_PROBLEMS[401],
    auth.ChallengeExpired: ProblemType("challenge-expired", 401, "Sign-in expired"),
    auth.CsrfFailed: ProblemType("csrf-failed", 403, "CSRF token missing or wrong"),
    auth.Forbidden: STATUS_PROBLEMS[403],
    auth.SessionOnly: ProblemType("session-required", 403, "Not allowed with a token"),
    auth.ReauthenticationRequired: ProblemType(
        "reauthentication-required", 403, "Confirm with your password"
    ),
    auth.PasswordChangeRequired: ProblemType(
        "password-change-required", 403, "Password change required"
    ),
    auth.TwoFactorSetupRequired: ProblemType(
        "two-factor-setup-required", 403, "Two-factor set-up required"
    ),
    auth.RegistrationClosed: ProblemType("registration-closed", 403, "Registration not open"),
    auth.AccountNotFound: STATUS_PROBLEMS[404],
    auth.UsernameTaken: ProblemType("username-taken", 409, "Username taken"),
    auth.Conflict: STATUS_PROBLEMS[409],
    auth.InvalidUsername: ProblemType("invalid-username", 422, "Username not allowed"),
    auth.PasswordRejected: ProblemType("password-rejected", 422, "Password not accepted"),
    auth.InvalidCode: ProblemType("invalid-code", 422, "Code not accepted"),
    auth.Throttled: STATUS_PROBLEMS[429],
    # Ledger.
    ledger.EntryNotFound: STATUS_PROBLEMS[404],
    ledger.BadTreeRequest: ProblemType("bad-tree-request", 422, "Not in this tree"),
    ledger.NotRedactable: ProblemType("not-redactable", 409, "Entry cannot be redacted"),
    # Files and their storage.
    files.FileNotFound: STATUS_PROBLEMS[404],
    files.InvalidFileName: ProblemType("invalid-file-name", 422, "File name not allowed"),
    files.BadUpload: ProblemType("bad-upload", 400, "Upload not understood"),
    files.UploadIncomplete: ProblemType("upload-incomplete", 400, "Upload incomplete"),
    files.FileTooLarge: ProblemType("file-too-large", 413, "File too large"),
    files.QuotaExceeded: ProblemType("quota-exceeded", 507, "Storage quota exceeded"),
    files.RangeNotSatisfiable: STATUS_PROBLEMS[416],
    files.FileCorrupted: ProblemType("file-corrupted", 500, "Stored file damaged"),
    files.KeyUnavailable: ProblemType("key-unavailable", 500, "Master key unavailable"),
    # Sharing.
    sharing.AccessDenied: ProblemType("access-denied", 403, "Not allowed for this file"),
    sharing.GrantNotFound: STATUS_PROBLEMS[404],
    sharing.CannotShare: ProblemType("cannot-share", 422, "Cannot share with that user"),
    sharing.AlreadyShared: ProblemType("already-shared", 409, "Already shared"),
    sharing.TooManyRecipients: ProblemType("too-many-recipients", 422, "Too many recipients"),
    sharing.LinkNotFound: STATUS_PROBLEMS[404],
    sharing.LinkExpired: ProblemType("link-expired", 410, "Share link expired"),
    sharing.LinkExhausted: ProblemType("link-exhausted", 410, "Share link used up"),
    sharing.LinkPasswordRequired: ProblemType(
        "link-password-required", 403, "Share link password needed"
    ),
    storage.StorageUnavailable: ProblemType("storage-unavailable", 503, "Storage unavailable"),
    storage.StorageError: ProblemType("storage-error", 500, "Storage error"),
}


def problem_for_exception(exc: BaseException) -> ProblemType | None:
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return None


def wants_problem_json() -> bool:
    if request.path.startswith(_JSON_PATH_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(
        ["text/html", "application/json", PROBLEM_MIMETYPE], default="text/html"
    )
    return best != "text/html"


def problem_response(
    problem: ProblemType,
    detail: str,
    *,
    headers: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """The error response for the current request, as problem+json or an HTML page."""
    request_id = request_id_var.get() or "-"
    if wants_problem_json():
        body: dict[str, Any] = {
            "type": problem.uri,
            "title": problem.title,
            "status": problem.status,
            "detail": detail,
            # The path may hold a secret (share-link tokens), so the occurrence is
            # identified by the request id instead.
            "instance": f"urn:strongroom:request:{request_id}",
            "request_id": request_id,
            **(extra or {}),
        }
        response = current_app.response_class(
            json.dumps(body), status=problem.status, mimetype=PROBLEM_MIMETYPE
        )
    else:
        render = current_app.extensions.get(ERROR_PAGE)
        page = (
            render(problem, detail, request_id, headers or {})
            if render is not None
            else bare_error_page(problem, detail, request_id, "")
        )
        response = current_app.response_class(page, status=problem.status, mimetype="text/html")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def bare_error_page(problem: ProblemType, detail: str, request_id: str, advice: str) -> str:
    """An error page that needs no template, no database and no user: the fallback
    when the site's error page cannot be drawn."""
    stylesheet = escape(f"{request.script_root}/static/strongroom.css")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{problem.status} {escape(problem.title)} · Strongroom</title>"
        f'<link rel="stylesheet" href="{stylesheet}"></head><body>'
        f'<main class="error-page"><p class="error-code">{problem.status}</p>'
        f"<h1>{escape(problem.title)}</h1><p>{escape(detail)}</p>"
        + (f"<p>{escape(advice)}</p>" if advice else "")
        + f'<p class="muted">Request id: <code>{escape(request_id)}</code></p>'
        f'<p><a href="{escape(request.script_root)}/">Back to Strongroom</a></p>'
        "</main></body></html>\n"
    )


def _handle_domain_error(exc: StrongroomError) -> Response:
    problem = problem_for_exception(exc) or STATUS_PROBLEMS[400]
    log.info("request refused: %s", problem.slug, extra={"reason": str(exc)})
    return problem_response(problem, str(exc), headers=exc.headers, extra=exc.extra)


def _handle_http_exception(exc: HTTPException) -> Response:
    code = exc.code or 500
    problem = STATUS_PROBLEMS.get(code) or ProblemType(f"http-{code}", code, exc.name)
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return problem_response(problem, exc.description or problem.title, headers=headers)


def _handle_apiflask_error(exc: HTTPError) -> Response:
    problem = STATUS_PROBLEMS.get(exc.status_code) or INTERNAL
    headers = dict(exc.headers or {})
    if isinstance(exc, _ValidationError):
        errors = flatten_validation_errors(exc.detail)
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(
            problem, f"Invalid input: {fields}", headers=headers, extra={"errors": errors}
        )
    return problem_response(problem, exc.message or problem.title, headers=headers)


def flatten_validation_errors(detail: Any) -> list[dict[str, str]]:
    """``{"json": {"user": {"name": ["Too long."]}}}`` -> one entry per message."""
    out: list[dict[str, str]] = []
    for location, fields in (detail or {}).items():
        _flatten(location, "", fields, out)
    return out


def _flatten(location: str, prefix: str, node: Any, out: list[dict[str, str]]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _flatten(location, f"{prefix}.{key}" if prefix else str(key), value, out)
    elif isinstance(node, list | tuple):
        for item in node:
            _flatten(location, prefix, item, out)
    else:
        out.append({"location": location, "field": prefix or "(body)", "message": str(node)})


def _handle_unexpected(exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc, extra={"error_class": type(exc).__name__})
    extra: dict[str, Any] = {}
    # Only with debug on, which production refuses: development mode alone may be
    # listening on a public interface.
    if current_app.debug and current_app.config.get("STRONGROOM_MODE") != Mode.PRODUCTION:
        extra["traceback"] = traceback.format_exception(exc)
    return problem_response(
        INTERNAL,
        "Something went wrong on our side. Quote the request id if you report it.",
        extra=extra,
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(StrongroomError, _handle_domain_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(HTTPError, _handle_apiflask_error)
    app.register_error_handler(Exception, _handle_unexpected)
