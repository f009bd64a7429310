"""Pages under ``/``: sign-in (with its 2FA step), sign-out and "my files".

Views are thin: they call the same services as the JSON API and render templates.
Every page is served with a strict Content-Security-Policy (no inline script or
style), every form carries a CSRF token, and a failed form is shown again with what
was typed (never a secret) and a plain-language message.

The sign-in form has no session yet, so its CSRF token is a double-submit one: a
random value in a ``SameSite=Strict``, HttpOnly cookie and in the form, compared in
constant time. That stops a forged cross-site sign-in into the attacker's account.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for

from strongroom.auth import accounts
from strongroom.auth.authn import (
    CSRF_FORM_FIELD,
    clear_session_cookie,
    csrf_token,
    current_principal,
    get_deps,
    require_principal,
    set_session_cookie,
)
from strongroom.auth.exceptions import (
    InvalidCode,
    InvalidCredentials,
    Throttled,
    Unauthenticated,
)
from strongroom.auth.policy import login_required, public
from strongroom.auth.tokens import tokens_equal
from strongroom.bodies import accepts_body
from strongroom.context import db_session
from strongroom.errors import problem_for_exception
from strongroom.files import services as file_services
from strongroom.files.exceptions import FileError
from strongroom.files.models import FILE_ID_LENGTH, StoredFile
from strongroom.files.views import upload_from_request
from strongroom.ratelimit import client_ip, route_limit
from strongroom.settings import Mode
from strongroom.sharing.exceptions import SharingError
from strongroom.sharing.policy import Action, Actor, can
from strongroom.storage.interfaces import StorageError

bp = Blueprint("web", __name__)
LOGIN_CSRF_COOKIE = "strongroom_login_csrf"
FORM = "application/x-www-form-urlencoded"
PAGE_SIZE = 50
# Pages load only what the app serves itself: no inline code, no third parties.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@bp.after_app_request
def _page_headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _see_other(location: str) -> Response:
    """A 303 to ``location`` (after a form, the browser follows with a GET)."""
    return Response(status=303, headers={"Location": location})


def _client() -> accounts.Client:
    return accounts.Client(ip=client_ip(), user_agent=request.user_agent.string or "")


@bp.errorhandler(Unauthenticated)
def _to_sign_in(_err: Unauthenticated) -> Response:
    """A page that needs a signed-in user sends the others to the sign-in page."""
    return _see_other(url_for("web.login_page"))


@bp.get("/")
@public("web:home")
def home() -> Response:
    target = "web.files" if current_principal() is not None else "web.login_page"
    return _see_other(url_for(target))


def _login_form(*, status: int = 200, **context: Any) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    page = render_template("login.html", login_csrf=token, **context)
    response = Response(page, status=status, mimetype="text/html")
    settings = get_deps().settings
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        secure=settings.secure_cookies(development=settings.mode is Mode.DEVELOPMENT),
        httponly=True,
        samesite="Strict",
    )
    return response


def _login_csrf_ok() -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = request.form.get(CSRF_FORM_FIELD, "")
    return bool(cookie) and bool(sent) and tokens_equal(cookie, sent)


@bp.get("/login")
@public("web:login:form")
def login_page() -> Response:
    return _login_form()


@bp.post("/login")
@public("web:login")
@accepts_body(FORM)
@route_limit("signin-ip")
def login() -> Response:
    username = request.form.get("username", "")[:256]
    if not _login_csrf_ok():
        return _login_form(status=400, username=username,
                           error="The form expired. Please try again.")  # fmt: skip
    db = db_session()
    try:
        result = accounts.sign_in(
            db, get_deps(), username=username,
            password=request.form.get("password", "")[:1024], client=_client(),
        )  # fmt: skip
        db.commit()
    except InvalidCredentials:
        db.commit()
        return _login_form(status=401, username=username,
                           error="That username and password do not match.")  # fmt: skip
    except Throttled as err:
        db.commit()
        return _login_form(status=429, username=username, error=_wait_message(err))
    if isinstance(result, accounts.ChallengeIssued):
        return _login_form(challenge=result.challenge, username=username)
    return _signed_in(result)


@bp.post("/login/totp")
@public("web:login:totp")
@accepts_body(FORM)
@route_limit("signin-ip")
def login_totp() -> Response:
    challenge = request.form.get("challenge", "")[:256]
    username = request.form.get("username", "")[:256]
    if not _login_csrf_ok():
        return _login_form(status=400, error="The form expired. Please sign in again.")
    code = request.form.get("code", "").strip()[:64]
    db = db_session()
    try:
        signed = accounts.sign_in_second_step(
            db, get_deps(), client=_client(), challenge=challenge,
            code=code or None, recovery_code=None,
        )  # fmt: skip
        db.commit()
    except (InvalidCode, InvalidCredentials):
        db.commit()
        return _login_form(status=401, challenge=challenge, username=username,
                           error="That code is not right, or the sign-in expired.")  # fmt: skip
    except Throttled as err:
        db.commit()
        return _login_form(status=429, challenge=challenge, username=username,
                           error=_wait_message(err))  # fmt: skip
    return _signed_in(signed)


def _wait_message(err: Throttled) -> str:
    return f"Too many attempts. Please wait {err.retry_after} seconds and try again."


def _signed_in(signed: accounts.SignedIn) -> Response:
    response = _see_other(url_for("web.files"))
    set_session_cookie(response, get_deps(), signed.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@bp.post("/logout")
@login_required("web:logout", tokens=False, while_restricted=True)
@accepts_body(FORM)
def logout() -> Response:
    principal = require_principal()
    db = db_session()
    if principal.session is not None:
        accounts.sign_out(db, get_deps(), session=principal.session)
        db.commit()
    response = _see_other(url_for("web.login_page"))
    clear_session_cookie(response, get_deps())
    return response


@bp.get("/files")
@login_required("web:files", tokens=False)
def files() -> Response:
    principal = require_principal()
    notice = None
    uploaded = request.args.get("uploaded")
    if uploaded:
        found = db_session().get(StoredFile, uploaded[:FILE_ID_LENGTH])
        now = get_deps().now()
        if found is not None and can(Actor.of(principal), Action.VIEW, found, None, now).allowed:
            notice = f"“{found.name}” was uploaded and encrypted."
    return _files_page(notice=notice)


def _files_page(
    *, status: int = 200, notice: str | None = None, error: str | None = None
) -> Response:
    principal = require_principal()
    query = request.args.get("q", "")[:255]
    sort = request.args.get("sort", "-created")
    if sort not in {"name", "-name", "created", "-created", "size", "-size"}:
        sort = "-created"
    page_number = max(1, min(_int(request.args.get("page"), 1), 100_000))
    page = file_services.list_files(
        db_session(), owner_id=principal.user.id, query=query, sort=sort,  # type: ignore[arg-type]
        offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE,
    )  # fmt: skip
    assert principal.session is not None  # noqa: S101  # tokens=False
    html = render_template(
        "files.html",
        user=principal.user,
        items=page.items,
        total=page.total,
        query=query,
        sort=sort,
        page=page_number,
        pages=max(1, -(-page.total // PAGE_SIZE)),
        csrf=csrf_token(get_deps(), principal.session),
        notice=notice,
        error=error,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.post("/files/upload")
@login_required("web:files:upload", tokens=False)
@accepts_body("multipart/form-data", limit="max_upload_size", streamed=True)
def upload() -> Response:
    """The upload form without JavaScript: the same streamed, encrypted upload as the
    API, then back to the list with a message (or the list with what went wrong)."""
    try:
        row = upload_from_request(raw_name=None, share_with=None)
    except (FileError, SharingError, StorageError) as err:
        problem = problem_for_exception(err)
        return _files_page(status=problem.status if problem else 400, error=str(err))
    return _see_other(url_for("web.files", uploaded=row.id))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


@bp.app_template_filter("filesize")
def filesize(size: int) -> str:
    """1536 -> "1.5 KB" (decimal units, as file managers show them)."""
    if size < 1000:
        return f"{size} bytes"
    value = size / 1000
    for unit in ("KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
