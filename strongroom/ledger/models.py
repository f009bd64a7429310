"""``audit_events``: the append-only table behind ``record_event``.

The ledger issue turns these rows into the leaves of a Merkle log; until then they
are plain rows, written in the same transaction as the change they record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from strongroom.db import Base, UTCDateTime


class AuditEvent(Base):
    """One thing that happened: who (``actor``) did what (``tag``) to what (``target``)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_target", "target"),
        Index("ix_audit_events_actor", "actor"),
    )

    id: Mapped[int] = mapped_column(
        # SQLite only autoincrements an INTEGER primary key (the rowid).
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    tag: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    target: Mapped[str] = mapped_column(String(128), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(128))
