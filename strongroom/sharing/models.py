"""The ``file_grants`` and ``share_links`` tables.

Both hang off a file with ``ON DELETE CASCADE`` (and grants off the grantee too), so
deleting a file or a user removes its grants and links in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from strongroom.auth.models import User
from strongroom.db import Base, UTCDateTime
from strongroom.files.models import FILE_ID_LENGTH, StoredFile

LINK_ID_LENGTH = 16  # 12 random bytes: an identifier for managing a link, not a secret
MAX_NOTE_LENGTH = 200


class Grant(Base):
    """``grantee`` may read ``file`` (metadata and content) until ``expires_at``."""

    __tablename__ = "file_grants"
    __table_args__ = (
        UniqueConstraint("file_id", "grantee_id", name="uq_file_grants_file_grantee"),
        Index("ix_file_grants_grantee", "grantee_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[str] = mapped_column(
        String(FILE_ID_LENGTH), ForeignKey("files.id", ondelete="CASCADE"), nullable=False
    )
    grantee_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    permission: Mapped[str] = mapped_column(String(16), nullable=False, default="read")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    file: Mapped[StoredFile] = relationship()
    grantee: Mapped[User] = relationship()

    @property
    def ref(self) -> str:
        return f"grant:{self.id}"

    def active_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


class ShareLink(Base):
    """A link to one file for anyone holding its token.

    Only the SHA-256 of the token is stored (the token has 256 bits, so a plain hash is
    enough: nothing to brute-force), and the optional password as an Argon2id hash.
    ``downloads`` is counted with a conditional UPDATE, so concurrent uses cannot pass
    ``max_downloads``.
    """

    __tablename__ = "share_links"
    __table_args__ = (Index("ix_share_links_file", "file_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(LINK_ID_LENGTH), primary_key=True)
    file_id: Mapped[str] = mapped_column(
        String(FILE_ID_LENGTH), ForeignKey("files.id", ondelete="CASCADE"), nullable=False
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True, nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    max_downloads: Mapped[int | None] = mapped_column(Integer)
    downloads: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    note: Mapped[str] = mapped_column(String(MAX_NOTE_LENGTH), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    file: Mapped[StoredFile] = relationship()

    @property
    def ref(self) -> str:
        return f"link:{self.id}"
