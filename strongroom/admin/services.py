"""Account administration, shared by the admin API and the ``strongroom users`` CLI.

Rules: the last active admin cannot be disabled, demoted or deleted; disabling ends
the user's sessions and 2FA challenges and revokes their personal access tokens; a
reset sets a generated temporary password that must be changed at next sign-in, and
ends sessions and tokens likewise.
Deleting an account removes its sessions, tokens and recovery codes; audit events
keep the ``user:<id>`` reference. Once file storage lands, an account that still
owns files cannot be deleted (see docs/security.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from strongroom.auth import access_tokens, accounts, sessions, totp
from strongroom.auth.deps import AuthDeps
from strongroom.auth.exceptions import AccountNotFound, Conflict
from strongroom.auth.models import Invite, Role, Status, User
from strongroom.auth.tokens import INVITE_PREFIX, hash_token, new_token
from strongroom.auth.usernames import lookup_username
from strongroom.ledger.services import record_event

TEMPORARY_PASSWORD_BYTES = 15  # 120 bits, 20 characters


@dataclass(frozen=True)
class Page:
    users: list[User]
    total: int


def get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise AccountNotFound("No such account.")
    return user


def find_user(db: Session, username: str) -> User:
    """The account named ``username``, normalised as at sign-in (case, full-width forms)."""
    name = lookup_username(username)
    user = db.scalar(select(User).where(User.username == name)) if name else None
    if user is None:
        raise AccountNotFound(f"No account named {username!r}.")
    return user


def search_users(
    db: Session,
    *,
    query: str = "",
    role: Role | None = None,
    status: Status | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    statement = select(User)
    if query:
        # LIKE wildcards in the query are matched literally.
        escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        statement = statement.where(
            or_(
                User.username.like(pattern, escape="\\"),
                func.lower(User.display_name).like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"),
            )
        )
    if role is not None:
        statement = statement.where(User.role == role)
    if status is not None:
        statement = statement.where(User.status == status)
    total = int(db.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    rows = db.scalars(
        statement.order_by(User.username).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Page(list(rows), total)


def temporary_password() -> str:
    return secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)


def create_user(
    db: Session,
    deps: AuthDeps,
    *,
    actor: str,
    username: str,
    password: str | None,
    role: Role = Role.USER,
    email: str | None = None,
    display_name: str = "",
) -> tuple[User, str | None]:
    """Create an account; without ``password`` a temporary one is generated and returned."""
    generated = temporary_password() if password is None else None
    user = accounts.new_user(
        db,
        deps,
        username=username,
        password=password or generated or "",
        email=email,
        display_name=display_name,
        role=role,
        must_change_password=generated is not None,
    )
    _audit(db, deps, "admin:user:create", actor, user=user, details={"role": str(role)})
    return user, generated


def set_status(db: Session, deps: AuthDeps, *, actor: str, user: User, status: Status) -> None:
    if status == user.status:
        return
    if status is Status.DISABLED:
        _keep_an_admin(db, user)
        user.status = Status.DISABLED
        ended = sessions.end_sessions(db, user_id=user.id)
        revoked = access_tokens.revoke_all(db, deps, user_id=user.id)
        _audit(
            db, deps, "admin:user:disable", actor, user=user,
            details={"sessions_ended": ended, "tokens_revoked": revoked},
        )  # fmt: skip
    else:
        user.status = Status.ACTIVE
        _audit(db, deps, "admin:user:enable", actor, user=user, details={})


def set_role(db: Session, deps: AuthDeps, *, actor: str, user: User, role: Role) -> None:
    if role == user.role:
        return
    if role is not Role.ADMIN:
        _keep_an_admin(db, user)
    previous = user.role
    user.role = role
    # A privilege change: sessions and tokens were issued for the old role.
    ended = sessions.end_sessions(db, user_id=user.id)
    revoked = access_tokens.revoke_all(db, deps, user_id=user.id)
    _audit(
        db, deps, "admin:user:role", actor, user=user,
        details={"from": str(previous), "to": str(role), "sessions_ended": ended,
                 "tokens_revoked": revoked},
    )  # fmt: skip


def update_profile(
    db: Session,
    deps: AuthDeps,
    *,
    actor: str,
    user: User,
    email: str | None,
    display_name: str | None,
) -> None:
    changed = []
    if email is not None and email != user.email:
        user.email = email or None
        changed.append("email")
    if display_name is not None and display_name != user.display_name:
        user.display_name = display_name
        changed.append("display_name")
    if changed:
        _audit(db, deps, "admin:user:update", actor, user=user, details={"fields": changed})


def reset_password(db: Session, deps: AuthDeps, *, actor: str, user: User) -> str:
    """Set and return a temporary password; the user's sessions and tokens end."""
    password = temporary_password()
    accounts.set_password(db, deps, user=user, password=password, temporary=True)
    ended = sessions.end_sessions(db, user_id=user.id)
    # A reset usually means the account may be in the wrong hands: its tokens go too.
    revoked = access_tokens.revoke_all(db, deps, user_id=user.id)
    _audit(
        db, deps, "admin:user:password-reset", actor, user=user,
        details={"sessions_ended": ended, "tokens_revoked": revoked},
    )  # fmt: skip
    return password


def reset_two_factor(db: Session, deps: AuthDeps, *, actor: str, user: User) -> None:
    """Turn off the account's 2FA (a lost device, or seeds unreadable after a secret-key
    rotation); its sessions end, and the user can enrol again after signing in."""
    if not user.two_factor_enabled and user.totp_pending_secret is None:
        raise Conflict("This account does not use two-factor authentication.")
    totp.clear(db, user=user)
    ended = sessions.end_sessions(db, user_id=user.id)
    _audit(db, deps, "admin:user:2fa-reset", actor, user=user, details={"sessions_ended": ended})


def delete_user(db: Session, deps: AuthDeps, *, actor: str, user: User) -> None:
    _keep_an_admin(db, user)
    _audit(db, deps, "admin:user:delete", actor, user=user, details={"username": user.username})
    db.delete(user)


def _keep_an_admin(db: Session, user: User) -> None:
    if not (user.is_admin and user.is_active):
        return
    # Lock the active admins' rows (PostgreSQL; SQLite write transactions are exclusive
    # already) so two admins disabling each other at once cannot both succeed.
    db.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN, User.status == Status.ACTIVE)
        .with_for_update()
    ).all()
    if accounts.count_active_admins(db) <= 1:
        raise Conflict("This is the last active administrator; make another admin first.")


def create_invite(
    db: Session, deps: AuthDeps, *, actor_id: int | None, note: str, role: Role
) -> tuple[str, Invite]:
    now = deps.now()
    token = new_token(INVITE_PREFIX)
    invite = Invite(
        token_hash=hash_token(token),
        note=note,
        role=role,
        created_by=actor_id,
        created_at=now,
        expires_at=now + timedelta(seconds=deps.settings.invite_lifetime),
    )
    db.add(invite)
    db.flush()
    record_event(
        db, "admin:invite:create", actor=_actor(actor_id), target=f"invite:{invite.id}",
        details={"role": str(role)}, at=now,
    )  # fmt: skip
    return token, invite


def list_invites(db: Session, deps: AuthDeps) -> list[Invite]:
    rows = db.scalars(
        select(Invite)
        .where(Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .order_by(Invite.id.desc())
    ).all()
    return [i for i in rows if i.expires_at > deps.now()]


def revoke_invite(db: Session, deps: AuthDeps, *, actor_id: int | None, invite_id: int) -> None:
    invite = db.get(Invite, invite_id)
    if invite is None or invite.revoked_at is not None or invite.used_at is not None:
        raise AccountNotFound("No such open invitation.")
    invite.revoked_at = deps.now()
    record_event(
        db, "admin:invite:revoke", actor=_actor(actor_id), target=f"invite:{invite.id}",
        at=deps.now(),
    )  # fmt: skip


def _actor(actor_id: int | None) -> str:
    return f"user:{actor_id}" if actor_id is not None else "system:cli"


def _audit(
    db: Session, deps: AuthDeps, tag: str, actor: str, *, user: User, details: dict[str, object]
) -> None:
    record_event(db, tag, actor=actor, target=f"user:{user.id}", details=details, at=deps.now())
