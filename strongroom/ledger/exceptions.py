"""The ledger's request-level failures; ``strongroom.errors`` maps them to problems."""

from __future__ import annotations

from strongroom.exceptions import StrongroomError


class LedgerError(StrongroomError):
    """Base of the ledger's request failures."""


class EntryNotFound(LedgerError):
    """No such entry (or not one this caller may see)."""


class BadTreeRequest(LedgerError):
    """A size, index or range the log cannot answer (beyond the tree, reversed...)."""


class NotRedactable(LedgerError):
    """The entry is already redacted, or is itself a redaction."""
