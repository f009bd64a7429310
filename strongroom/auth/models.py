"""Tables of the accounts domain.

Secrets are never stored as given: passwords as Argon2id hashes, session tokens,
personal access tokens, invitations, 2FA challenges and recovery codes as SHA-256
hashes (they are 256-bit random values, so a fast hash is enough), and the TOTP seed
encrypted under a key derived from the secret key.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from strongroom.db import Base, UTCDateTime

HASH_BYTES = 32
# The audit trail names rows by id ("user:42"); SQLite would hand a deleted row's id
# to the next insert without AUTOINCREMENT, and history would then point at someone
# else. PostgreSQL sequences never go back anyway.
_NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class Status(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as the value ("admin"), checked by a CHECK constraint on every database.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class User(Base):
    """An account. ``username`` is the normalised (lower-case ASCII) form, unique."""

    __tablename__ = "users"
    __table_args__ = _NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    email: Mapped[str | None] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), nullable=False, default=Role.USER)
    status: Mapped[Status] = mapped_column(
        _enum(Status, "status"), nullable=False, default=Status.ACTIVE
    )
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # TOTP: the seed encrypted (nonce || AES-GCM ciphertext), pending until confirmed.
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary(128))
    totp_pending_secret: Mapped[bytes | None] = mapped_column(LargeBinary(128))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last 30-second step whose code was accepted: codes of that step or earlier
    # are refused, so an observed code cannot be replayed within its window.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)

    sessions: Mapped[list[AuthSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_active(self) -> bool:
        return self.status is Status.ACTIVE

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_secret is not None


def _owner() -> Mapped[int]:
    return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)


class AuthSession(Base):
    """A signed-in session: a browser cookie or a bearer token from ``/auth/login``."""

    __tablename__ = "sessions"
    __table_args__ = _NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = _owner()
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_BYTES), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    user_agent: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    ip: Mapped[str] = mapped_column(String(64), nullable=False, default="")

    user: Mapped[User] = relationship(back_populates="sessions")


class LoginChallenge(Base):
    """A half-finished sign-in: the password was right, a 2FA code is awaited."""

    __tablename__ = "login_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = _owner()
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_BYTES), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class AccessToken(Base):
    """A personal access token (``srp_...``) with scopes, for scripts and the CLI."""

    __tablename__ = "access_tokens"
    __table_args__ = _NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = _owner()
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_BYTES), unique=True, nullable=False)
    # The first characters after the prefix, shown in lists so people can tell tokens apart.
    hint: Mapped[str] = mapped_column(String(16), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class RecoveryCode(Base):
    """One of the single-use codes that stand in for the authenticator app."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = _owner()
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_BYTES), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Invite(Base):
    """A single-use, expiring invitation to register (``STRONGROOM_REGISTRATION=invite``)."""

    __tablename__ = "invites"
    __table_args__ = _NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_BYTES), unique=True, nullable=False)
    note: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    role: Mapped[Role] = mapped_column(
        _enum(Role, "invite_role"), nullable=False, default=Role.USER
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
