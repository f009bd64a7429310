"""The ``files`` table: one row per stored file, pointing at its encrypted blob.

The row is written only after the blob is complete and durable (DESIGN.md section 3),
in the same transaction as the ``file:upload`` ledger entry, so a row always has its
blob; a blob without a row (a crash in between) is collected by ``storage gc``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from strongroom.auth.models import User
from strongroom.db import Base, UTCDateTime

FILE_ID_LENGTH = 24  # 18 random bytes, URL-safe base64: 144 bits, unguessable
BLOB_KEY_LENGTH = 32  # 24 random bytes; never derived from the id or the name
MAX_ORIGINAL_NAME_BYTES = 4096


class StoredFile(Base):
    """A file: its metadata, its content commitments and its wrapped data key."""

    __tablename__ = "files"
    __table_args__ = (
        Index("ix_files_owner_name", "owner_id", "name_key"),
        Index("ix_files_owner_created", "owner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(FILE_ID_LENGTH), primary_key=True)
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # The cleaned name shown everywhere, its case-folded key for search and sort, and
    # the name exactly as the client sent it (UTF-8 bytes, never rendered as markup).
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    name_key: Mapped[str] = mapped_column(String(255), nullable=False)
    original_name: Mapped[bytes] = mapped_column(
        LargeBinary(MAX_ORIGINAL_NAME_BYTES), nullable=False
    )
    content_type: Mapped[str] = mapped_column(String(127), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    # The blob: where it is and what it must hash to (scrub compares against the ledger).
    blob_key: Mapped[str] = mapped_column(String(BLOB_KEY_LENGTH), unique=True, nullable=False)
    ciphertext_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ciphertext_sha256: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    segment_size: Mapped[int] = mapped_column(Integer, nullable=False)
    # The data key wrapped by master key ``key_version`` of provider ``key_provider``.
    key_provider: Mapped[str] = mapped_column(String(32), nullable=False)
    key_version: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(512), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # The ledger entry that committed to this content (``file:upload``).
    upload_entry: Mapped[int] = mapped_column(BigInteger, nullable=False)

    owner: Mapped[User] = relationship()

    @property
    def ref(self) -> str:
        """How the ledger names this file."""
        return f"file:{self.id}"
