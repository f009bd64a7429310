"""Roots and proofs from the stored subtrees: O(log n) rows each, in one query.

``tree_size`` is always an explicit argument: proofs are against a size the caller
names (usually a checkpoint's), never "whatever the log holds now".
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from strongroom.ledger.merkle import (
    Node,
    ProofError,
    Range,
    consistency_ranges,
    inclusion_ranges,
    range_hash,
    split_range,
)
from strongroom.ledger.models import LedgerEntry, LedgerHead, LedgerNode


def begin_snapshot(db: Session, purpose: str, *, strict: bool = True) -> None:
    """Read everything that follows from one snapshot of the ledger.

    Long readers (full verification, export) must not see entries appended while they
    run: PostgreSQL gets REPEATABLE READ; SQLite's deferred read transaction is one
    snapshot in WAL mode and never blocks writers. ``db`` must not be in a transaction;
    with ``strict=False`` a transaction already begun is used as it is.
    """
    if db.in_transaction():
        if not strict:
            return
        raise ValueError(f"{purpose} needs a session that has not begun a transaction")
    dialect = db.get_bind().dialect.name
    isolation = {"isolation_level": "REPEATABLE READ"} if dialect == "postgresql" else {}
    db.connection(execution_options=isolation)


def current_size(db: Session) -> int:
    return int(db.scalar(select(LedgerHead.size).where(LedgerHead.id == 1)) or 0)


def _check_size(db: Session, tree_size: int) -> None:
    size = current_size(db)
    if not 0 <= tree_size <= size:
        raise ProofError(f"the log has {size} entries; there is no tree of size {tree_size}")


def fetch_nodes(db: Session, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of ``nodes`` (leaf hashes for level 0), in two queries at most."""
    wanted = set(nodes)
    leaves = sorted(index for level, index in wanted if level == 0)
    inner = [(level, index) for level, index in wanted if level > 0]
    found: dict[Node, bytes] = {}
    if leaves:
        rows = db.execute(
            select(LedgerEntry.index, LedgerEntry.leaf_hash).where(LedgerEntry.index.in_(leaves))
        )
        found.update({(0, index): digest for index, digest in rows})
    if inner:
        # One row-value IN list: cheaper to build and to plan than an OR of pairs.
        condition = tuple_(LedgerNode.level, LedgerNode.index).in_(inner)
        nodes = db.execute(
            select(LedgerNode.level, LedgerNode.index, LedgerNode.hash).where(condition)
        )
        found.update({(level, index): digest for level, index, digest in nodes})
    missing = wanted - found.keys()
    if missing:
        raise LookupError(f"stored subtrees missing: {sorted(missing)[:5]}")
    return found


def _hashes(db: Session, ranges: list[Range]) -> list[bytes]:
    nodes = fetch_nodes(db, (node for a, b in ranges for node in split_range(a, b)))
    return [range_hash(a, b, nodes.__getitem__) for a, b in ranges]


def root_at(db: Session, tree_size: int) -> bytes:
    """The root hash of the log's first ``tree_size`` entries."""
    _check_size(db, tree_size)
    return _hashes(db, [(0, tree_size)])[0]


def inclusion_proof(db: Session, index: int, tree_size: int) -> list[bytes]:
    _check_size(db, tree_size)
    return _hashes(db, inclusion_ranges(index, tree_size))


def consistency_proof(db: Session, old_size: int, new_size: int) -> list[bytes]:
    _check_size(db, new_size)
    return _hashes(db, consistency_ranges(old_size, new_size))
