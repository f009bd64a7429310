"""Sign-in (with its 2FA step), sign-out and the home page.

Views are thin: they call the same services as the JSON API and render templates.
A failed form is shown again with what was typed (never a secret) and a
plain-language message.

The sign-in form has no session yet, so its CSRF token is a double-submit one: a
random value in a ``SameSite=Strict``, HttpOnly cookie and in the form, compared in
constant time. That stops a forged cross-site sign-in into the attacker's account.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Response, render_template, request, url_for

from strongroom.auth import accounts
from strongroom.auth.authn import (
    CSRF_FORM_FIELD,
    clear_session_cookie,
    current_principal,
    get_deps,
    require_principal,
    set_session_cookie,
)
from strongroom.auth.exceptions import ChallengeExpired, InvalidCode, InvalidCredentials, Throttled
from strongroom.auth.policy import login_required, public
from strongroom.auth.tokens import tokens_equal
from strongroom.bodies import accepts_body
from strongroom.context import db_session
from strongroom.ratelimit import client_ip, route_limit
from strongroom.settings import Mode
from strongroom.web.blueprint import FORM, bp, see_other

FORM_CSRF_COOKIE = "strongroom_form_csrf"


def client_info() -> accounts.Client:
    """Where the request comes from, for the session, the limits and the audit trail."""
    return accounts.Client(ip=client_ip(), user_agent=request.user_agent.string or "")


@bp.get("/")
@public("web:home")
def home() -> Response:
    target = "web.files" if current_principal() is not None else "web.login_page"
    return see_other(url_for(target))


def _secure_cookies() -> bool:
    settings = get_deps().settings
    return settings.secure_cookies(development=settings.mode is Mode.DEVELOPMENT)


def form_csrf_cookie() -> str:
    """The double-submit cookie's name. Over HTTPS it is ``__Host-`` (Secure, Path=/,
    no Domain): a sibling subdomain cannot plant one to pair with a form of its own
    ("cookie tossing"), which would let it sign a victim in to the attacker's account."""
    return f"__Host-{FORM_CSRF_COOKIE}" if _secure_cookies() else FORM_CSRF_COOKIE


def anonymous_form(template: str, *, status: int = 200, **context: Any) -> Response:
    """A page whose form is sent before there is a session (sign-in, registration):
    its CSRF token is the double-submit one, in a ``SameSite=Strict`` cookie."""
    token = request.cookies.get(form_csrf_cookie()) or secrets.token_urlsafe(32)
    page = render_template(template, login_csrf=token, **context)
    response = Response(page, status=status, mimetype="text/html")
    response.set_cookie(
        form_csrf_cookie(),
        token,
        max_age=3600,
        path="/",
        secure=_secure_cookies(),
        httponly=True,
        samesite="Strict",
    )
    return response


def clear_form_csrf(response: Response) -> None:
    """After a form that worked: the next form gets a new token."""
    response.delete_cookie(form_csrf_cookie(), path="/", secure=_secure_cookies(), httponly=True)


def anonymous_csrf_ok() -> bool:
    """Whether the form's token matches the double-submit cookie of ``anonymous_form``."""
    cookie = request.cookies.get(form_csrf_cookie(), "")
    sent = request.form.get(CSRF_FORM_FIELD, "")
    return bool(cookie) and bool(sent) and tokens_equal(cookie, sent)


def _login_form(*, status: int = 200, **context: Any) -> Response:
    registration = get_deps().settings.registration != "closed"
    return anonymous_form("login.html", status=status, registration=registration, **context)


@bp.get("/login")
@public("web:login:form")
def login_page() -> Response:
    # Registration sends people here with their new username filled in.
    return _login_form(username=request.args.get("username", "")[:32])


@bp.post("/login")
@public("web:login")
@accepts_body(FORM)
@route_limit("signin-ip")
def login() -> Response:
    username = request.form.get("username", "")[:256]
    if not anonymous_csrf_ok():
        return _login_form(status=400, username=username,
                           error="The form expired. Please try again.")  # fmt: skip
    db = db_session()
    try:
        result = accounts.sign_in(
            db, get_deps(), username=username,
            password=request.form.get("password", "")[:1024], client=client_info(),
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
    if not anonymous_csrf_ok():
        return _login_form(status=400, error="The form expired. Please sign in again.")
    code = request.form.get("code", "").strip()[:64]
    recovery = request.form.get("recovery_code", "").strip()[:64]
    db = db_session()
    try:
        signed = accounts.sign_in_second_step(
            db, get_deps(), client=client_info(), challenge=challenge,
            code=None if recovery else code or None, recovery_code=recovery or None,
        )  # fmt: skip
        db.commit()
    except ChallengeExpired:
        db.commit()
        expired = "The sign-in expired. Please enter your password again."
        return _login_form(status=401, username=username, error=expired)
    except (InvalidCode, InvalidCredentials):
        db.commit()
        what = "recovery code" if recovery else "code"
        return _login_form(status=401, challenge=challenge, username=username,
                           recovery=bool(recovery), error=f"That {what} is not right.")  # fmt: skip
    except Throttled as err:
        db.commit()
        return _login_form(status=429, challenge=challenge, username=username,
                           error=_wait_message(err))  # fmt: skip
    return _signed_in(signed)


def _wait_message(err: Throttled) -> str:
    return f"Too many attempts. Please wait {err.retry_after} seconds and try again."


def _signed_in(signed: accounts.SignedIn) -> Response:
    response = see_other(url_for("web.files"))
    set_session_cookie(response, get_deps(), signed.token)
    clear_form_csrf(response)
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
    response = see_other(url_for("web.login_page"))
    clear_session_cookie(response, get_deps())
    return response
