"""Master key rotation: re-wrap every data key under the current master key version.

Only the wrapped keys change; blobs are never rewritten (the data key, and so the
ciphertext, stay the same). The work goes in batches, each its own transaction with
its own ``keys:rewrap`` ledger entry, so an interrupted rotation has lost nothing:
every row is wrapped by either the old or the new version, both of which the keyring
still holds, and running it again carries on where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from strongroom.crypto.keys import KeyProvider, WrappedKey
from strongroom.db import Database
from strongroom.files.models import StoredFile
from strongroom.ledger.services import record_event

BATCH_SIZE = 500
KEYS_TARGET = "keys:master"


@dataclass(frozen=True)
class RotationReport:
    version: str
    rewrapped: int
    batches: int


def pending(db: Session, keys: KeyProvider) -> int:
    """Files whose data key is not wrapped by the current version."""
    current = keys.current_version()
    return db.scalar(select(func.count()).where(StoredFile.key_version != current)) or 0


def rewrap_batch(
    db: Session, keys: KeyProvider, *, actor: str, at: datetime, batch_size: int = BATCH_SIZE
) -> int:
    """Re-wrap up to ``batch_size`` data keys (the caller commits); returns how many.

    Raises ``MasterKeyUnavailable`` / ``UnwrapFailed`` when an old key is missing or
    wrong: nothing of the batch is then changed.
    """
    current = keys.current_version()
    rows = db.scalars(
        select(StoredFile)
        .where(StoredFile.key_version != current)
        .order_by(StoredFile.id)
        .limit(batch_size)
        .with_for_update()
    ).all()
    if not rows:
        return 0
    old_versions = sorted({row.key_version for row in rows})
    for row in rows:
        data_key = keys.unwrap(WrappedKey(row.key_version, row.wrapped_key), file_id=row.id)
        wrapped = keys.wrap(data_key, file_id=row.id)
        row.key_version, row.wrapped_key = wrapped.version, wrapped.blob
    record_event(
        db,
        "keys:rewrap",
        actor=actor,
        target=KEYS_TARGET,
        details={"files": len(rows), "from": ",".join(old_versions), "to": current},
        at=at,
    )
    return len(rows)


def rewrap_all(
    database: Database,
    keys: KeyProvider,
    *,
    actor: str,
    now: Callable[[], datetime],
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] = lambda _done: None,
) -> RotationReport:
    """Re-wrap every data key not under the current version, batch by batch, then
    ledger ``keys:rotate:complete``."""
    done = batches = 0
    while True:
        with database.session() as db:
            count = rewrap_batch(db, keys, actor=actor, at=now(), batch_size=batch_size)
            db.commit()
        if count == 0:
            break
        done, batches = done + count, batches + 1
        progress(done)
    with database.session() as db:
        record_event(
            db,
            "keys:rotate:complete",
            actor=actor,
            target=KEYS_TARGET,
            details={"version": keys.current_version(), "rewrapped": done},
            at=now(),
        )
        db.commit()
    return RotationReport(version=keys.current_version(), rewrapped=done, batches=batches)


def record_new_version(
    database: Database, *, version: str, fingerprint: str, actor: str, at: datetime
) -> None:
    """Ledger that master key ``version`` (identified by its fingerprint) was added."""
    with database.session() as db:
        record_event(
            db,
            "keys:version:add",
            actor=actor,
            target=KEYS_TARGET,
            details={"version": version, "fingerprint": fingerprint},
            at=at,
        )
        db.commit()
