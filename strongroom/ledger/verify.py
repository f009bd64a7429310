"""``ledger verify``: recompute everything the database claims, report the first lie.

1. Entries: indices contiguous from 0; each event's bytes canonical, naming its own
   index and agreeing with the query columns; its leaf hash recomputed from salt and
   bytes. A redacted entry's kept leaf hash must be named by a later redaction event.
2. Nodes: level by level, every stored subtree hash recomputed from its two children,
   and no subtree missing or extra.
3. Head and checkpoints: the head's size is the number of entries; every checkpoint's
   root equals the root recomputed at its size, and its signature verifies.

Everything streams in index order, so memory stays flat at any log size. Nothing is
ever rewritten: the first mismatch raises ``LedgerTampered`` naming where it is.
"""

from __future__ import annotations

import hmac
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from strongroom.ledger.canonical import CanonicalError, parse_canonical
from strongroom.ledger.exceptions import LedgerMismatch
from strongroom.ledger.merkle import leaf_hash, node_hash
from strongroom.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead, LedgerNode
from strongroom.ledger.note import NoteError, Verifier, open_checkpoint
from strongroom.ledger.proofs import begin_snapshot, root_at
from strongroom.ledger.services import REDACT_TAG, event_time

BATCH = 5000


class LedgerTampered(LedgerMismatch):
    """The stored ledger does not add up; ``where`` names the first bad place."""


@dataclass(frozen=True)
class Report:
    entries: int
    nodes: int
    checkpoints: int
    redacted: int


def verify_ledger(db: Session, verifier: Verifier | None) -> Report:
    """Check the whole ledger, from one snapshot; raises ``LedgerTampered`` at the first
    mismatch. A fresh session reads one snapshot (``begin_snapshot``); a session already
    in a transaction is checked as that transaction sees the ledger."""
    begin_snapshot(db, "verify_ledger", strict=False)
    entries, redacted = _verify_entries(db)
    nodes = _verify_nodes(db, entries)
    head = db.scalar(select(LedgerHead.size).where(LedgerHead.id == 1))
    if head != entries:
        raise LedgerTampered("ledger_head", f"says {head} entries, the log holds {entries}")
    checkpoints = _verify_checkpoints(db, verifier)
    return Report(entries, nodes, checkpoints, redacted)


def _stream(db: Session, statement: Any) -> Iterator[Any]:
    """Rows in batches from a server-side cursor, closed however the caller stops."""
    result = db.execute(statement.execution_options(yield_per=BATCH)).scalars()
    try:
        yield from result
    finally:
        result.close()


# Plain rows, not ORM objects: building a million entities costs more than checking them.
_ENTRY_COLUMNS = (
    LedgerEntry.index,
    LedgerEntry.event,
    LedgerEntry.salt,
    LedgerEntry.leaf_hash,
    LedgerEntry.tag,
    LedgerEntry.actor,
    LedgerEntry.target,
    LedgerEntry.occurred_at,
    LedgerEntry.details,
    LedgerEntry.request_id,
)


def _rows(db: Session, statement: Any) -> Iterator[Any]:
    result = db.execute(statement.execution_options(yield_per=BATCH))
    try:
        yield from result
    finally:
        result.close()


def _verify_entries(db: Session) -> tuple[int, int]:
    expected = 0
    redactions: dict[int, set[str]] = {}  # index -> leaf hashes vouched for by redactions
    redacted: dict[int, bytes] = {}
    for row in _rows(db, select(*_ENTRY_COLUMNS).order_by(LedgerEntry.index)):
        where = f"entry {expected}"
        if row.index != expected:
            raise LedgerTampered(where, f"missing: the next stored entry is {row.index}")
        for column in ("event", "salt", "leaf_hash"):
            if getattr(row, column) is not None and not isinstance(getattr(row, column), bytes):
                raise LedgerTampered(where, f"the {column} column holds text, not bytes")
        if row.event is None or row.salt is None:
            redacted[row.index] = row.leaf_hash
        else:
            event = _check_event(row, where)
            if row.tag == REDACT_TAG:
                _note_redaction(event, row.index, where, redactions)
        expected += 1
    for index, kept in redacted.items():
        if kept.hex() not in redactions.get(index, set()):
            raise LedgerTampered(
                f"entry {index}", "redacted, but no redaction event vouches for its leaf hash"
            )
    return expected, len(redacted)


def _note_redaction(
    event: dict[str, object], at: int, where: str, redactions: dict[int, set[str]]
) -> None:
    """Remember which leaf hash a redaction event vouches for (it must come later)."""
    details = event.get("details")
    index = details.get("index") if isinstance(details, dict) else None
    kept = details.get("leaf_hash") if isinstance(details, dict) else None
    if type(index) is not int or not isinstance(kept, str) or not 0 <= index < at:
        raise LedgerTampered(where, "a redaction event that names no earlier entry")
    redactions.setdefault(index, set()).add(kept)


def _check_event(row: Any, where: str) -> dict[str, object]:
    if row.event is None or row.salt is None:  # the caller handles redacted entries
        raise LedgerTampered(where, "expected an event, found a redacted entry")
    if not hmac.compare_digest(leaf_hash(row.salt + row.event), row.leaf_hash):
        raise LedgerTampered(where, "the leaf hash does not match the stored event")
    try:
        event = parse_canonical(row.event)
    except CanonicalError as err:
        raise LedgerTampered(where, f"the event bytes are not canonical JSON ({err})") from err
    if not isinstance(event, dict) or type(event.get("index")) is not int:
        raise LedgerTampered(where, "the event has no index")
    if event["index"] != row.index:
        raise LedgerTampered(where, "the event names another index")
    columns = {
        "tag": row.tag,
        "actor": row.actor,
        "target": row.target,
        "time": event_time(row.occurred_at),
        "details": row.details,
        "request_id": row.request_id,
    }
    for name, value in columns.items():
        if event.get(name) != value:
            raise LedgerTampered(where, f"the {name} column differs from the signed event")
    return event


def _children(db: Session, level: int) -> Generator[bytes, None, None]:
    if level == 0:
        query = select(LedgerEntry.leaf_hash).order_by(LedgerEntry.index)
    else:
        query = select(LedgerNode.hash).where(LedgerNode.level == level).order_by(LedgerNode.index)
    for digest in _stream(db, query):
        assert isinstance(digest, bytes)  # noqa: S101
        yield digest


def _verify_nodes(db: Session, size: int) -> int:
    checked = 0
    level = 1
    while size >> level:
        expected_count = size >> level
        count = db.scalar(select(func.count()).where(LedgerNode.level == level))
        if count != expected_count:
            raise LedgerTampered(
                f"level {level} subtrees", f"{count} stored, {expected_count} expected"
            )
        checked += _verify_level(db, level)
        level += 1
    return checked


def _verify_level(db: Session, level: int) -> int:
    children = _children(db, level - 1)
    stored = db.execute(
        select(LedgerNode.index, LedgerNode.hash)
        .where(LedgerNode.level == level)
        .order_by(LedgerNode.index)
        .execution_options(yield_per=BATCH)
    )
    checked = 0
    try:
        for position, (index, digest) in enumerate(stored):
            left, right = next(children), next(children)
            if index != position or not hmac.compare_digest(node_hash(left, right), digest):
                first = position << level
                raise LedgerTampered(
                    f"subtree ({level}, {index}) over entries {first}..{first + (1 << level) - 1}",
                    "its hash does not match its children",
                )
            checked += 1
    finally:
        stored.close()
        children.close()
    return checked


def _verify_checkpoints(db: Session, verifier: Verifier | None) -> int:
    count = 0
    for row in _stream(db, select(LedgerCheckpoint).order_by(LedgerCheckpoint.size)):
        assert isinstance(row, LedgerCheckpoint)  # noqa: S101
        where = f"checkpoint at size {row.size}"
        if not hmac.compare_digest(root_at(db, row.size), row.root):
            raise LedgerTampered(where, "its root differs from the log's root at that size")
        if verifier is not None:
            try:
                checkpoint = open_checkpoint(row.note, verifier)
            except NoteError as err:
                raise LedgerTampered(where, f"the signed note does not verify ({err})") from err
            if checkpoint.size != row.size or checkpoint.root != row.root:
                raise LedgerTampered(where, "the signed note names another size or root")
        count += 1
    return count
