"""What admins watch: the ledger's size and last checkpoint, and the recent security
events (sign-in failures, limits hit, refused access, admin actions), read from the
ledger, which is where every such event is recorded (``ledger.vocabulary``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from strongroom.auth.models import User
from strongroom.ledger.checkpoints import latest_checkpoint
from strongroom.ledger.models import LedgerEntry
from strongroom.ledger.proofs import current_size
from strongroom.ledger.vocabulary import TAGS

# Failures and refusals of any kind, and everything an administrator did. Built from
# the vocabulary, so a new ``...:throttled`` or ``admin:...`` tag is included at once.
SECURITY_EVENT_TAGS = tuple(
    sorted(
        tag
        for tag in TAGS
        if tag.startswith(("admin:", "ratelimit:", "access:"))
        or tag.endswith((":failure", ":throttled"))
        or tag in {"ledger:entry:redact", "file:corrupt"}
    )
)


@dataclass(frozen=True)
class EventPage:
    events: list[LedgerEntry]
    total: int


@dataclass(frozen=True)
class LedgerStatus:
    """The log's size, and its latest signed checkpoint (``None``s before the first)."""

    size: int
    checkpoint_size: int | None
    checkpoint_at: datetime | None
    checkpoint_age: timedelta | None

    @property
    def unsigned(self) -> int:
        """Entries appended since the latest checkpoint."""
        return self.size - (self.checkpoint_size or 0)


def ledger_status(db: Session, *, now: datetime) -> LedgerStatus:
    checkpoint = latest_checkpoint(db)
    if checkpoint is None:
        return LedgerStatus(current_size(db), None, None, None)
    return LedgerStatus(
        current_size(db), checkpoint.size, checkpoint.created_at, now - checkpoint.created_at
    )


def security_events(db: Session, *, page: int = 1, per_page: int = 25) -> EventPage:
    """Security events, newest first, a page at a time."""
    chosen = LedgerEntry.tag.in_(SECURITY_EVENT_TAGS)
    total = int(db.scalar(select(func.count()).select_from(LedgerEntry).where(chosen)) or 0)
    rows = db.scalars(
        select(LedgerEntry)
        .where(chosen)
        .order_by(LedgerEntry.index.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return EventPage(list(rows), total)


def user_events(db: Session, *, user_id: int, limit: int = 20) -> list[LedgerEntry]:
    """The latest events where the user is the actor or the target, newest first."""
    me = f"user:{user_id}"
    return list(
        db.scalars(
            select(LedgerEntry)
            .where(or_(LedgerEntry.actor == me, LedgerEntry.target == me))
            .order_by(LedgerEntry.index.desc())
            .limit(limit)
        ).all()
    )


def usernames(db: Session, entries: Iterable[LedgerEntry]) -> dict[str, str]:
    """``{"user:42": "alice"}`` for the accounts the entries name that still exist
    (deleted accounts keep their ``user:<id>`` reference in the ledger)."""
    ids = {
        int(ref.removeprefix("user:"))
        for entry in entries
        for ref in (entry.actor, entry.target)
        if ref.startswith("user:") and ref.removeprefix("user:").isdigit()
    }
    if not ids:
        return {}
    rows = db.execute(select(User.id, User.username).where(User.id.in_(ids))).all()
    return {f"user:{uid}": name for uid, name in rows}
