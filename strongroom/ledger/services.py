"""``record_event``: the one way anything is written to the ledger.

An append runs inside the caller's transaction, so the event commits or rolls back
with the change it records. It first increments the single ``ledger_head`` row: on
PostgreSQL that row lock serializes appends from every process; on SQLite the write
lock does (it is taken by that first write, in a transaction that has not read
anything stale). Then it writes the entry and the complete subtrees the new leaf
completes, reading one sibling hash per level: O(log n) rows per append.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from strongroom.ledger.canonical import canonical_bytes
from strongroom.ledger.merkle import leaf_hash, node_hash
from strongroom.ledger.models import SALT_BYTES, LedgerEntry, LedgerHead, LedgerNode
from strongroom.ledger.vocabulary import TAGS
from strongroom.logs import request_id_var

log = logging.getLogger(__name__)

EVENT_VERSION = 1
APPENDED = "strongroom.ledger.appended"
_MAX_DETAIL_TEXT = 256
# Detail keys that must never be written, whoever passes them: the ledger is read by
# auditors and exported, and a secret in it could never be taken back.
_FORBIDDEN_DETAIL_KEYS = frozenset(
    {"password", "new_password", "current_password", "token", "secret", "code", "otp"}
)


def event_time(moment: datetime) -> str:
    """RFC 3339, UTC, microseconds: ``2026-11-28T12:00:00.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_event(
    db: Session,
    tag: str,
    *,
    actor: str,
    target: str,
    details: Mapping[str, Any] | None = None,
    at: datetime,
) -> LedgerEntry:
    """Append an event to the ledger inside the caller's transaction (not committed here).

    ``actor`` and ``target`` are references such as ``user:42``, ``anonymous`` or
    ``username:alice``. Raises ``ValueError`` for a tag outside the vocabulary, a
    detail key that names a secret, or a detail value with no canonical form.
    """
    if tag not in TAGS:
        raise ValueError(f"unknown audit tag {tag!r}: add it to strongroom.ledger.vocabulary")
    clean = _clean_details(details)
    event: dict[str, Any] = {
        "v": EVENT_VERSION,
        "time": event_time(at),
        "tag": tag,
        "actor": actor[:128],
        "target": target[:128],
        "details": clean,
        "request_id": request_id_var.get(),
    }
    canonical_bytes(event)  # refuse unencodable details before taking the lock
    index = _claim_index(db)
    event["index"] = index
    salt = secrets.token_bytes(SALT_BYTES)
    body = canonical_bytes(event)
    entry = LedgerEntry(
        index=index,
        occurred_at=at,
        tag=tag,
        actor=event["actor"],
        target=event["target"],
        details=clean,
        request_id=event["request_id"],
        salt=salt,
        event=body,
        leaf_hash=leaf_hash(salt + body),
    )
    db.add(entry)
    _store_completed_subtrees(db, index, entry.leaf_hash)
    db.info[APPENDED] = True  # the web layer then checks whether a checkpoint is due
    log.info("ledger %s", tag, extra={"audit_tag": tag, "actor": entry.actor, "index": index})
    return entry


def _clean_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    clean = dict(details or {})
    leaked = _FORBIDDEN_DETAIL_KEYS & {key.lower() for key in clean}
    if leaked:
        raise ValueError(f"audit details must not carry secrets ({', '.join(sorted(leaked))})")
    for key, value in clean.items():
        if isinstance(value, str) and len(value) > _MAX_DETAIL_TEXT:
            clean[key] = value[:_MAX_DETAIL_TEXT]
    return clean


def _claim_index(db: Session) -> int:
    """Take the next index; the UPDATE holds the head row (and so the log) until commit."""
    size = db.execute(
        update(LedgerHead).where(LedgerHead.id == 1).values(size=LedgerHead.size + 1)
        .returning(LedgerHead.size)
    ).scalar_one()  # fmt: skip
    return int(size) - 1


def _store_completed_subtrees(db: Session, index: int, leaf: bytes) -> None:
    """Write the hash of every complete subtree that leaf ``index`` completes."""
    current, level, position = leaf, 0, index
    while position & 1:
        sibling = subtree_hash(db, level, position - 1)
        current = node_hash(sibling, current)
        level, position = level + 1, position >> 1
        db.add(LedgerNode(level=level, index=position, hash=current))


def subtree_hash(db: Session, level: int, index: int) -> bytes:
    """The stored hash of complete subtree ``(level, index)`` (level 0: a leaf hash)."""
    if level == 0:
        found = db.scalar(select(LedgerEntry.leaf_hash).where(LedgerEntry.index == index))
    else:
        found = db.scalar(
            select(LedgerNode.hash).where(LedgerNode.level == level, LedgerNode.index == index)
        )
    if found is None:
        raise LookupError(f"subtree ({level}, {index}) is not stored")
    return found


REDACT_TAG = "ledger:entry:redact"


def redact_entry(db: Session, index: int, *, actor: str, reason: str, at: datetime) -> LedgerEntry:
    """Erase an entry's event (GDPR), keep its leaf hash, and record the redaction.

    Raises ``LookupError`` for no such entry and ``ValueError`` when it is already
    redacted or is itself a redaction (those name what was erased and must stay).
    """
    entry = db.get(LedgerEntry, index, with_for_update=True)
    if entry is None:
        raise LookupError(f"no entry {index}")
    if entry.event is None:
        raise ValueError(f"entry {index} is already redacted")
    if entry.tag == REDACT_TAG:
        raise ValueError("a redaction cannot be redacted")
    kept = entry.leaf_hash
    entry.event = None
    entry.salt = None
    entry.details = {}
    entry.actor = "redacted"
    entry.target = "redacted"
    entry.request_id = None
    entry.redacted_at = at
    return record_event(
        db, REDACT_TAG, actor=actor, target=f"entry:{index}",
        details={"index": index, "leaf_hash": kept.hex(), "reason": reason}, at=at,
    )  # fmt: skip
