"""Share links: anyone holding a link's token may download its one file.

A token is 256 random bits (``secrets.token_urlsafe(32)``) shown once, at creation;
only its SHA-256 is stored. With that much entropy there is nothing to brute-force,
so a plain fast hash suffices, and looking a link up *by the hash* makes the lookup
constant-time by construction: no comparison ever runs over the secret itself.

A link's own checks (revoked, expired, used up, password) live here; whether a link
holder may touch a file is ``sharing.policy``'s decision, as for everyone else.
Downloads are counted by one conditional UPDATE, so concurrent uses can never pass
``max_downloads``, whatever the number of processes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from strongroom.auth.passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from strongroom.auth.passwords import Passwords
from strongroom.files.models import StoredFile
from strongroom.ledger.services import record_event
from strongroom.sharing.exceptions import (
    CannotShare,
    LinkExhausted,
    LinkExpired,
    LinkNotFound,
    LinkPasswordRequired,
)
from strongroom.sharing.models import LINK_ID_LENGTH, MAX_NOTE_LENGTH, ShareLink

TOKEN_BYTES = 32  # 256 bits
MAX_TOKEN_LENGTH = 64  # token_urlsafe(32) is 43 characters; anything longer is no token
MAX_DOWNLOADS = 10_000

__all__ = [
    "MAX_DOWNLOADS",
    "MAX_NOTE_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "check_password",
    "count_use",
    "create_link",
    "downloads_left",
    "list_links",
    "resolve",
    "revoke_link",
    "token_hash",
]


def token_hash(token: str) -> bytes:
    """The stored form of a token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def create_link(
    db: Session,
    file: StoredFile,
    *,
    expires_at: datetime | None,
    password: str | None,
    max_downloads: int | None,
    note: str,
    actor: str,
    now: datetime,
    passwords: Passwords,
) -> tuple[ShareLink, str]:
    """A new link to ``file`` and its token (the only time the token exists in clear).

    The caller has authorized ``actor`` to share ``file`` and commits. Raises
    ``CannotShare`` for an expiry not in the future or a bound exceeded.
    """
    _check_terms(expires_at=expires_at, password=password, max_downloads=max_downloads,
                 note=note, now=now)  # fmt: skip
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ShareLink(
        # 12 random bytes: ids name links in lists and the ledger, they grant nothing.
        id=secrets.token_urlsafe(LINK_ID_LENGTH * 3 // 4),
        file_id=file.id,
        token_hash=token_hash(token),
        # An empty password is no password: a link anyone could "guess" open.
        password_hash=passwords.hash(password) if password else None,
        expires_at=expires_at,
        max_downloads=max_downloads,
        downloads=0,
        note=note,
        created_at=now,
    )
    db.add(link)
    db.flush()
    record_event(
        db,
        "link:create",
        actor=actor,
        target=file.ref,
        details={
            "link": link.id,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "max_downloads": max_downloads,
            "has_password": link.password_hash is not None,
        },
        at=now,
    )
    return link, token


def _check_terms(
    *,
    expires_at: datetime | None,
    password: str | None,
    max_downloads: int | None,
    note: str,
    now: datetime,
) -> None:
    if expires_at is not None and expires_at <= now:
        raise CannotShare("The expiry must be in the future.")
    if max_downloads is not None and not 1 <= max_downloads <= MAX_DOWNLOADS:
        raise CannotShare(f"max_downloads must be between 1 and {MAX_DOWNLOADS}.")
    if len(note) > MAX_NOTE_LENGTH:
        raise CannotShare(f"The note may have at most {MAX_NOTE_LENGTH} characters.")
    if password is not None and len(password) > MAX_PASSWORD_LENGTH:
        raise CannotShare(f"The password may have at most {MAX_PASSWORD_LENGTH} characters.")


def list_links(db: Session, file: StoredFile) -> Sequence[ShareLink]:
    """Every link of ``file``, revoked and expired ones included, newest first."""
    return db.scalars(
        select(ShareLink)
        .where(ShareLink.file_id == file.id)
        .order_by(ShareLink.created_at.desc(), ShareLink.id)
    ).all()


def revoke_link(
    db: Session, file: StoredFile, link_id: str, *, actor: str, now: datetime
) -> ShareLink:
    """Revoke ``file``'s link ``link_id`` (the caller commits); raises ``LinkNotFound``.

    Revoking twice is not an error: the first time stays recorded.
    """
    link = db.scalars(
        select(ShareLink).where(ShareLink.id == link_id, ShareLink.file_id == file.id)
    ).one_or_none()
    if link is None:
        raise LinkNotFound("No such share link on this file.")
    if link.revoked_at is None:
        link.revoked_at = now
        record_event(
            db, "link:revoke", actor=actor, target=file.ref, details={"link": link.id}, at=now
        )
        db.flush()
    return link


def resolve(db: Session, token: str, *, now: datetime) -> ShareLink:
    """The live link ``token`` opens.

    Raises ``LinkNotFound`` for an unknown or revoked token (one answer: a revoked
    link tells its holder nothing more), ``LinkExpired``, ``LinkExhausted``.
    """
    link = None
    if 0 < len(token) <= MAX_TOKEN_LENGTH:
        link = db.scalars(
            select(ShareLink).where(ShareLink.token_hash == token_hash(token))
        ).one_or_none()
    if link is None or link.revoked_at is not None:
        raise LinkNotFound("No such share link (or it was revoked).")
    _check_live(link, now)
    return link


def _check_live(link: ShareLink, now: datetime) -> None:
    if link.expires_at is not None and now >= link.expires_at:
        raise LinkExpired("This share link has expired.")
    if link.max_downloads is not None and link.downloads >= link.max_downloads:
        raise LinkExhausted("This share link has been used as often as it may be.")


def check_password(passwords: Passwords, password_hash: str | None, password: str | None) -> None:
    """Pass when the link needs no password or ``password`` is its password.

    Raises ``LinkPasswordRequired`` otherwise. A missing password costs as much as a
    wrong one (a dummy verification), so timing tells nothing either.
    """
    if password_hash is None:
        return
    if not password or len(password) > MAX_PASSWORD_LENGTH:
        passwords.burn(password or "")
        raise LinkPasswordRequired("This share link needs its password.")
    if not passwords.verify(password_hash, password).ok:
        raise LinkPasswordRequired("This share link needs its password.")


def count_use(
    db: Session,
    link_id: str,
    *,
    file: StoredFile,
    byte_range: tuple[int, int] | None,
    now: datetime,
) -> None:
    """Count one download over link ``link_id`` and ledger it (the caller commits).

    One conditional UPDATE both checks and counts, so of any number of concurrent
    uses exactly as many as are left succeed. Raises ``LinkNotFound``,
    ``LinkExpired`` or ``LinkExhausted`` when the link is no longer live.
    """
    result: CursorResult[Any] = db.execute(  # type: ignore[assignment]
        update(ShareLink)
        .where(
            ShareLink.id == link_id,
            ShareLink.revoked_at.is_(None),
            or_(ShareLink.max_downloads.is_(None), ShareLink.downloads < ShareLink.max_downloads),
            or_(ShareLink.expires_at.is_(None), ShareLink.expires_at > now),
        )
        .values(downloads=ShareLink.downloads + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        _why_not_live(db, link_id, now)
    details: dict[str, object] = {"link": link_id, "size": file.size}
    if byte_range is not None:
        details["range"] = f"{byte_range[0]}-{byte_range[1]}"
    record_event(db, "link:use", actor=f"link:{link_id}", target=file.ref, details=details, at=now)


def _why_not_live(db: Session, link_id: str, now: datetime) -> None:
    """Raise the reason the link ``link_id`` could not be counted."""
    link = db.get(ShareLink, link_id, populate_existing=True)
    if link is None or link.revoked_at is not None:
        raise LinkNotFound("No such share link (or it was revoked).")
    _check_live(link, now)
    raise LinkExhausted("This share link has been used as often as it may be.")


def downloads_left(link: ShareLink) -> int | None:
    """How many downloads the link still allows; ``None``: no limit."""
    if link.max_downloads is None:
        return None
    return max(0, link.max_downloads - link.downloads)
