"""Reading the ledger a page at a time, newest first, for people browsing it (the web
explorer); the API's readers page by index instead (``views.entries``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from strongroom.ledger.models import LedgerEntry


@dataclass(frozen=True)
class EntryPage:
    entries: list[LedgerEntry]
    total: int


def newest_entries(db: Session, *, involving: str | None, offset: int, limit: int) -> EntryPage:
    """Entries newest first; with ``involving`` (``user:<id>``) only those where it is
    the actor or the target, as ``GET /ledger/users/{id}/events`` selects them."""
    chosen = select(LedgerEntry)
    if involving is not None:
        chosen = chosen.where(or_(LedgerEntry.actor == involving, LedgerEntry.target == involving))
    total = db.scalar(select(func.count()).select_from(chosen.subquery())) or 0
    rows = db.scalars(chosen.order_by(LedgerEntry.index.desc()).offset(offset).limit(limit)).all()
    return EntryPage(list(rows), total)
