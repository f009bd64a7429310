"""Signed checkpoints: stored every N entries or T seconds, and on demand.

A checkpoint is only ever signed for a root computed from the stored subtrees at
that moment, inside a transaction that holds the ledger head, so two processes can
never sign different roots for the same size; a lost race on the same size is
harmless (the other process stored the same checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from strongroom.ledger.models import LedgerCheckpoint, LedgerHead
from strongroom.ledger.note import Checkpoint, Signer
from strongroom.ledger.proofs import root_at


@dataclass(frozen=True)
class Cadence:
    entries: int
    seconds: int


def latest_checkpoint(db: Session) -> LedgerCheckpoint | None:
    return db.scalar(select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc()).limit(1))


def make_checkpoint(db: Session, signer: Signer, *, at: datetime) -> LedgerCheckpoint:
    """Sign and store a checkpoint at the current size (or return the one already there)."""
    # Holding the head row means no entry is appended between reading the size and
    # computing its root (the UPDATE is a no-op that takes the lock on every database).
    size = int(
        db.execute(
            update(LedgerHead)
            .where(LedgerHead.id == 1)
            .values(size=LedgerHead.size)
            .returning(LedgerHead.size)
        ).scalar_one()
    )
    existing = db.get(LedgerCheckpoint, size)
    if existing is not None:
        return existing
    root = root_at(db, size)
    note = signer.sign(Checkpoint(signer.name, size, root).text())
    checkpoint = LedgerCheckpoint(size=size, root=root, note=note, created_at=at)
    db.add(checkpoint)
    db.flush()
    return checkpoint


def due(db: Session, cadence: Cadence, *, at: datetime) -> bool:
    """Whether enough entries or time have passed since the last checkpoint."""
    size = int(db.scalar(select(LedgerHead.size).where(LedgerHead.id == 1)) or 0)
    last = latest_checkpoint(db)
    if last is None:
        return size > 0
    if size <= last.size:
        return False
    return size - last.size >= cadence.entries or at - last.created_at >= timedelta(
        seconds=cadence.seconds
    )


def checkpoint_if_due(db: Session, signer: Signer, cadence: Cadence, *, at: datetime) -> None:
    """Store a checkpoint when one is due; commits its own work."""
    if not due(db, cadence, at=at):
        db.rollback()
        return
    store_checkpoint(db, signer, at=at)


def store_checkpoint(db: Session, signer: Signer, *, at: datetime) -> LedgerCheckpoint | None:
    """Sign and commit a checkpoint at the current size; None when another process
    stored that size a moment ago (nothing left to do)."""
    try:
        checkpoint = make_checkpoint(db, signer, at=at)
        db.commit()
    except IntegrityError:
        db.rollback()
        return None
    return checkpoint
