"""Ledger events in plain words: what happened (from the tag) and who did it or to
whom (from ``user:<id>`` and other references).

The pages hand these to their scripts as data attributes, so the words a person reads
are the same with or without JavaScript, while the facts themselves (tag, actor,
time, details) come, once the script runs, from the verified event bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from strongroom.admin.monitoring import usernames
from strongroom.files.models import StoredFile
from strongroom.ledger.models import LedgerEntry
from strongroom.ledger.vocabulary import TAGS

# Short labels for the events a file's owner reads in its history; any other tag is
# shown with its meaning from the vocabulary.
SHORT = {
    "file:upload": "Uploaded",
    "file:download": "Downloaded",
    "file:rename": "Renamed",
    "file:delete": "Deleted",
    "file:corrupt": "Found damaged in storage",
    "access:denied": "Access refused",
    "grant:create": "Shared with a person",
    "grant:update": "Share changed",
    "grant:revoke": "Sharing stopped",
    "grant:decline": "Removed by the person it was shared with",
    "link:create": "Share link created",
    "link:revoke": "Share link revoked",
    "link:use": "Downloaded through a share link",
    "account:register": "Account created",
    "account:signin:success": "Signed in",
    "account:signin:failure": "Sign-in failed",
    "account:signout": "Signed out",
    "account:password:change": "Password changed",
    "account:2fa:enable": "Two-factor authentication turned on",
    "account:2fa:disable": "Two-factor authentication turned off",
    "ledger:entry:redact": "An entry's personal data was erased",
}
LABELS = {tag: SHORT.get(tag, meaning[:1].upper() + meaning[1:]) for tag, meaning in TAGS.items()}
LABELS_JSON = json.dumps(LABELS, separators=(",", ":"))


def ref_words(ref: str, names: dict[str, str]) -> str:
    """``user:7`` -> "alice"; the others as a person would say them."""
    if ref in names:
        return names[ref]
    if ref == "anonymous":
        return "someone not signed in"
    if ref.startswith("link:"):
        return "someone with a share link"
    if ref.startswith("system"):
        return "Strongroom itself"
    if ref.startswith("user:"):
        return f"a deleted account ({ref})"
    return ref


def names_for(db: Session, entries: Iterable[LedgerEntry], *, owner_id: int) -> dict[str, str]:
    """Every actor and target of ``entries`` in words, keyed by its reference; files
    by name when ``owner_id`` owns them (nobody else learns a name from here)."""
    rows = list(entries)
    known = usernames(db, rows) | _own_file_names(db, rows, owner_id)
    return {ref: ref_words(ref, known) for row in rows for ref in (row.actor, row.target)}


def _own_file_names(db: Session, rows: list[LedgerEntry], owner_id: int) -> dict[str, str]:
    ids = {row.target.removeprefix("file:") for row in rows if row.target.startswith("file:")}
    if not ids:
        return {}
    found = db.execute(
        select(StoredFile.id, StoredFile.name)
        .where(StoredFile.id.in_(ids))
        .where(StoredFile.owner_id == owner_id)
    ).all()
    return {f"file:{file_id}": f"“{name}”" for file_id, name in found}
