"""Sessions: created at sign-in, found by token hash, ended by time, owner or admin.

A session ends ``session_idle_timeout`` seconds after it was last used and
``session_lifetime`` seconds after sign-in, whichever comes first. ``last_seen_at`` is
written at most once a minute, so a busy client costs one indexed read per request
and rarely a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, contains_eager

from strongroom.auth.deps import AuthDeps
from strongroom.auth.models import AuthSession, LoginChallenge, User
from strongroom.auth.tokens import CHALLENGE_PREFIX, SESSION_PREFIX, hash_token, new_token

TOUCH_INTERVAL = timedelta(seconds=60)
MAX_USER_AGENT = 256


@dataclass(frozen=True)
class NewSession:
    """A session just created; ``token`` exists only here, never in the database."""

    token: str
    session: AuthSession


def create_session(
    db: Session, deps: AuthDeps, *, user: User, user_agent: str, ip: str
) -> NewSession:
    now = deps.now()
    token = new_token(SESSION_PREFIX)
    session = AuthSession(
        user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=deps.settings.session_lifetime),
        user_agent=user_agent[:MAX_USER_AGENT],
        ip=ip[:64],
    )
    db.add(session)
    db.flush()
    return NewSession(token, session)


def idle_deadline(session: AuthSession, deps: AuthDeps) -> datetime:
    return session.last_seen_at + timedelta(seconds=deps.settings.session_idle_timeout)


def find_session(db: Session, deps: AuthDeps, token: str) -> AuthSession | None:
    """The live session for ``token`` with its user loaded (one indexed query), or ``None``.

    Expired sessions are deleted when met. ``last_seen_at`` moves forward (flushed,
    committed by the caller) when more than a minute old.
    """
    session = db.scalar(
        select(AuthSession)
        .join(AuthSession.user)
        .options(contains_eager(AuthSession.user))  # the user comes with the same query
        .where(AuthSession.token_hash == hash_token(token))
    )
    if session is None:
        return None
    user = session.user
    now = deps.now()
    if now >= session.expires_at or now >= idle_deadline(session, deps):
        db.delete(session)
        return None
    if not user.is_active:
        return None
    if now - session.last_seen_at >= TOUCH_INTERVAL:
        session.last_seen_at = now
    return session


def expires_at(session: AuthSession, deps: AuthDeps) -> datetime:
    """When the session ends if it is not used again."""
    return min(session.expires_at, idle_deadline(session, deps))


def list_sessions(db: Session, deps: AuthDeps, *, user_id: int) -> list[AuthSession]:
    now = deps.now()
    rows = db.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.expires_at > now)
        .order_by(AuthSession.last_seen_at.desc())
    ).all()
    return [s for s in rows if idle_deadline(s, deps) > now]


def end_sessions(db: Session, *, user_id: int, keep: int | None = None) -> int:
    """Delete the user's sessions (all, or all but ``keep``); returns how many ended."""
    statement = delete(AuthSession).where(AuthSession.user_id == user_id)
    if keep is not None:
        statement = statement.where(AuthSession.id != keep)
    ended = db.execute(statement).rowcount  # type: ignore[attr-defined]
    db.execute(delete(LoginChallenge).where(LoginChallenge.user_id == user_id))
    return int(ended or 0)


# --- the half-signed-in state between password and 2FA code -------------------------


def create_challenge(db: Session, deps: AuthDeps, *, user: User) -> tuple[str, LoginChallenge]:
    now = deps.now()
    token = new_token(CHALLENGE_PREFIX)
    challenge = LoginChallenge(
        user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(seconds=deps.settings.login_challenge_lifetime),
    )
    db.add(challenge)
    db.flush()
    return token, challenge


def find_challenge(db: Session, deps: AuthDeps, token: str) -> tuple[LoginChallenge, User] | None:
    """The live challenge for ``token`` and its user, or ``None`` (expired ones are deleted)."""
    row = db.execute(
        select(LoginChallenge, User)
        .join(User, User.id == LoginChallenge.user_id)
        .where(LoginChallenge.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    challenge, user = row
    if deps.now() >= challenge.expires_at or not user.is_active:
        db.delete(challenge)
        return None
    return challenge, user


def claim_challenge(db: Session, challenge: LoginChallenge) -> bool:
    """Spend the challenge; ``False`` when a concurrent request already did."""
    result = db.execute(
        delete(LoginChallenge)
        .where(LoginChallenge.id == challenge.id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
