"""Who is calling: the request hook that finds the principal, checks CSRF and the route's
declared requirement, and the helpers views use to set and clear the session cookie.

Order of checks for every request: bearer token or cookie -> principal; a
state-changing request authenticated by the cookie must carry the session's CSRF
token; then the route's ``Requirement`` (deny by default).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import OperationalError

from strongroom.auth import access_tokens, sessions
from strongroom.auth.deps import AuthDeps
from strongroom.auth.exceptions import (
    CsrfFailed,
    Forbidden,
    PasswordChangeRequired,
    SessionOnly,
    Throttled,
    TwoFactorSetupRequired,
    Unauthenticated,
)
from strongroom.auth.models import AuthSession
from strongroom.auth.policy import Requirement, requirement_of
from strongroom.auth.principal import Principal
from strongroom.auth.tokens import (
    MAX_TOKEN_LENGTH,
    PAT_PREFIX,
    SESSION_PREFIX,
    csrf_token_for,
    has_prefix,
    tokens_equal,
)
from strongroom.bodies import body_policy
from strongroom.context import db_session
from strongroom.ledger.services import record_event
from strongroom.ratelimit import client_ip, network_of
from strongroom.settings import Mode

log = logging.getLogger(__name__)

DEPS_KEY = "strongroom.auth"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_deps() -> AuthDeps:
    deps: AuthDeps = current_app.extensions[DEPS_KEY]
    return deps


def cookie_name(deps: AuthDeps) -> str:
    # __Host- needs Secure, Path=/ and no Domain; browsers then refuse the cookie
    # from any subdomain or plain-HTTP page, so nobody else can plant or shadow it.
    secure = deps.settings.secure_cookies(development=deps.settings.mode is Mode.DEVELOPMENT)
    return "__Host-strongroom_session" if secure else "strongroom_session"


def current_principal() -> Principal | None:
    principal: Principal | None = g.get("principal")
    return principal


def require_principal() -> Principal:
    principal = current_principal()
    if principal is None:  # the route's requirement makes this unreachable
        raise Unauthenticated("Sign in first.")
    return principal


def csrf_token(deps: AuthDeps, session: AuthSession) -> str:
    return csrf_token_for(_secret(deps), session.token_hash)


def _secret(deps: AuthDeps) -> str:
    key = deps.settings.secret_key
    if key is None:  # prepare_settings always fills it; never sign with nothing
        raise RuntimeError("no secret key configured")
    return key.get_secret_value()


def set_session_cookie(response: Response, deps: AuthDeps, token: str) -> None:
    response.set_cookie(
        cookie_name(deps),
        token,
        max_age=deps.settings.session_lifetime,
        path="/",
        secure=deps.settings.secure_cookies(development=deps.settings.mode is Mode.DEVELOPMENT),
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response: Response, deps: AuthDeps) -> None:
    response.delete_cookie(
        cookie_name(deps),
        path="/",
        secure=deps.settings.secure_cookies(development=deps.settings.mode is Mode.DEVELOPMENT),
        httponly=True,
        samesite="Lax",
    )


def _authenticate() -> None:
    """Before-request hook: find the principal, check CSRF, enforce the requirement."""
    if request.endpoint is None:
        return  # no route: the 404/405 follows
    deps = get_deps()
    view = current_app.view_functions.get(request.endpoint)
    requirement = requirement_of(request.endpoint, view)
    if requirement is not None and requirement.own_credential:
        g.principal = None  # the view checks its own token; no user acts here
        return
    strict = requirement is None or requirement.authenticated
    principal = _from_bearer(deps, strict=strict) or _from_cookie(deps)
    _end_lookup_transaction()
    g.principal = principal
    if principal is not None:
        g.user_id = principal.user.id
        # Public routes do not act as the signed-in user, so only the others need it
        # (sign-in itself only takes JSON, which a cross-site form cannot send).
        needs_csrf = requirement is None or requirement.authenticated
        if principal.via_cookie and request.method not in SAFE_METHODS and needs_csrf:
            _check_csrf(deps, principal)
    _enforce(requirement, principal, deps)


def _end_lookup_transaction() -> None:
    """Commit last-seen updates and expired-session deletions, and end the transaction,
    so the view starts afresh (on SQLite no write lock is held across the view's slow
    parts, such as Argon2). Losing the race for a last-seen update costs nothing."""
    db = g.get("db_session")
    if db is None:
        return
    try:
        db.commit()
    except OperationalError:
        db.rollback()
        log.info("session bookkeeping skipped: the database was busy")


def _from_bearer(deps: AuthDeps, *, strict: bool) -> Principal | None:
    """The principal of the ``Authorization`` header, if any.

    A bad token counts against the IP's failure limit everywhere; on a route that
    needs a caller it is refused (401), on a public one (sign-in, health) it is
    ignored, so a client holding a stale token can still sign in.
    """
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    ip = client_ip()
    network = network_of(ip)
    try:
        deps.limits.check("token-failures-ip", network)
    except Throttled:
        if not strict:
            return None
        db = db_session()
        record_event(db, "account:token:throttled", actor="anonymous", target=f"ip:{ip}",
                     at=deps.now())  # fmt: skip
        db.commit()
        raise
    principal = None
    if scheme.lower() == "bearer" and len(token) <= MAX_TOKEN_LENGTH:
        principal = _resolve_token(deps, token)
    if principal is None:
        deps.limits.hit("token-failures-ip", network)
        if strict:
            raise Unauthenticated("The bearer token is not valid (expired, revoked or mistyped).")
    return principal


def _resolve_token(deps: AuthDeps, token: str) -> Principal | None:
    db = db_session()
    if has_prefix(token, SESSION_PREFIX):
        session = sessions.find_session(db, deps, token)
        if session is not None:
            return Principal(session.user, "session", session=session)
    elif has_prefix(token, PAT_PREFIX):
        record = access_tokens.find_token(db, deps, token)
        if record is not None:
            return Principal(record.user, "token", token=record)
    return None


def _from_cookie(deps: AuthDeps) -> Principal | None:
    token = request.cookies.get(cookie_name(deps))
    if not token or not has_prefix(token, SESSION_PREFIX):
        return None
    session = sessions.find_session(db_session(), deps, token)
    if session is None:
        return None  # signed out, expired or revoked: anonymous from here on
    return Principal(session.user, "session", session=session, via_cookie=True)


def _check_csrf(deps: AuthDeps, principal: Principal) -> None:
    assert principal.session is not None  # noqa: S101  # cookies only ever carry sessions
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.mimetype == "multipart/form-data" and body_policy().streamed:
        # A streamed upload's form field arrives inside the body the view reads; the
        # view must call ``check_streamed_csrf`` with it before it commits anything.
        g.csrf_expected = csrf_token(deps, principal.session)
        return
    if sent is None and request.mimetype in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        sent = request.form.get(CSRF_FORM_FIELD)
    if not sent or not tokens_equal(sent, csrf_token(deps, principal.session)):
        raise CsrfFailed(
            f"This request needs the session's CSRF token in the {CSRF_HEADER} header."
        )


def check_streamed_csrf(sent: str | None) -> None:
    """Check the CSRF form field of a streamed multipart body (see ``_check_csrf``).

    A no-op when the header carried the token or the caller used a bearer token;
    raises ``CsrfFailed`` when the field is missing or wrong.
    """
    expected = g.pop("csrf_expected", None)
    if expected is None:
        return
    if not sent or not tokens_equal(sent, expected):
        raise CsrfFailed(
            f"This form needs the session's CSRF token in its {CSRF_FORM_FIELD} field."
        )


def _enforce(requirement: Requirement | None, principal: Principal | None, deps: AuthDeps) -> None:
    if requirement is None:
        log.error(
            "route without an access requirement refused", extra={"endpoint": request.endpoint}
        )
        raise Forbidden("This route has no access rule, so it is refused.")
    if not requirement.authenticated:
        return
    if principal is None:
        raise Unauthenticated("Sign in first (session cookie or bearer token).")
    if requirement.admin and not principal.user.is_admin:
        raise Forbidden("Only administrators can do this.")
    if principal.kind == "token":
        if not requirement.tokens:
            raise SessionOnly("Personal access tokens cannot do this; sign in instead.")
        if requirement.scope is not None and not principal.has_scope(requirement.scope):
            reason = f"token lacks the {requirement.scope} scope"
            for hook in current_app.extensions.get(REFUSAL_HOOKS, ()):
                hook(principal, requirement.permission, reason)
            raise Forbidden(f"This token lacks the {requirement.scope!r} scope.")
    if not requirement.while_restricted:
        user = principal.user
        if user.must_change_password:
            raise PasswordChangeRequired("Change your temporary password first.")
        if not user.two_factor_enabled and deps.two_factor_required(is_admin=user.is_admin):
            raise TwoFactorSetupRequired("Set up two-factor authentication first.")


RefusalHook = Callable[[Principal, str, str], None]
REFUSAL_HOOKS = "strongroom.auth.refusal_hooks"


def on_refusal(app: Flask, hook: RefusalHook) -> None:
    """Call ``hook(principal, permission, reason)`` when a signed-in caller is refused by
    a route's declaration (a token without the scope), before the refusal is raised:
    other domains record what they must (sharing ledgers refusals on files)."""
    app.extensions.setdefault(REFUSAL_HOOKS, []).append(hook)


def init_app(app: Flask, deps: AuthDeps) -> None:
    app.extensions[DEPS_KEY] = deps
    app.before_request(_authenticate)
