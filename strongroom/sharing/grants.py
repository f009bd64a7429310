"""Grants: an owner shares a file with named users, lists, changes and revokes them;
a recipient lists what is shared with them and can drop a share from their list.

Only ``read`` is offered (see docs/security.md): re-sharing (``manage``) would let a
file travel further than its owner decided and outlive their revocation of the
re-sharer, with no way for the owner to see it coming. The caller has already been
authorized by ``sharing.policy``; these functions only check the grant itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from strongroom.auth.models import Status, User
from strongroom.auth.usernames import lookup_username
from strongroom.files.exceptions import BadUpload, FileNotFound
from strongroom.files.models import StoredFile
from strongroom.ledger.services import record_event
from strongroom.sharing.exceptions import (
    AlreadyShared,
    CannotShare,
    GrantNotFound,
    TooManyRecipients,
)
from strongroom.sharing.models import Grant

PERMISSIONS = ("read",)
MAX_RECIPIENTS = 50  # names in one upload's share_with
_SEPARATORS = re.compile(r"[\s,;]+")
_CANNOT_SHARE = "No active account by that name can receive shares."


def parse_recipients(raw: str | None) -> list[str]:
    """The distinct names in ``raw`` (separated by commas, semicolons or spaces), in
    order; raises ``TooManyRecipients`` past ``MAX_RECIPIENTS``."""
    if not raw:
        return []
    names: list[str] = []
    for name in _SEPARATORS.split(raw):
        if name and name not in names:
            names.append(name)
            if len(names) > MAX_RECIPIENTS:
                raise TooManyRecipients(
                    f"At most {MAX_RECIPIENTS} users can be named at once; "
                    "share with more afterwards, one grant at a time."
                )
    return names


def recipient(db: Session, username: str, *, owner_id: int) -> User:
    """The active account ``username`` names; raises ``CannotShare`` — with one message
    for unknown and disabled accounts alike — or for the owner themself."""
    key = lookup_username(username)
    user = None
    if key is not None:
        user = db.scalars(select(User).where(User.username == key)).one_or_none()
    if user is None or user.status is not Status.ACTIVE:
        raise CannotShare(_CANNOT_SHARE)
    if user.id == owner_id:
        raise CannotShare("You own this file; share it with someone else.")
    return user


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None and expires_at <= now:
        raise CannotShare("The expiry must be in the future.")


def share(
    db: Session,
    file: StoredFile,
    username: str,
    *,
    permission: str = "read",
    expires_at: datetime | None,
    actor: str,
    now: datetime,
) -> Grant:
    """Share ``file`` with ``username`` (the caller commits)."""
    if permission not in PERMISSIONS:
        raise CannotShare(f"Permission must be one of: {', '.join(PERMISSIONS)}.")
    _check_expiry(expires_at, now)
    user = recipient(db, username, owner_id=file.owner_id)
    existing = db.scalars(
        select(Grant).where(Grant.file_id == file.id, Grant.grantee_id == user.id)
    ).one_or_none()
    if existing is not None:
        raise AlreadyShared(
            f"The file is already shared with {user.username}; change that grant instead."
        )
    grant = Grant(
        file_id=file.id,
        grantee_id=user.id,
        permission=permission,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    db.add(grant)
    db.flush()
    record_event(
        db,
        "grant:create",
        actor=actor,
        target=file.ref,
        details=_details(grant, user),
        at=now,
    )
    return grant


def share_at_upload(
    db: Session, file: StoredFile, names: Sequence[str], *, actor: str, now: datetime
) -> list[Grant]:
    """Grants for every name of an upload's ``share_with``, all or none."""
    return [share(db, file, name, expires_at=None, actor=actor, now=now) for name in names]


class ShareAtUpload:
    """The ``share_with`` of an upload (``files.transfer.UploadExtras``): names in the
    query string or in a form field (not both), checked before the body is stored and
    turned into grants in the upload's own transaction — all of them or no upload."""

    fields = frozenset({"share_with"})

    def __init__(self, query_value: str | None, *, actor: str, now: datetime) -> None:
        self.query_value = query_value
        self.actor = actor
        self.now = now
        # What the form sent, kept so a refused upload form can be shown again with it.
        self.form_value: str | None = None

    def _names(self, fields: Mapping[str, str]) -> list[str]:
        form_value = fields.get("share_with")
        self.form_value = form_value
        if self.query_value is not None and form_value is not None:
            raise BadUpload("Send share_with once: in the query or in the form.")
        return parse_recipients(self.query_value if form_value is None else form_value)

    def check(self, db: Session, owner: User, fields: Mapping[str, str]) -> None:
        for name in self._names(fields):
            recipient(db, name, owner_id=owner.id)

    def apply(self, db: Session, row: StoredFile, fields: Mapping[str, str]) -> None:
        share_at_upload(db, row, self._names(fields), actor=self.actor, now=self.now)


def _details(grant: Grant, user: User) -> dict[str, object]:
    return {
        "grant": grant.id,
        "grantee": f"user:{user.id}",
        "username": user.username,
        "permission": grant.permission,
        "expires_at": None if grant.expires_at is None else grant.expires_at.isoformat(),
    }


def grants_of(db: Session, file: StoredFile) -> Sequence[Grant]:
    """Every grant on ``file``, expired ones included, oldest first."""
    return db.scalars(
        select(Grant).where(Grant.file_id == file.id).order_by(Grant.created_at, Grant.id)
    ).all()


def get_grant(db: Session, file: StoredFile, grant_id: int) -> Grant:
    grant = db.scalars(
        select(Grant).where(Grant.id == grant_id, Grant.file_id == file.id).with_for_update()
    ).one_or_none()
    if grant is None:
        raise GrantNotFound("No such grant on this file.")
    return grant


def change(
    db: Session,
    file: StoredFile,
    grant_id: int,
    *,
    expires_at: datetime | None,
    permission: str | None,
    actor: str,
    now: datetime,
) -> Grant:
    """Change a grant's expiry (``None``: never) or permission (the caller commits)."""
    grant = get_grant(db, file, grant_id)
    _check_expiry(expires_at, now)
    if permission is not None and permission not in PERMISSIONS:
        raise CannotShare(f"Permission must be one of: {', '.join(PERMISSIONS)}.")
    grant.expires_at = expires_at
    grant.permission = permission or grant.permission
    grant.updated_at = now
    db.flush()
    record_event(
        db, "grant:update", actor=actor, target=file.ref, details=_details(grant, grant.grantee),
        at=now,
    )  # fmt: skip
    return grant


def revoke(db: Session, file: StoredFile, grant_id: int, *, actor: str, now: datetime) -> None:
    """Remove a grant; the grantee's next request is refused (the caller commits)."""
    grant = get_grant(db, file, grant_id)
    record_event(
        db, "grant:revoke", actor=actor, target=file.ref, details=_details(grant, grant.grantee),
        at=now,
    )  # fmt: skip
    db.execute(delete(Grant).where(Grant.id == grant.id))


def decline(db: Session, file_id: str, *, user_id: int, now: datetime) -> None:
    """The recipient drops a share from their list; it ends their access (the caller
    commits). Raises ``FileNotFound`` when nothing is shared with them under that id."""
    grant = db.scalars(
        select(Grant).where(Grant.file_id == file_id, Grant.grantee_id == user_id)
    ).one_or_none()
    if grant is None:
        raise FileNotFound("No such file.")
    record_event(
        db,
        "grant:decline",
        actor=f"user:{user_id}",
        target=f"file:{file_id}",
        details={"grant": grant.id},
        at=now,
    )
    db.execute(delete(Grant).where(Grant.id == grant.id))


@dataclass(frozen=True)
class SharedPage:
    """One page of "shared with me" and the total."""

    items: Sequence[tuple[Grant, StoredFile]]
    total: int


def shared_with(
    db: Session, user_id: int, *, now: datetime, offset: int = 0, limit: int = 50
) -> SharedPage:
    """Files shared with ``user_id`` by unexpired grants, newest share first."""
    base = (
        select(Grant, StoredFile)
        .join(StoredFile, StoredFile.id == Grant.file_id)
        .where(Grant.grantee_id == user_id)
        .where(or_(Grant.expires_at.is_(None), Grant.expires_at > now))
    )
    total = db.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.execute(
        base.order_by(Grant.created_at.desc(), Grant.id.desc()).offset(offset).limit(limit)
    ).all()
    return SharedPage(items=[(g, f) for g, f in rows], total=total)
