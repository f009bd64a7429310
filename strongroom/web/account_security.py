"""Two-factor authentication (set-up, recovery codes, turning off) and the sessions list.

Secrets shown once (the TOTP key, recovery codes) are rendered straight into the
answer of the form that made them, marked ``no-store``, and never kept anywhere to
be shown again: reloading the page shows nothing secret.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from flask import Response, flash, request, url_for

from strongroom.auth import accounts, sessions, totp
from strongroom.auth.authn import clear_session_cookie, get_deps, require_principal
from strongroom.auth.exceptions import (
    Conflict,
    InvalidCode,
    InvalidCredentials,
    ReauthenticationRequired,
    Throttled,
)
from strongroom.auth.policy import login_required
from strongroom.bodies import accepts_body
from strongroom.context import db_session
from strongroom.web.account import (
    REAUTH_MESSAGE,
    Errors,
    keeping_failures,
    password_field,
    redirect_to,
    require_recent_sign_in,
    wait_message,
    with_new_session,
)
from strongroom.web.blueprint import FORM, NOTICE, bp, done, page, see_other

RECOVERY_FILE = "strongroom-recovery-codes.txt"


def once(response: Response) -> Response:
    """A page holding a secret shown once: no cache, no back-button copy."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/account/security")
@login_required("web:account:security", tokens=False, while_restricted=True)
def security() -> Response:
    return _security_page()


def _security_page(*, status: int = 200, errors: Errors | None = None) -> Response:
    principal = require_principal()
    assert principal.session is not None  # noqa: S101  # tokens=False
    deps, db, user = get_deps(), db_session(), principal.user
    return page(
        "account_security.html", status=status, errors=errors or {}, account=user,
        required=deps.two_factor_required(is_admin=user.is_admin),
        codes_left=totp.recovery_codes_left(db, user_id=user.id),
        needs_password=accounts.needs_reauthentication(deps, session=principal.session),
        sessions=[(s, device(s.user_agent)) for s in sessions.list_sessions(db, deps,
                  user_id=user.id)], current_id=principal.session.id,
    )  # fmt: skip


def device(user_agent: str) -> str:
    """A short name for a user agent ("Firefox on Linux"); the full string is shown too."""
    browser = next(
        (name for pattern, name in _BROWSERS if re.search(pattern, user_agent)), "Unknown browser"
    )
    system = next((name for pattern, name in _SYSTEMS if re.search(pattern, user_agent)), "")
    return f"{browser} on {system}" if system else browser


# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = [
    (r"Edg/", "Edge"),
    (r"OPR/", "Opera"),
    (r"Firefox/", "Firefox"),
    (r"Chrom(e|ium)/", "Chrome"),
    (r"Safari/", "Safari"),
    (r"^curl/", "curl"),
    (r"python-httpx|python-requests", "A script"),
    (r"strongroom", "Strongroom CLI"),
]
_SYSTEMS = [
    (r"Android", "Android"),
    (r"iPhone|iPad", "iOS"),
    (r"Windows", "Windows"),
    (r"Mac OS X|Macintosh", "macOS"),
    (r"Linux", "Linux"),
]


# --- two-factor set-up -----------------------------------------------------------------


@bp.post("/account/2fa/start")
@login_required("web:account:2fa:enable", tokens=False, while_restricted=True)
@accepts_body(FORM)
def start_two_factor() -> Response:
    principal = require_principal()
    assert principal.session is not None  # noqa: S101
    db = db_session()
    try:
        with keeping_failures(db):
            require_recent_sign_in(principal)
            enrolment = totp.start_enrolment(db, get_deps(), user=principal.user)
    except (InvalidCredentials, ReauthenticationRequired):
        return _security_page(status=422, errors={"current_password": [REAUTH_MESSAGE]})
    except Throttled as err:
        return _security_page(status=429, errors={"current_password": [wait_message(err)]})
    except Conflict:
        return see_other(url_for("web.security"))  # already on: the page says so
    db.commit()
    qr = base64.b64encode(enrolment.qr_svg.encode("utf-8")).decode("ascii")
    return once(page("account_2fa_setup.html", status=200, secret=enrolment.secret,
                     qr=f"data:image/svg+xml;base64,{qr}", errors={}))  # fmt: skip


@bp.post("/account/2fa/confirm")
@login_required("web:account:2fa:confirm", tokens=False, while_restricted=True)
@accepts_body(FORM)
def confirm_two_factor() -> Response:
    principal = require_principal()
    db = db_session()
    code = request.form.get("code", "").strip()[:64]
    try:
        with keeping_failures(db):
            codes = totp.confirm_enrolment(db, get_deps(), user=principal.user, code=code)
    except Conflict:
        flash("Start the set-up first.", "alert")
        return see_other(url_for("web.security"))
    except (InvalidCode, Throttled) as err:
        message = wait_message(err) if isinstance(err, Throttled) else str(err)
        return page("account_2fa_setup.html", status=422, errors={"code": [message]})
    # Sessions opened before 2FA was on did not prove the second factor: they end.
    assert principal.session is not None  # noqa: S101
    sessions.end_sessions(db, user_id=principal.user.id, keep=principal.session.id)
    message = "Two-factor authentication is on."
    return with_new_session(principal, lambda csrf: _codes_page(codes, message, csrf=csrf))


def _codes_page(codes: list[str], message: str, *, csrf: str | None = None) -> Response:
    # ``csrf``: the new session's token when the session was just rotated.
    context: dict[str, Any] = {"csrf": csrf} if csrf else {}
    return once(page("account_recovery_codes.html", codes=codes, filename=RECOVERY_FILE,
                     message=message, **context))  # fmt: skip


# --- with the password and a current code: new recovery codes, or 2FA off ----------------


def _reauthenticate() -> Errors:
    """Check the password and a current code; the errors to show, or none."""
    principal = require_principal()
    db, deps = db_session(), get_deps()
    password, code = password_field("password"), request.form.get("code", "").strip()[:64]
    if not password or not code:
        return {"reauth": ["Enter your password and a current code from your app."]}
    try:
        with keeping_failures(db):
            accounts.check_password(db, deps, user=principal.user, password=password)
            totp.require_code(db, deps, user=principal.user, code=code)
    except (InvalidCredentials, InvalidCode):
        return {"reauth": ["The password or the code is not right."]}
    except Throttled as err:
        return {"reauth": [wait_message(err)]}
    return {}


def _refusal() -> Response | None:
    """The page to show when a change needing 2FA, the password and a current code
    cannot go ahead; ``None`` when it can."""
    if not require_principal().user.two_factor_enabled:
        return see_other(url_for("web.security"))
    errors = _reauthenticate()
    return _security_page(status=422, errors=errors) if errors else None


@bp.post("/account/2fa/recovery-codes")
@login_required("web:account:2fa:recovery", tokens=False)
@accepts_body(FORM)
def new_recovery_codes() -> Response:
    principal = require_principal()
    if refused := _refusal():
        return refused
    db = db_session()
    codes = totp.regenerate_recovery_codes(db, get_deps(), user=principal.user)
    db.commit()
    return _codes_page(codes, "New recovery codes are ready; the old ones no longer work.")


@bp.post("/account/2fa/disable")
@login_required("web:account:2fa:disable", tokens=False)
@accepts_body(FORM)
def disable_two_factor() -> Response:
    principal = require_principal()
    if refused := _refusal():
        return refused
    totp.disable(db_session(), get_deps(), user=principal.user)
    flash("Two-factor authentication is off.", NOTICE)
    return with_new_session(principal, redirect_to("web.security"))


# --- sessions ----------------------------------------------------------------------------


@bp.post("/account/sessions/<int(max=2147483647):session_id>/revoke")
@login_required("web:account:session:revoke", tokens=False)
@accepts_body(FORM)
def revoke_session(session_id: int) -> Response:
    principal = require_principal()
    db = db_session()
    target = accounts.own_session(db, principal.user, session_id)
    accounts.revoke_session(db, get_deps(), session=target, actor=principal.actor)
    db.commit()
    if principal.session is not None and target.id == principal.session.id:
        response = see_other(url_for("web.login_page"))
        clear_session_cookie(response, get_deps())
        return response
    return done("That session was signed out.", "web.security", _anchor="sessions")


@bp.post("/account/sessions/revoke-others")
@login_required("web:account:session:revoke-others", tokens=False)
@accepts_body(FORM)
def revoke_other_sessions() -> Response:
    principal = require_principal()
    db, deps = db_session(), get_deps()
    others = [s for s in sessions.list_sessions(db, deps, user_id=principal.user.id)
              if principal.session is None or s.id != principal.session.id]  # fmt: skip
    for other in others:
        accounts.revoke_session(db, deps, session=other, actor=principal.actor)
    db.commit()
    count = len(others)
    ended = "No other session was open." if not count else (
        f"Signed out {count} other session{'' if count == 1 else 's'}.")  # fmt: skip
    return done(ended, "web.security", _anchor="sessions")
