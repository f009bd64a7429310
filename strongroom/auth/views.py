"""The accounts API: ``/api/v1/auth/*`` and ``/api/v1/me/*``. Thin: parse, call, answer."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, g, jsonify, request

from strongroom.auth import access_tokens, accounts, sessions, totp
from strongroom.auth.authn import (
    clear_session_cookie,
    csrf_token,
    get_deps,
    require_principal,
    set_session_cookie,
)
from strongroom.auth.exceptions import InvalidCode, SessionOnly
from strongroom.auth.policy import login_required, public
from strongroom.auth.principal import SCOPES, Principal
from strongroom.auth.schemas import (
    AccountOut,
    CodeIn,
    EnrolIn,
    EnrolmentOut,
    LoginIn,
    LoginOut,
    LoginTotpIn,
    MeOut,
    NewTokenOut,
    PasswordChangeIn,
    PasswordCheckIn,
    PasswordCheckOut,
    RecoveryCodesOut,
    RegisterIn,
    SessionListOut,
    SessionOut,
    TokenIn,
    TokenInfoOut,
    TokenListOut,
    TwoFactorDisableIn,
    TwoFactorStatusOut,
    UserOut,
)
from strongroom.context import db_session
from strongroom.ratelimit import client_ip, route_limit

bp = APIBlueprint("auth", __name__, url_prefix="/api/v1", tag="Accounts")


def _client() -> accounts.Client:
    return accounts.Client(ip=client_ip(), user_agent=request.user_agent.string or "")


def _session_body(signed: accounts.SignedIn) -> dict[str, Any]:
    deps = get_deps()
    return {
        "token": signed.token,
        "csrf_token": csrf_token(deps, signed.session),
        "expires_at": sessions.expires_at(signed.session, deps),
        "user": signed.user,
    }


def _with_cookie(body: dict[str, Any], schema: Any, token: str, status: int = 200) -> Response:
    if "user" in body:
        g.user_id = body["user"].id  # the access log names who just signed in
    response = jsonify(schema().dump(body))
    response.status_code = status
    set_session_cookie(response, get_deps(), token)
    return response


@bp.post("/auth/register")
@public("account:register")
@route_limit("register-ip")
@bp.input(RegisterIn, arg_name="body")
@bp.output(AccountOut, status_code=201)
@bp.doc(
    summary="Create an account",
    description="As `STRONGROOM_REGISTRATION` allows.",
    responses={
        403: "Registration closed, or the invitation is not valid",
        409: "Username taken",
    },
)
def register(body: dict[str, Any]) -> Any:
    db = db_session()
    user = accounts.register(db, get_deps(), client=_client(), **body)
    db.commit()
    return user


@bp.post("/auth/password-check")
@public("account:password:check")
@route_limit("password-check-ip")
@bp.input(PasswordCheckIn, arg_name="body")
@bp.output(PasswordCheckOut)
@bp.doc(
    summary="Check a password against the policy",
    description="The rules registration and password changes apply (length, breached "
    "passwords, zxcvbn, not the username), for live feedback while someone types. "
    "Stores and logs nothing.",
)
def password_check(body: dict[str, Any]) -> Any:
    verdict = get_deps().passwords.assess(body["password"], username=body["username"])
    return {"acceptable": verdict.acceptable, "score": verdict.score, "feedback": verdict.reasons}


@bp.post("/auth/login")
@public("account:signin")
@route_limit("signin-ip")
@bp.input(LoginIn, arg_name="body")
@bp.output(LoginOut)
@bp.doc(
    summary="Sign in with username and password",
    description="Answers a session (`token`, also set as an HttpOnly cookie) or, when 2FA "
    "is on, `{two_factor_required: true, challenge, expires_at}` for `/auth/login/totp`.",
    responses={401: "Sign-in failed (the same answer whatever was wrong)"},
)
def login(body: dict[str, Any]) -> Any:
    db = db_session()
    result = accounts.sign_in(db, get_deps(), client=_client(), **body)
    db.commit()
    if isinstance(result, accounts.ChallengeIssued):
        return {
            "two_factor_required": True,
            "challenge": result.challenge,
            "expires_at": result.expires_at,
        }
    return _with_cookie(_session_body(result), LoginOut, result.token)


@bp.post("/auth/login/totp")
@public("account:signin")
@route_limit("signin-ip")
@bp.input(LoginTotpIn, arg_name="body")
@bp.output(SessionOut)
@bp.doc(
    summary="Finish a sign-in with a 2FA code or a recovery code",
    responses={401: "Wrong code, or the challenge expired or was used"},
)
def login_totp(body: dict[str, Any]) -> Any:
    if (body["code"] is None) == (body["recovery_code"] is None):
        raise InvalidCode("Send either `code` or `recovery_code`.")
    db = db_session()
    signed = accounts.sign_in_second_step(db, get_deps(), client=_client(), **body)
    db.commit()
    return _with_cookie(_session_body(signed), SessionOut, signed.token)


@bp.post("/auth/logout")
@login_required("account:signout", tokens=False, while_restricted=True)
@bp.output({}, status_code=204)
@bp.doc(summary="Sign out: the session ends on the server, the cookie is cleared")
def logout() -> Any:
    principal = require_principal()
    db = db_session()
    assert principal.session is not None  # noqa: S101  # tokens=False
    accounts.sign_out(db, get_deps(), session=principal.session)
    db.commit()
    response = Response(status=204)
    clear_session_cookie(response, get_deps())
    return response


@bp.get("/me")
@login_required("account:self:read", while_restricted=True)
@bp.output(MeOut)
@bp.doc(summary="The signed-in account")
def me() -> Any:
    principal = require_principal()
    body: dict[str, Any] = {c: getattr(principal.user, c) for c in UserOut().fields}
    body["auth"] = principal.kind
    if principal.session is not None:
        body["csrf_token"] = csrf_token(get_deps(), principal.session)
        body["scopes"] = [s for s in SCOPES if s != "admin" or principal.user.is_admin]
    elif principal.token is not None:
        body["scopes"] = principal.token.scopes
    return body


def _session_principal() -> Principal:
    principal = require_principal()
    if principal.session is None:
        raise SessionOnly("Sign in with a session for this.")
    return principal


def _recently_authenticated(principal: Principal, password: str | None) -> None:
    assert principal.session is not None  # noqa: S101  # sessions-only routes
    db = db_session()
    try:
        accounts.require_recent_authentication(
            db, get_deps(), session=principal.session, user=principal.user, password=password
        )
    except Exception:
        db.commit()  # keep the record of a failed confirmation
        raise


def _rotate(principal: Principal) -> accounts.SignedIn:
    assert principal.session is not None  # noqa: S101  # sessions-only routes
    return accounts.rotate_session(
        db_session(), get_deps(), session=principal.session, user=principal.user, ip=client_ip()
    )


@bp.post("/me/password")
@login_required("account:password:change", tokens=False, while_restricted=True)
@bp.input(PasswordChangeIn, arg_name="body")
@bp.output(SessionOut)
@bp.doc(summary="Change the password", description="Ends every other session; this one "
        "gets a fresh token (and cookie).")  # fmt: skip
def change_password(body: dict[str, Any]) -> Any:
    principal = _session_principal()
    db = db_session()
    assert principal.session is not None  # noqa: S101
    try:
        accounts.change_password(
            db,
            get_deps(),
            user=principal.user,
            current=body["current_password"],
            new=body["new_password"],
            keep_session=principal.session.id,
        )
    except Exception:
        db.commit()  # keep the failure count and audit rows; nothing else is pending
        raise
    signed = _rotate(principal)
    db.commit()
    return _with_cookie(_session_body(signed), SessionOut, signed.token)


@bp.get("/me/sessions")
@login_required("account:session:list", tokens=False)
@bp.output(SessionListOut)
@bp.doc(summary="The account's live sessions")
def list_sessions() -> Any:
    principal = _session_principal()
    deps = get_deps()
    rows = sessions.list_sessions(db_session(), deps, user_id=principal.user.id)
    current = principal.session.id if principal.session else None
    return {
        "sessions": [
            {
                "id": s.id,
                "created_at": s.created_at,
                "last_seen_at": s.last_seen_at,
                "expires_at": sessions.expires_at(s, deps),
                "user_agent": s.user_agent,
                "ip": s.ip,
                "current": s.id == current,
            }
            for s in rows
        ]
    }


@bp.delete("/me/sessions/<int(max=2147483647):session_id>")
@login_required("account:session:revoke", tokens=False)
@bp.output({}, status_code=204)
@bp.doc(summary="End one of the account's sessions (any device)")
def revoke_session(session_id: int) -> Any:
    principal = _session_principal()
    db = db_session()
    target = accounts.own_session(db, principal.user, session_id)
    accounts.revoke_session(db, get_deps(), session=target, actor=principal.actor)
    db.commit()
    response = Response(status=204)
    if principal.session is not None and target.id == principal.session.id:
        clear_session_cookie(response, get_deps())
    return response


@bp.get("/me/tokens")
@login_required("account:token:list", tokens=False)
@bp.output(TokenListOut)
@bp.doc(summary="The account's personal access tokens (never the secrets)")
def list_tokens() -> Any:
    principal = _session_principal()
    return {
        "tokens": access_tokens.list_tokens(db_session(), get_deps(), user_id=principal.user.id)
    }


@bp.post("/me/tokens")
@login_required("account:token:create", tokens=False)
@bp.input(TokenIn, arg_name="body")
@bp.output(NewTokenOut, status_code=201)
@bp.doc(summary="Create a personal access token", description="The token is shown once.")
def create_token(body: dict[str, Any]) -> Any:
    principal = _session_principal()
    db = db_session()
    _recently_authenticated(principal, body.pop("current_password"))
    new = access_tokens.create_token(db, get_deps(), user=principal.user, **body)
    db.commit()
    # The output schema serialises once: hand it the attributes, plus the secret.
    return {name: getattr(new.record, name) for name in TokenInfoOut().fields} | {
        "token": new.token
    }


@bp.delete("/me/tokens/<int(max=2147483647):token_id>")
@login_required("account:token:revoke", tokens=False)
@bp.output({}, status_code=204)
@bp.doc(summary="Revoke a personal access token")
def revoke_token(token_id: int) -> Any:
    principal = _session_principal()
    db = db_session()
    access_tokens.revoke_token(
        db, get_deps(), user=principal.user, token_id=token_id, actor=principal.actor
    )
    db.commit()
    return Response(status=204)


@bp.get("/me/2fa")
@login_required("account:2fa:read", tokens=False, while_restricted=True)
@bp.output(TwoFactorStatusOut)
@bp.doc(summary="Two-factor status")
def two_factor_status() -> Any:
    user = _session_principal().user
    return {
        "enabled": user.two_factor_enabled,
        "required": get_deps().two_factor_required(is_admin=user.is_admin),
        "pending": user.totp_pending_secret is not None,
        "recovery_codes_left": totp.recovery_codes_left(db_session(), user_id=user.id),
    }


@bp.post("/me/2fa")
@login_required("account:2fa:enable", tokens=False, while_restricted=True)
@bp.input(EnrolIn, arg_name="body")
@bp.output(EnrolmentOut, status_code=201)
@bp.doc(summary="Start 2FA set-up", description="Returns the secret, an otpauth URI and a "
        "QR code; 2FA is on only after `/me/2fa/confirm` with a valid code.")  # fmt: skip
def start_two_factor(body: dict[str, Any]) -> Any:
    principal = _session_principal()
    db = db_session()
    _recently_authenticated(principal, body["current_password"])
    enrolment = totp.start_enrolment(db, get_deps(), user=principal.user)
    db.commit()
    return enrolment


@bp.post("/me/2fa/confirm")
@login_required("account:2fa:enable", tokens=False, while_restricted=True)
@bp.input(CodeIn, arg_name="body")
@bp.output(RecoveryCodesOut)
@bp.doc(summary="Turn 2FA on with a code", description="Returns 10 single-use recovery "
        "codes (shown once) and a fresh session token.")  # fmt: skip
def confirm_two_factor(body: dict[str, Any]) -> Any:
    principal = _session_principal()
    db = db_session()
    try:
        codes = totp.confirm_enrolment(db, get_deps(), user=principal.user, code=body["code"])
    except InvalidCode:
        db.commit()  # keep the record of the failed attempt
        raise
    signed = _rotate(principal)
    # Sessions opened before 2FA was on did not prove the second factor: they end.
    sessions.end_sessions(db, user_id=principal.user.id, keep=signed.session.id)
    db.commit()
    body_out = {"recovery_codes": codes, **_session_body(signed)}
    return _with_cookie(body_out, RecoveryCodesOut, signed.token)


def _reauthenticate(principal: Principal, body: dict[str, Any]) -> None:
    db = db_session()
    deps = get_deps()
    try:
        accounts.check_password(db, deps, user=principal.user, password=body["password"])
        totp.require_code(db, deps, user=principal.user, code=body["code"])
    except Exception:
        db.commit()
        raise


@bp.delete("/me/2fa")
@login_required("account:2fa:disable", tokens=False)
@bp.input(TwoFactorDisableIn, arg_name="body")
@bp.output(SessionOut)
@bp.doc(summary="Turn 2FA off (password and a current code required)")
def disable_two_factor(body: dict[str, Any]) -> Any:
    principal = _session_principal()
    _reauthenticate(principal, body)
    db = db_session()
    totp.disable(db, get_deps(), user=principal.user)
    signed = _rotate(principal)
    db.commit()
    return _with_cookie(_session_body(signed), SessionOut, signed.token)


@bp.post("/me/2fa/recovery-codes")
@login_required("account:2fa:recovery-regenerate", tokens=False)
@bp.input(TwoFactorDisableIn, arg_name="body")
@bp.output(RecoveryCodesOut)
@bp.doc(summary="Replace the recovery codes (password and a current code required)")
def regenerate_recovery_codes(body: dict[str, Any]) -> Any:
    principal = _session_principal()
    _reauthenticate(principal, body)
    db = db_session()
    codes = totp.regenerate_recovery_codes(db, get_deps(), user=principal.user)
    db.commit()
    return {"recovery_codes": codes}
