"""The one place that decides who may do what to a file.

``can(actor, action, file, grant, now)`` is a pure function over the facts;
``authorize`` looks the facts up, asks ``can``, ledgers every refusal (``access:denied``
with the actor, the file and the reason) and raises. Every file route goes through
``authorize``; nothing else compares owner ids.

The rules (docs/security.md has them as a table):

- The owner may do everything to their file.
- A grantee with an unexpired ``read`` grant may view the metadata and download.
  Everything else is refused with 403: they know the file exists.
- A share link holder may view and download the one file of the link (the link's own
  checks — revoked, expired, exhausted, password — are in ``sharing.links``).
- Anyone else — other users, admins, revoked or expired grantees, anonymous callers —
  gets 404, exactly as for a file that does not exist. Admins manage accounts; they do
  not read other people's files (separation of duties).
- A personal access token also needs the action's scope; a session has every scope.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from strongroom.auth.principal import Principal
from strongroom.files.exceptions import FileNotFound
from strongroom.files.models import FILE_ID_LENGTH, StoredFile
from strongroom.ledger.services import record_event
from strongroom.sharing.exceptions import AccessDenied
from strongroom.sharing.models import Grant


class Action(enum.StrEnum):
    """What an actor wants to do to a file."""

    VIEW = "view"  # metadata
    DOWNLOAD = "download"
    RENAME = "rename"
    DELETE = "delete"
    SHARE = "share"  # create or change grants and links
    REVOKE = "revoke"  # remove grants and links
    HISTORY = "history"  # the file's ledger events with proofs


SCOPE_FOR: dict[Action, str] = {
    Action.VIEW: "files:read",
    Action.DOWNLOAD: "files:read",
    Action.HISTORY: "files:read",
    Action.RENAME: "files:write",
    Action.DELETE: "files:write",
    Action.SHARE: "shares:write",
    Action.REVOKE: "shares:write",
}
READER_ACTIONS = frozenset({Action.VIEW, Action.DOWNLOAD})


@dataclass(frozen=True)
class Actor:
    """Who asks: a signed-in user (session or token), a link holder, or nobody."""

    kind: Literal["user", "link", "anonymous"]
    user_id: int | None = None
    is_admin: bool = False
    scopes: frozenset[str] | None = None  # None: a session, which has every scope
    link_id: str | None = None
    link_file_id: str | None = None

    @classmethod
    def of(cls, principal: Principal | None) -> Actor:
        if principal is None:
            return ANONYMOUS
        scopes = None
        if principal.kind == "token":
            scopes = frozenset(principal.token.scopes if principal.token is not None else ())
        return cls("user", principal.user.id, principal.user.is_admin, scopes)

    @classmethod
    def holding_link(cls, link_id: str, file_id: str) -> Actor:
        return cls("link", link_id=link_id, link_file_id=file_id, scopes=frozenset())

    @property
    def ref(self) -> str:
        """How the ledger names the actor."""
        if self.kind == "user":
            return f"user:{self.user_id}"
        if self.kind == "link":
            return f"link:{self.link_id}"
        return "anonymous"

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


ANONYMOUS = Actor("anonymous")


@dataclass(frozen=True)
class Decision:
    """``allowed``, or why not; ``visible``: whether the actor may learn the file exists."""

    allowed: bool
    reason: str
    visible: bool = True


def can(
    actor: Actor,
    action: Action,
    file: StoredFile | None,
    grant: Grant | None,
    now: datetime,
) -> Decision:
    """The decision for ``actor`` doing ``action`` to ``file`` (``None``: no such file).

    ``grant`` is the actor's grant on the file, if any (expired ones included).
    """
    if file is None:
        return Decision(False, "no such file", visible=False)
    if actor.kind == "link":
        decision = _as_link_holder(actor, action, file)
    elif actor.kind == "user":
        decision = _as_user(actor, action, file, grant, now)
    else:
        decision = Decision(False, "not signed in", visible=False)
    scope = SCOPE_FOR[action]
    if decision.allowed and actor.kind == "user" and not actor.has_scope(scope):
        return Decision(False, f"token lacks the {scope} scope")
    return decision


def _as_link_holder(actor: Actor, action: Action, file: StoredFile) -> Decision:
    if actor.link_file_id != file.id:
        return Decision(False, "link is for another file", visible=False)
    if action not in READER_ACTIONS:
        return Decision(False, f"a share link cannot {action}")
    return Decision(True, "share link")


def _as_user(
    actor: Actor, action: Action, file: StoredFile, grant: Grant | None, now: datetime
) -> Decision:
    if file.owner_id == actor.user_id:
        return Decision(True, "owner")
    if grant is None or grant.grantee_id != actor.user_id:
        reason = "admin without a grant" if actor.is_admin else "neither owner nor grantee"
        return Decision(False, reason, visible=False)
    if not grant.active_at(now):
        return Decision(False, "grant expired", visible=False)
    if action not in READER_ACTIONS:
        return Decision(False, f"a grantee cannot {action}")
    return Decision(True, "grantee")


def authorize(
    db: Session,
    actor: Actor,
    action: Action,
    file_id: str,
    *,
    now: datetime,
    lock: bool = False,
) -> StoredFile:
    """The file, if ``actor`` may do ``action`` to it.

    A refusal is ledgered and committed (so the rollback of the failed request keeps
    it), then raised: ``FileNotFound`` when the actor may not learn that the file
    exists, ``AccessDenied`` otherwise.
    """
    file = _load(db, file_id, lock=lock)
    grant = None
    if file is not None and actor.kind == "user" and actor.user_id != file.owner_id:
        grant = db.scalars(
            select(Grant).where(Grant.file_id == file.id, Grant.grantee_id == actor.user_id)
        ).one_or_none()
    decision = can(actor, action, file, grant, now)
    if decision.allowed and file is not None:
        return file
    deny(db, actor, action, file_id, decision.reason, now=now)
    if decision.visible:
        raise AccessDenied(f"You may not {action} this file.")
    raise FileNotFound("No such file.")


def deny(
    db: Session, actor: Actor, action: str, file_id: str, reason: str, *, now: datetime
) -> None:
    """Ledger a refused attempt on ``file_id`` and commit it."""
    db.rollback()  # nothing of the refused request may ride along with the record
    record_event(
        db,
        "access:denied",
        actor=actor.ref,
        target=f"file:{file_id}",
        details={"action": str(action), "reason": reason},
        at=now,
    )
    db.commit()


def _load(db: Session, file_id: str, *, lock: bool) -> StoredFile | None:
    if not file_id or len(file_id) > FILE_ID_LENGTH:
        return None
    query = select(StoredFile).where(StoredFile.id == file_id)
    if lock:
        query = query.with_for_update()
    return db.scalars(query).one_or_none()
