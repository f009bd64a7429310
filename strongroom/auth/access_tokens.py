"""Personal access tokens: named, scoped, optionally expiring, shown once, stored hashed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, contains_eager

from strongroom.auth.deps import AuthDeps
from strongroom.auth.exceptions import AccountNotFound, Conflict
from strongroom.auth.models import AccessToken, User
from strongroom.auth.principal import SCOPES
from strongroom.auth.sessions import TOUCH_INTERVAL
from strongroom.auth.tokens import PAT_PREFIX, hash_token, new_token
from strongroom.ledger.services import record_event

MAX_TOKENS_PER_USER = 50
HINT_CHARS = 8


@dataclass(frozen=True)
class NewAccessToken:
    token: str
    record: AccessToken


def create_token(
    db: Session,
    deps: AuthDeps,
    *,
    user: User,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> NewAccessToken:
    """Create a token; raises ``Conflict`` for a past expiry, unknown scopes or too many."""
    now = deps.now()
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise Conflict(f"Scopes must be some of: {', '.join(SCOPES)}.")
    if expires_at is not None and expires_at <= now:
        raise Conflict("The expiry must be in the future.")
    if len(list_tokens(db, deps, user_id=user.id)) >= MAX_TOKENS_PER_USER:
        raise Conflict(f"At most {MAX_TOKENS_PER_USER} active tokens; revoke one first.")
    token = new_token(PAT_PREFIX)
    record = AccessToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(token),
        hint=token[len(PAT_PREFIX) : len(PAT_PREFIX) + HINT_CHARS],
        scopes=sorted(set(scopes)),
        created_at=now,
        expires_at=expires_at,
    )
    db.add(record)
    db.flush()
    record_event(
        db,
        "account:token:create",
        actor=f"user:{user.id}",
        target=f"token:{record.id}",
        details={"name": name, "scopes": record.scopes},
        at=now,
    )
    return NewAccessToken(token, record)


def list_tokens(db: Session, deps: AuthDeps, *, user_id: int) -> list[AccessToken]:
    """The user's tokens that still work (not revoked, not expired), newest first."""
    now = deps.now()
    rows = db.scalars(
        select(AccessToken)
        .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
        .order_by(AccessToken.id.desc())
    ).all()
    return [t for t in rows if t.expires_at is None or t.expires_at > now]


def revoke_token(db: Session, deps: AuthDeps, *, user: User, token_id: int, actor: str) -> None:
    record = db.get(AccessToken, token_id)
    if record is None or record.user_id != user.id or record.revoked_at is not None:
        raise AccountNotFound("No such token.")
    now = deps.now()
    record.revoked_at = now
    record_event(
        db, "account:token:revoke", actor=actor, target=f"token:{record.id}", details={}, at=now
    )


def revoke_all(db: Session, deps: AuthDeps, *, user_id: int) -> int:
    """Revoke every working token of the user (account disabled or reset by an admin)."""
    result = db.execute(
        update(AccessToken)
        .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=deps.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def find_token(db: Session, deps: AuthDeps, token: str) -> AccessToken | None:
    """The working token for ``token`` with its user (one indexed query), or ``None``."""
    record = db.scalar(
        select(AccessToken)
        .join(AccessToken.user)
        .options(contains_eager(AccessToken.user))  # the user comes with the same query
        .where(AccessToken.token_hash == hash_token(token))
    )
    if record is None:
        return None
    user = record.user
    now = deps.now()
    if record.revoked_at is not None or not user.is_active:
        return None
    if record.expires_at is not None and now >= record.expires_at:
        return None
    if record.last_used_at is None or now - record.last_used_at >= TOUCH_INTERVAL:
        record.last_used_at = now
    return record
