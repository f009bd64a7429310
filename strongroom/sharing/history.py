"""A file's history: its ledger events, each with an inclusion proof against a signed
checkpoint, so the owner can check — with nothing but the log's public key — that no
event about the file was changed, dropped or reordered.

Every event about a file names it as the target (``file:<id>``): upload, downloads,
renames, grants, links and their uses, refused attempts, damage, deletion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from strongroom.ledger.checkpoints import latest_checkpoint, make_checkpoint
from strongroom.ledger.models import LedgerCheckpoint, LedgerEntry
from strongroom.ledger.note import Signer
from strongroom.ledger.proofs import current_size, inclusion_proof


@dataclass(frozen=True)
class ProvenEntry:
    entry: LedgerEntry
    proof: list[bytes]


@dataclass(frozen=True)
class History:
    checkpoint: LedgerCheckpoint
    entries: Sequence[ProvenEntry]
    total: int


def current_checkpoint(db: Session, signer: Signer, *, now: datetime) -> LedgerCheckpoint:
    """A checkpoint covering every entry so far: the latest, or a new one signed now
    (the caller commits)."""
    latest = latest_checkpoint(db)
    if latest is not None and latest.size == current_size(db):
        return latest
    return make_checkpoint(db, signer, at=now)


def file_history(
    db: Session, file_id: str, checkpoint: LedgerCheckpoint, *, offset: int, limit: int
) -> History:
    """The file's entries inside ``checkpoint``'s tree, oldest first, with proofs."""
    base = (
        select(LedgerEntry)
        .where(LedgerEntry.target == f"file:{file_id}")
        .where(LedgerEntry.index < checkpoint.size)
    )
    total = db.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.scalars(base.order_by(LedgerEntry.index).offset(offset).limit(limit)).all()
    proven = [ProvenEntry(row, inclusion_proof(db, row.index, checkpoint.size)) for row in rows]
    return History(checkpoint=checkpoint, entries=proven, total=total)
