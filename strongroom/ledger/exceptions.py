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


class LedgerMismatch(Exception):
    """Stored or exported ledger data that does not add up (never a request error).

    ``where`` names the first bad place (an entry, subtree, checkpoint, file or line),
    ``what`` says what is wrong with it.
    """

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what
