"""Every table of every domain, imported in one place for Alembic and the tests."""

from __future__ import annotations

from strongroom.auth.models import (
    AccessToken,
    AuthSession,
    Invite,
    LoginChallenge,
    RecoveryCode,
    User,
)
from strongroom.db import Base
from strongroom.files.models import StoredFile
from strongroom.ledger.models import (
    AuditEvent,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerHead,
    LedgerNode,
)
from strongroom.sharing.models import Grant, ShareLink

__all__ = [
    "AccessToken",
    "AuditEvent",
    "AuthSession",
    "Base",
    "Grant",
    "Invite",
    "LedgerCheckpoint",
    "LedgerEntry",
    "LedgerHead",
    "LedgerNode",
    "LoginChallenge",
    "RecoveryCode",
    "ShareLink",
    "StoredFile",
    "User",
]
