"""The public side of share links, under ``/s/<token>``: what the link is for, and
the download it allows.

No session is involved: the token in the path is the whole credential. It is only
ever in the path (never a query string), kept out of the access log
(``sensitive_path``), and every answer under ``/s/`` tells the browser neither to
cache it nor to send the URL on as a ``Referer``. A browser (it prefers HTML) gets
the pages of ``sharing.link_page`` instead of JSON answers and error documents.

The ``password`` of a POST (JSON or the page's form) arrives with no session either,
so the CSRF check (for signed-in routes only) does not apply: a forged cross-site
POST could only download what its sender already has.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, request

from strongroom.auth.authn import get_deps
from strongroom.auth.deps import AuthDeps
from strongroom.auth.exceptions import Throttled
from strongroom.auth.policy import public
from strongroom.bodies import accepts_body
from strongroom.context import db_session, writes_on_read
from strongroom.files import reading, serving
from strongroom.middleware import sensitive_path
from strongroom.ratelimit import client_network, route_limit
from strongroom.sharing import links
from strongroom.sharing.exceptions import LinkPasswordRequired
from strongroom.sharing.link_page import PAGE_ERRORS, link_page, refused_page, wants_page
from strongroom.sharing.link_schemas import PublicLinkOut
from strongroom.sharing.policy import Action, Actor, authorize, deny

bp = APIBlueprint("share", __name__, url_prefix="/s", tag="Share links (public)")
PREFIX = "/s/"
_BINARY: dict[int | str, dict[str, str | dict[str, dict[str, Any]]]] = {
    200: {"description": "The plaintext", "content": {"application/octet-stream": {}}}
}


@bp.after_app_request
def _private(response: Response) -> Response:
    """Every answer under ``/s/``, errors and unknown paths included: the URL is a
    secret, so it must not leak through a cache or the next page's ``Referer``."""
    if request.path.startswith(PREFIX):
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<token>")  # any length: resolve() finds nothing for what is no token
@public("sharing:link:view")
@route_limit("link-ip")
@sensitive_path
@bp.output(PublicLinkOut)
@bp.doc(summary="What a share link offers (a password-protected link names no file)")
def info(token: str) -> Any:
    if wants_page():
        return link_page(token)
    now = get_deps().now()
    db = db_session()
    link = links.resolve(db, token, now=now)
    file = authorize(db, Actor.holding_link(link.id, link.file_id), Action.VIEW, link.file_id,
                     now=now)  # fmt: skip
    locked = link.password_hash is not None
    # Behind a password, even the file's name and size are the owner's secret.
    return {
        "name": None if locked else file.name,
        "size": None if locked else file.size,
        "content_type": None if locked else file.content_type,
        "expires_at": link.expires_at,
        "downloads_left": links.downloads_left(link),
        "password_required": locked,
    }


@bp.get("/<token>/content")
@public("sharing:link:download")
@route_limit("link-ip")
@sensitive_path
@writes_on_read
@bp.doc(
    summary="Download over a link without a password (counted; HEAD is not); single "
    "byte ranges are supported",
    responses=_BINARY,
)
def content(token: str) -> Response:
    return _serve_or_explain(token, None)


@bp.post("/<token>/content")
@public("sharing:link:download")
@route_limit("link-ip")
@sensitive_path
@accepts_body("application/json", "application/x-www-form-urlencoded")
@bp.doc(
    summary="Download over a link, with its password (JSON or form field `password`)",
    responses=_BINARY,
)
def content_with_password(token: str) -> Response:
    return _serve_or_explain(token, _password_sent())


def _serve_or_explain(token: str, password: str | None) -> Response:
    """The download; for a browser, a refusal is the link's page saying why (a wrong
    password shows the prompt again) instead of an error document."""
    if not wants_page():
        return _serve(token, password)
    try:
        return _serve(token, password)
    except PAGE_ERRORS as err:
        return refused_page(err, token=token, password_sent=bool(password))


def _password_sent() -> str | None:
    if request.mimetype == "application/x-www-form-urlencoded":
        value = request.form.get("password")
    else:
        body = request.get_json(silent=True) if request.content_length else None
        value = body.get("password") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _serve(token: str, password: str | None) -> Response:
    deps = get_deps()
    db = db_session()
    now = deps.now()
    link = links.resolve(db, token, now=now)
    link_id, file_id, password_hash = link.id, link.file_id, link.password_hash
    if password_hash is not None:
        # End the transaction first: on SQLite a writing one holds the database's
        # write lock, which Argon2's deliberate slowness must not hold up.
        db.rollback()
        _check_password(
            deps, link_id=link_id, file_id=file_id, hashed=password_hash, password=password
        )
    row = authorize(db, Actor.holding_link(link_id, file_id), Action.DOWNLOAD, file_id, now=now)
    etag, byte_range = serving.requested_range(row)
    snapshot = reading.Snapshot.of(row)
    if request.method == "HEAD":  # the headers only: nothing is read, nothing counted
        db.commit()
        return serving.content_response(row, iter(()), byte_range, etag)
    # Counted (and ledgered) before a byte is sent; the conditional UPDATE is what
    # keeps concurrent downloads within max_downloads.
    links.count_use(db, link_id, file=row, byte_range=byte_range, now=now)
    db.commit()
    body = serving.plaintext_of(snapshot, byte_range)
    return serving.content_response(row, body, byte_range, etag)


def _check_password(
    deps: AuthDeps,
    *,
    link_id: str,
    file_id: str,
    hashed: str,
    password: str | None,
) -> None:
    """Pass with the right password; wrong ones are ledgered and limited per link + IP.

    The attempt is counted before Argon2 runs (and forgotten after a success), so
    concurrent guesses cannot all pass the check while the first is verified.
    """
    if not password:  # asking for the form is no guess
        raise LinkPasswordRequired("This share link needs its password.")
    db = db_session()
    now = deps.now()
    actor = Actor.holding_link(link_id, file_id)
    key = (link_id, client_network())
    try:
        deps.limits.acquire("link-password", *key)
    except Throttled:
        deny(db, actor, Action.DOWNLOAD, file_id, "too many wrong link passwords", now=now)
        raise
    try:
        links.check_password(deps.passwords, hashed, password)
    except LinkPasswordRequired:
        deny(db, actor, Action.DOWNLOAD, file_id, "wrong link password", now=now)
        raise
    deps.limits.clear("link-password", *key)
