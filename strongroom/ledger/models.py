"""Tables of the ledger (``docs/spec/ledger.md``).

- ``ledger_entries``: one row per event, at its index: the canonical event bytes and
  salt (the truth that is hashed), the leaf hash, and copies of tag/actor/target/time
  for queries (``ledger verify`` checks they agree with the bytes).
- ``ledger_nodes``: the hash of every complete subtree above the leaves.
- ``ledger_head``: one row holding the size; appends lock it, so the log never forks.
- ``ledger_checkpoints``: every signed tree head, kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column, synonym

from strongroom.db import Base, UTCDateTime

SALT_BYTES = 16


class LedgerEntry(Base):
    """One event at its position in the log."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_target", "target"),
        Index("ix_ledger_entries_actor", "actor"),
    )

    index: Mapped[int] = mapped_column("idx", BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    tag: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    target: Mapped[str] = mapped_column(String(128), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(128))
    # None once redacted (the marker {"redacted":true} is what readers see then).
    salt: Mapped[bytes | None] = mapped_column(LargeBinary(SALT_BYTES))
    event: Mapped[bytes | None] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # The entry's index under the name audit code has always used.
    id: Mapped[int] = synonym("index")


# The name the accounts code and its tests use for the same rows.
AuditEvent = LedgerEntry


class LedgerNode(Base):
    """The hash of the complete subtree ``(level, index)``, level >= 1."""

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    index: Mapped[int] = mapped_column("idx", BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class LedgerHead(Base):
    """The single row with the log's size; every append updates (and so locks) it."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)


class LedgerCheckpoint(Base):
    """A signed tree head (C2SP signed note)."""

    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
