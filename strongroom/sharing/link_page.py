"""The share-link page a browser gets at ``/s/<token>``: the file, a Download button or
the password prompt, and human words for links that no longer work.

API clients and tools keep the JSON answers of ``sharing.public``; only a client that
prefers HTML (a browser following the link) gets this page. The checks are the same
(``links.resolve``, then the policy for a link holder), so the page can show no more
than the JSON would: behind a password, not even the file's name.
"""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request

from strongroom.auth.authn import get_deps
from strongroom.auth.exceptions import Throttled
from strongroom.context import db_session
from strongroom.errors import problem_for_exception
from strongroom.files.exceptions import FileNotFound
from strongroom.sharing import links
from strongroom.sharing.exceptions import (
    LinkExhausted,
    LinkExpired,
    LinkPasswordRequired,
    SharingError,
)
from strongroom.sharing.policy import Action, Actor, authorize

# The errors a page explains itself; anything else goes to the site's error page.
PAGE_ERRORS = (SharingError, FileNotFound, Throttled)
MESSAGE_WRONG = "That password is not right. Check it with the person who sent you the link."
MESSAGE_MISSING = "Type the password to download the file."


def wants_page() -> bool:
    """Whether the client prefers HTML to JSON: a browser following the link. Tools
    that accept anything (``*/*``) or send no Accept keep the JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def link_page(token: str) -> Response:
    """The link's page, or why it no longer works."""
    now = get_deps().now()
    db = db_session()
    try:
        link = links.resolve(db, token, now=now)
        holder = Actor.holding_link(link.id, link.file_id)
        file = authorize(db, holder, Action.VIEW, link.file_id, now=now)
    except (SharingError, FileNotFound) as err:
        return refused_page(err)
    locked = link.password_hash is not None
    return _render(
        200, token=token, locked=locked, expires_at=link.expires_at,
        downloads_left=links.downloads_left(link),
        # Behind a password, even the file's name and size are the owner's secret.
        file=None if locked else {"name": file.name, "size": file.size},
    )  # fmt: skip


def refused_page(
    err: Exception, *, token: str | None = None, password_sent: bool = False
) -> Response:
    """The page for a refused view or download: a wrong password shows the prompt
    again; a dead link says why, with the status the API gives."""
    problem = problem_for_exception(err)
    status = problem.status if problem else 404
    if isinstance(err, LinkPasswordRequired) and token is not None:
        message = MESSAGE_WRONG if password_sent else MESSAGE_MISSING
        return _render(status, token=token, locked=True, message=message)
    if isinstance(err, Throttled):
        response = _render(status, token=token, locked=True, message=_wait(err.retry_after))
        response.headers.update(err.headers)
        return response
    reason = "expired" if isinstance(err, LinkExpired) else "unknown"
    if isinstance(err, LinkExhausted):
        reason = "used-up"
    return _render(status, gone=reason)


def _wait(seconds: int) -> str:
    minutes = -(-seconds // 60)
    later = f"{seconds} seconds" if seconds < 60 else f"{minutes} minute" + "s" * (minutes != 1)
    return f"Too many wrong passwords for this link. Please wait {later} and try again."


def _render(status: int, **context: Any) -> Response:
    context.setdefault("token", None)
    html = render_template("share_link.html", **context)
    return Response(html, status=status, mimetype="text/html")
