"""Registration, sign-in (one or two steps), sign-out and password changes.

Sign-in answers the same, in the same time, for an unknown user, a wrong password
and a disabled account; the per account+IP failure limit is checked before the
password is, so during a lock-out the right password is refused like a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from strongroom.auth import sessions, totp
from strongroom.auth.deps import AuthDeps
from strongroom.auth.exceptions import (
    AccountNotFound,
    ChallengeExpired,
    InvalidCredentials,
    PasswordRejected,
    ReauthenticationRequired,
    RegistrationClosed,
    Throttled,
    UsernameTaken,
)
from strongroom.auth.models import AuthSession, Invite, Role, Status, User
from strongroom.auth.tokens import INVITE_PREFIX, has_prefix, hash_token
from strongroom.auth.usernames import canonical_username, lookup_username
from strongroom.ledger.services import record_event
from strongroom.ops import metrics
from strongroom.ratelimit import network_of

REAUTH_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Client:
    """Where a request comes from, for sessions, limits and the audit trail."""

    ip: str
    user_agent: str


@dataclass(frozen=True)
class SignedIn:
    token: str
    session: AuthSession
    user: User


@dataclass(frozen=True)
class ChallengeIssued:
    challenge: str
    expires_at: datetime


def new_user(
    db: Session,
    deps: AuthDeps,
    *,
    username: str,
    password: str,
    email: str | None = None,
    display_name: str = "",
    role: Role = Role.USER,
    must_change_password: bool = False,
) -> User:
    """Create an account after checking the username rule and the password policy."""
    name = canonical_username(username)
    deps.passwords.check_policy(password, username=name)
    if db.scalar(select(User.id).where(User.username == name)) is not None:
        raise UsernameTaken("That username is taken; choose another.")
    now = deps.now()
    user = User(
        username=name,
        email=email,
        display_name=display_name,
        password_hash=deps.passwords.hash(password),
        role=role,
        status=Status.ACTIVE,
        must_change_password=must_change_password,
        created_at=now,
        password_changed_at=now,
    )
    try:
        with db.begin_nested():  # a savepoint: a lost race leaves the transaction usable
            db.add(user)
    except IntegrityError as err:
        raise UsernameTaken("That username is taken; choose another.") from err
    return user


def register(
    db: Session,
    deps: AuthDeps,
    *,
    username: str,
    password: str,
    email: str | None,
    display_name: str,
    invite: str | None,
    client: Client,
) -> User:
    """Self-registration, as ``STRONGROOM_REGISTRATION`` allows."""
    mode = deps.settings.registration
    if mode == "closed":
        raise RegistrationClosed("Registration is closed; ask an administrator for an account.")
    invitation = None
    if mode == "invite" or invite:
        invitation = _usable_invite(db, deps, invite)
    user = new_user(
        db,
        deps,
        username=username,
        password=password,
        email=email,
        display_name=display_name,
        role=invitation.role if invitation else Role.USER,
    )
    if invitation is not None:
        # Claimed with a conditional UPDATE: two registrations racing on one
        # invitation cannot both succeed.
        claimed = db.execute(
            update(Invite)
            .where(Invite.id == invitation.id, Invite.used_at.is_(None))
            .values(used_at=deps.now(), used_by=user.id)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise RegistrationClosed("Registration needs a valid invitation; this one is not.")
    record_event(
        db,
        "account:register",
        actor=f"user:{user.id}",
        target=f"user:{user.id}",
        details={"ip": client.ip, "invite": invitation.id if invitation else None},
        at=deps.now(),
    )
    return user


def _usable_invite(db: Session, deps: AuthDeps, token: str | None) -> Invite:
    invitation = None
    if token and has_prefix(token, INVITE_PREFIX):
        invitation = db.scalar(select(Invite).where(Invite.token_hash == hash_token(token)))
    if (
        invitation is None
        or invitation.used_at is not None
        or invitation.revoked_at is not None
        or deps.now() >= invitation.expires_at
    ):
        raise RegistrationClosed("Registration needs a valid invitation; this one is not.")
    return invitation


def sign_in(
    db: Session, deps: AuthDeps, *, username: str, password: str, client: Client
) -> SignedIn | ChallengeIssued:
    """The password step. Raises ``InvalidCredentials`` or ``Throttled``."""
    # What people type into the username field is sometimes their password: only a
    # value that could be a username is used as a key and written to the audit trail.
    name = lookup_username(username) or "(not a username)"
    key = (name, network_of(client.ip))
    try:
        deps.limits.acquire("signin-account-ip", *key)
    except Throttled:
        _audit_signin(db, deps, "account:signin:throttled", name, user=None, client=client)
        raise
    user = db.scalar(select(User).where(User.username == name)) if lookup_username(name) else None
    db.commit()  # end the read: no transaction (or SQLite write lock) is held during Argon2
    if user is None:
        deps.passwords.burn(password)
        return _fail(db, deps, name, None, client)
    verdict = deps.passwords.verify(user.password_hash, password)
    if not verdict.ok or not user.is_active:
        return _fail(db, deps, name, user, client, disabled=verdict.ok)
    deps.limits.clear("signin-account-ip", *key)
    if verdict.needs_rehash:
        user.password_hash = deps.passwords.hash(password)
        record_event(
            db,
            "account:password:rehash",
            actor=f"user:{user.id}",
            target=f"user:{user.id}",
            at=deps.now(),
        )
    if user.two_factor_enabled:
        token, challenge = sessions.create_challenge(db, deps, user=user)
        _audit_signin(db, deps, "account:signin:challenge", name, user=user, client=client)
        return ChallengeIssued(token, challenge.expires_at)
    return _complete(db, deps, user, client, method="password")


def sign_in_second_step(
    db: Session,
    deps: AuthDeps,
    *,
    challenge: str,
    code: str | None,
    recovery_code: str | None,
    client: Client,
) -> SignedIn:
    """The 2FA step: a TOTP code or a recovery code for a live challenge."""
    found = sessions.find_challenge(db, deps, challenge) if challenge else None
    if found is None:
        raise ChallengeExpired("The sign-in expired or was already used; sign in again.")
    pending, user = found
    try:
        deps.limits.acquire("2fa-account", str(user.id))
    except Throttled:
        _audit_signin(db, deps, "account:signin:throttled", user.username, user=user, client=client)
        raise
    if code is not None and totp.verify_code(db, deps, user=user, code=code):
        method = "totp"
    elif recovery_code is not None and totp.use_recovery_code(
        db, deps, user=user, code=recovery_code
    ):
        method = "recovery-code"
        record_event(
            db,
            "account:2fa:recovery-used",
            actor=f"user:{user.id}",
            target=f"user:{user.id}",
            details={"left": totp.recovery_codes_left(db, user_id=user.id)},
            at=deps.now(),
        )
    else:
        _audit_signin(
            db,
            deps,
            "account:signin:failure",
            user.username,
            user=user,
            client=client,
            detail="bad-code",
        )
        db.commit()
        raise InvalidCredentials("That code is not right.")
    if not sessions.claim_challenge(db, pending):
        # Another request spent this challenge a moment ago (its code or another):
        # one challenge, one session. Rolling back also un-spends the recovery code.
        db.rollback()
        raise ChallengeExpired("The sign-in expired or was already used; sign in again.")
    deps.limits.clear("2fa-account", str(user.id))
    return _complete(db, deps, user, client, method=method)


def _complete(db: Session, deps: AuthDeps, user: User, client: Client, *, method: str) -> SignedIn:
    new = sessions.create_session(db, deps, user=user, user_agent=client.user_agent, ip=client.ip)
    user.last_sign_in_at = deps.now()
    _audit_signin(
        db, deps, "account:signin:success", user.username, user=user, client=client, detail=method
    )
    return SignedIn(new.token, new.session, user)


def _fail(
    db: Session,
    deps: AuthDeps,
    name: str,
    user: User | None,
    client: Client,
    *,
    disabled: bool = False,
) -> NoReturn:
    reason = "disabled" if disabled else ("wrong-password" if user else "unknown-user")
    _audit_signin(db, deps, "account:signin:failure", name, user=user, client=client, detail=reason)
    db.commit()  # the failure is recorded even though the request fails
    raise InvalidCredentials


def _audit_signin(
    db: Session,
    deps: AuthDeps,
    tag: str,
    name: str,
    *,
    user: User | None,
    client: Client,
    detail: str | None = None,
) -> None:
    target = f"user:{user.id}" if user else f"username:{name[:64]}"
    details = {"ip": client.ip, "user_agent": client.user_agent[:128]}
    if detail:
        details["reason" if "failure" in tag else "method"] = detail
    record_event(db, tag, actor="anonymous" if user is None else target, target=target,
                 details=details, at=deps.now())  # fmt: skip
    metrics.count_signin(tag.rpartition(":")[2])
    if tag == "account:signin:throttled":
        db.commit()


def sign_out(db: Session, deps: AuthDeps, *, session: AuthSession) -> None:
    record_event(
        db,
        "account:signout",
        actor=f"user:{session.user_id}",
        target=f"session:{session.id}",
        at=deps.now(),
    )
    db.delete(session)


def change_password(
    db: Session,
    deps: AuthDeps,
    *,
    user: User,
    current: str,
    new: str,
    keep_session: int | None,
) -> None:
    """Change the password (current one required); every other session ends."""
    check_password(db, deps, user=user, password=current)
    if new == current:
        raise PasswordRejected(["The new password must differ from the current one."])
    deps.passwords.check_policy(new, username=user.username)
    set_password(db, deps, user=user, password=new)
    ended = sessions.end_sessions(db, user_id=user.id, keep=keep_session)
    record_event(
        db,
        "account:password:change",
        actor=f"user:{user.id}",
        target=f"user:{user.id}",
        details={"sessions_ended": ended},
        at=deps.now(),
    )


def check_password(db: Session, deps: AuthDeps, *, user: User, password: str) -> None:
    """Re-authentication for sensitive changes, limited per account."""
    try:
        deps.limits.acquire("password-account", str(user.id))
    except Throttled:
        record_event(
            db,
            "account:password:throttled",
            actor=f"user:{user.id}",
            target=f"user:{user.id}",
            at=deps.now(),
        )
        db.commit()
        raise
    if not deps.passwords.verify(user.password_hash, password).ok:
        record_event(
            db, "account:reauth:failure", actor=f"user:{user.id}", target=f"user:{user.id}",
            details={"reason": "wrong-password"}, at=deps.now(),
        )  # fmt: skip
        raise InvalidCredentials("The current password is not correct.")
    deps.limits.clear("password-account", str(user.id))


def require_recent_authentication(
    db: Session, deps: AuthDeps, *, session: AuthSession, user: User, password: str | None
) -> None:
    """Sensitive additions (a token, a new 2FA device) need a fresh sign-in or the password.

    Within ``REAUTH_WINDOW`` of signing in the session itself is proof enough; after
    it, someone who picked up an unattended session must still know the password.
    """
    if not needs_reauthentication(deps, session=session):
        return
    if password is None:
        raise ReauthenticationRequired(
            "Confirm with your current password (`current_password`) to do this."
        )
    check_password(db, deps, user=user, password=password)


def needs_reauthentication(deps: AuthDeps, *, session: AuthSession) -> bool:
    """Whether a sensitive addition on ``session`` must be confirmed with the password."""
    return deps.now() - session.created_at > REAUTH_WINDOW


def rotate_session(
    db: Session, deps: AuthDeps, *, session: AuthSession, user: User, ip: str
) -> SignedIn:
    """A fresh session token after a privilege change; the old token stops working."""
    new = sessions.create_session(db, deps, user=user, user_agent=session.user_agent, ip=ip)
    db.delete(session)
    return SignedIn(new.token, new.session, user)


def set_password(
    db: Session, deps: AuthDeps, *, user: User, password: str, temporary: bool = False
) -> None:
    user.password_hash = deps.passwords.hash(password)
    user.password_changed_at = deps.now()
    user.must_change_password = temporary


def count_active_admins(db: Session) -> int:
    return int(
        db.scalar(
            select(func.count(User.id)).where(User.role == Role.ADMIN, User.status == Status.ACTIVE)
        )
        or 0
    )


def own_session(db: Session, user: User, session_id: int) -> AuthSession:
    """``user``'s session ``session_id``; another account's session is not found, the
    same as one that does not exist (ids must not reveal who is signed in)."""
    target = db.get(AuthSession, session_id)
    if target is None or target.user_id != user.id:
        raise AccountNotFound("No such session: it may have ended already.")
    return target


def revoke_session(db: Session, deps: AuthDeps, *, session: AuthSession, actor: str) -> None:
    record_event(
        db, "account:session:revoke", actor=actor, target=f"session:{session.id}", at=deps.now()
    )
    db.delete(session)
