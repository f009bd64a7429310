"""Registration, the account summary and the password change.

Same services as the JSON API (``accounts.register``, ``accounts.change_password``);
the views only read the form, turn the services' exceptions into messages next to
the fields, and show the form again with what was typed (never a password).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, flash, request, url_for
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from strongroom.auth import accounts
from strongroom.auth.authn import csrf_token, get_deps, require_principal, set_session_cookie
from strongroom.auth.exceptions import (
    InvalidCredentials,
    InvalidUsername,
    PasswordRejected,
    RegistrationClosed,
    Throttled,
    UsernameTaken,
)
from strongroom.auth.passwords import MAX_LENGTH as MAX_PASSWORD
from strongroom.auth.policy import login_required, public
from strongroom.auth.principal import Principal
from strongroom.auth.schemas import RegisterIn
from strongroom.auth.tokens import MAX_TOKEN_LENGTH
from strongroom.auth.usernames import RULE_TEXT
from strongroom.bodies import accepts_body
from strongroom.context import db_session
from strongroom.ratelimit import client_ip, route_limit
from strongroom.web.blueprint import FORM, NOTICE, bp, page, see_other
from strongroom.web.signin import anonymous_csrf_ok, anonymous_form, clear_form_csrf, client_info

# What the registration form echoes back when it is shown again (never the passwords).
TYPED_LIMITS = {"username": 32, "display_name": 100, "email": 254, "invite": MAX_TOKEN_LENGTH}
FORM_EXPIRED = "The form expired. Please try again."

Errors = dict[str, list[str]]


def password_field(name: str) -> str:
    """A password as typed: never trimmed, cut only past what any password may be."""
    return request.form.get(name, "")[: MAX_PASSWORD + 1]


def wait_message(err: Throttled) -> str:
    return f"Too many attempts. Please wait {err.retry_after} seconds and try again."


@contextmanager
def keeping_failures(db: Session) -> Iterator[None]:
    """Commit what a failed attempt recorded (failure counts, audit rows), then re-raise:
    the request fails, the record of it stays. Nothing else is pending at that point."""
    try:
        yield
    except Exception:
        db.commit()
        raise


REAUTH_MESSAGE = "Enter your current password correctly to continue."


def require_recent_sign_in(principal: Principal) -> None:
    """Adding a credential (a token, a 2FA device) on a session signed in long ago needs
    the current password from the form; raises ``ReauthenticationRequired``,
    ``InvalidCredentials`` or ``Throttled``."""
    assert principal.session is not None  # noqa: S101  # pages are sessions-only
    accounts.require_recent_authentication(
        db_session(), get_deps(), session=principal.session, user=principal.user,
        password=password_field("current_password") or None,
    )  # fmt: skip


def with_new_session(principal: Principal, respond: Callable[[str], Response]) -> Response:
    """After a privilege change the session gets a fresh token (the old one stops).

    ``respond`` builds the answer from the new session's CSRF token: a page rendered
    with the old one would carry forms that no longer work (sign-out included).
    """
    assert principal.session is not None  # noqa: S101  # pages are sessions-only
    db = db_session()
    signed = accounts.rotate_session(
        db, get_deps(), session=principal.session, user=principal.user, ip=client_ip()
    )
    db.commit()
    response = respond(csrf_token(get_deps(), signed.session))
    set_session_cookie(response, get_deps(), signed.token)
    return response


def redirect_to(endpoint: str) -> Callable[[str], Response]:
    """For ``with_new_session``: a 303 to ``endpoint`` (its GET brings the new cookie)."""
    return lambda _csrf: see_other(url_for(endpoint))


# --- registration ----------------------------------------------------------------------


@bp.get("/register")
@public("web:register:form")
def register_page() -> Response:
    invite = request.args.get("invite", "")[:MAX_TOKEN_LENGTH]
    return _register_form(typed={"invite": invite})


def _register_form(
    *, status: int = 200, typed: dict[str, str] | None = None, errors: Errors | None = None
) -> Response:
    settings = get_deps().settings
    return anonymous_form(
        "register.html", status=status, typed=typed or {},
        errors=errors or {}, mode=settings.registration, min_length=settings.password_min_length,
        username_rule=RULE_TEXT[0].upper() + RULE_TEXT[1:],
    )  # fmt: skip


@bp.post("/register")
@public("web:register")
@accepts_body(FORM)
@route_limit("register-ip")
def register() -> Response:
    typed = {name: request.form.get(name, "")[:limit] for name, limit in TYPED_LIMITS.items()}
    if not anonymous_csrf_ok():
        return _register_form(status=400, typed=typed, errors={"form": [FORM_EXPIRED]})
    password = password_field("password")
    errors = _registration_problems(typed, password)
    if errors:
        return _register_form(status=422, typed=typed, errors=errors)
    db = db_session()
    try:
        user = accounts.register(
            db, get_deps(), client=client_info(), **_registration_body(typed, password)
        )
        db.commit()
    except (InvalidUsername, UsernameTaken) as err:
        return _register_form(status=422, typed=typed, errors={"username": [str(err)]})
    except PasswordRejected as err:
        return _register_form(status=422, typed=typed, errors={"password": err.reasons})
    except RegistrationClosed as err:
        return _register_form(status=403, typed=typed, errors={"invite": [str(err)]})
    flash(f"Welcome to Strongroom, {user.username}! Sign in to start.", NOTICE)
    response = see_other(url_for("web.login_page", username=user.username))
    clear_form_csrf(response)
    return response


def _registration_body(typed: dict[str, str], password: str) -> dict[str, Any]:
    return {
        "username": typed["username"].strip(),
        "password": password,
        "email": typed["email"].strip() or None,
        "display_name": typed["display_name"].strip(),
        "invite": typed["invite"].strip() or None,
    }


def _registration_problems(typed: dict[str, str], password: str) -> Errors:
    """The checks the API's schema makes (lengths, e-mail, plain text), plus the
    confirmation; the service then checks the username rule and the password policy."""
    errors: Errors = {}
    try:
        RegisterIn().load(_registration_body(typed, password))
    except ValidationError as err:
        for field, messages in err.messages_dict.items():
            errors[str(field)] = [str(m) for m in messages]
    if not typed["username"].strip():
        errors["username"] = ["Choose a username."]
    if password != password_field("confirm_password"):
        errors["confirm_password"] = ["The two passwords are not the same."]
    return errors


# --- the account summary and the password --------------------------------------------------


@bp.get("/account")
@login_required("web:account", tokens=False, while_restricted=True)
def account() -> Response:
    return _account_page()


def _account_page(*, status: int = 200, errors: Errors | None = None) -> Response:
    user = require_principal().user
    return page(
        "account.html", status=status, errors=errors or {}, account=user,
        min_length=get_deps().settings.password_min_length,
        two_factor_required=get_deps().two_factor_required(is_admin=user.is_admin),
    )  # fmt: skip


@bp.post("/account/password")
@login_required("web:account:password", tokens=False, while_restricted=True)
@accepts_body(FORM)
def change_password() -> Response:
    principal = require_principal()
    assert principal.session is not None  # noqa: S101  # tokens=False
    current, new = password_field("current_password"), password_field("new_password")
    errors: Errors = {}
    if not current:
        errors["current_password"] = ["Enter your current password."]
    if not new:
        errors["new_password"] = ["Choose a new password."]
    elif new != password_field("confirm_password"):
        errors["confirm_password"] = ["The two new passwords are not the same."]
    if errors:
        return _account_page(status=422, errors=errors)
    db = db_session()
    try:
        with keeping_failures(db):
            accounts.change_password(
                db, get_deps(), user=principal.user, current=current, new=new,
                keep_session=principal.session.id,
            )  # fmt: skip
    except InvalidCredentials:
        return _account_page(status=422, errors={"current_password": ["That is not your "
                             "current password."]})  # fmt: skip
    except PasswordRejected as err:
        return _account_page(status=422, errors={"new_password": err.reasons})
    except Throttled as err:
        return _account_page(status=429, errors={"current_password": [wait_message(err)]})
    flash("Your password was changed. Every other session was signed out.", NOTICE)
    return with_new_session(principal, redirect_to("web.account"))
