"""The HTML error page: the site's layout (with the nav for a signed-in user), a
plain-language explanation, the request id and a way home.

``strongroom.errors`` decides the status and the detail; this module only draws the
page. An error page must never fail itself: when finding the user or rendering the
layout raises (a broken database is a common reason for a 500), the bare page of
``strongroom.errors`` is sent instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import g, render_template, request
from flask.sansio.blueprints import BlueprintSetupState
from werkzeug.exceptions import default_exceptions

from strongroom.auth import sessions
from strongroom.auth.authn import cookie_name, csrf_token, current_principal, get_deps
from strongroom.auth.models import AuthSession
from strongroom.context import db_session
from strongroom.errors import ERROR_PAGE, ProblemType, bare_error_page
from strongroom.web.blueprint import bp

log = logging.getLogger(__name__)

# What a person can do about each kind of error, below the error's own detail.
ADVICE = {
    400: "The request could not be understood. If you sent a form, reload its page and try again.",
    403: "You do not have access to this. If you think you should, ask an administrator.",
    404: "There is nothing at this address. Check it, or go back to the page you came from.",
    405: "This address does not take that kind of request. Go back and use the page's "
    "links and buttons.",
    413: "What you sent is larger than this server accepts.",
    500: "Something went wrong on our side. Please try again in a moment; if it happens "
    "again, tell your administrator and quote the request id below.",
    503: "The service is not available right now. Please try again in a few minutes.",
}


def wait_words(seconds: int) -> str:
    """30 -> "30 seconds", 90 -> "1 minute and 30 seconds", 7260 -> "2 hours and 1 minute"."""

    def unit(count: int, name: str) -> str:
        return f"{count} {name}" if count == 1 else f"{count} {name}s"

    if seconds < 60:
        return unit(max(seconds, 1), "second")
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return unit(minutes, "minute") + (f" and {unit(rest, 'second')}" if rest else "")
    hours, rest = divmod(-(-seconds // 60), 60)  # whole minutes, rounded up
    return unit(hours, "hour") + (f" and {unit(rest, 'minute')}" if rest else "")


def retry_after(headers: Mapping[str, Any]) -> int | None:
    """Seconds from a ``Retry-After`` header given as a number (the only form we send)."""
    value = str(headers.get("Retry-After", "")).strip()
    return int(value) if value.isdigit() else None


def _session() -> AuthSession | None:
    """The signed-in session, for the layout. A request that matched no route never
    went through authentication, so its cookie is looked up here (nothing is
    committed: the request's transaction is rolled back at its end)."""
    if "principal" in g:
        principal = current_principal()
        return principal.session if principal is not None else None
    token = request.cookies.get(cookie_name(get_deps()))
    if not token:
        return None
    return sessions.find_session(db_session(), get_deps(), token)


def _advice(problem: ProblemType, wait: int | None) -> str:
    if problem.status == 429:
        return f"Please wait {wait_words(wait or 60)} and try again."
    return ADVICE.get(problem.status, ADVICE[400] if problem.status < 500 else ADVICE[500])


def render_error_page(
    problem: ProblemType, detail: str, request_id: str, headers: Mapping[str, Any]
) -> str:
    """The error page in the site's layout; the bare page if that fails."""
    advice = _advice(problem, retry_after(headers))
    generic = default_exceptions.get(problem.status)
    if generic is not None and detail == generic.description:
        detail = ""  # Werkzeug's stock wording; the advice says it plainer
    try:
        session = _session()
        layout: dict[str, Any] = {}
        if session is not None:
            layout = {"user": session.user, "csrf": csrf_token(get_deps(), session)}
        return render_template(
            "error.html", problem=problem, detail=detail, advice=advice,
            request_id=request_id, **layout,
        )  # fmt: skip
    except Exception:  # an error page must never fail: log it, send the bare one
        log.exception("the error page failed; sending the bare page")
        return bare_error_page(problem, detail, request_id, advice)


@bp.record_once
def _install(state: BlueprintSetupState) -> None:
    state.app.extensions[ERROR_PAGE] = render_error_page
