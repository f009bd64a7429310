"""What ``strongroom maintenance run`` deletes, and when a row counts as over.

Two kinds of rows:

- Credentials nobody can see or use once they are over: sessions (absolute or idle
  expiry) and half-finished sign-ins (2FA challenges). They go as soon as they end;
  they hold token hashes, IP addresses and user agents, which are not kept longer than
  they serve. The app already deletes such a row when it meets it; this catches the
  ones nobody presents again. Not ledgered: nothing anyone could observe changes.
- Records people still see for a while after they end: grants and share links (the
  owner's sharing page marks them expired, revoked or used up, and can extend a grant;
  a link's holder is told "expired" rather than "no such link"), invitations and
  personal access tokens (kept for incident response: who created it, when it was
  last used). They go ``maintenance_retention_days`` after they ended, in batches,
  each batch in its own transaction with one ``maintenance:purge`` ledger entry naming
  the rows, so an auditor can tell a purge from a row that vanished otherwise. Their
  history (create, use, change, revoke) is in the ledger already and stays.

A share link used up has no "ended at" of its own: the time of its last counted use,
from the ledger's ``link:use`` entries (indexed by actor), stands in for it, or its
creation when that entry was redacted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from strongroom.auth.models import AccessToken, AuthSession, Invite, LoginChallenge
from strongroom.ledger.models import LedgerEntry
from strongroom.ledger.services import record_event
from strongroom.sharing.models import Grant, ShareLink

BATCH = 500
PURGE_TAG = "maintenance:purge"
ACTOR = "system:maintenance"


@dataclass(frozen=True)
class Cutoffs:
    """``now``; sessions idle since before ``idle``; records ended before ``ended``."""

    now: datetime
    idle: datetime
    ended: datetime


@dataclass(frozen=True)
class Purge:
    """One kind of row: its key column and which rows are over at ``Cutoffs``."""

    name: str
    key: InstrumentedAttribute[Any]
    over: Callable[[Cutoffs], ColumnElement[bool]]
    ledgered: bool


def _link_used_up(ended: datetime) -> ColumnElement[bool]:
    last_use = (
        select(func.max(LedgerEntry.occurred_at))
        .where(LedgerEntry.actor == literal("link:") + ShareLink.id, LedgerEntry.tag == "link:use")
        .scalar_subquery()
    )
    return and_(
        ShareLink.max_downloads.is_not(None),
        ShareLink.downloads >= ShareLink.max_downloads,
        func.coalesce(last_use, ShareLink.created_at) <= ended,
    )


PURGES = (
    Purge(
        "sessions",
        AuthSession.id,
        lambda c: or_(AuthSession.expires_at <= c.now, AuthSession.last_seen_at <= c.idle),
        ledgered=False,
    ),
    Purge(
        "login_challenges",
        LoginChallenge.id,
        lambda c: LoginChallenge.expires_at <= c.now,
        ledgered=False,
    ),
    Purge(
        "invites",
        Invite.id,
        lambda c: or_(
            Invite.used_at <= c.ended, Invite.revoked_at <= c.ended, Invite.expires_at <= c.ended
        ),
        ledgered=True,
    ),
    Purge(
        "access_tokens",
        AccessToken.id,
        lambda c: or_(AccessToken.revoked_at <= c.ended, AccessToken.expires_at <= c.ended),
        ledgered=True,
    ),
    Purge("grants", Grant.id, lambda c: Grant.expires_at <= c.ended, ledgered=True),
    Purge(
        "share_links",
        ShareLink.id,
        lambda c: or_(
            ShareLink.revoked_at <= c.ended,
            ShareLink.expires_at <= c.ended,
            _link_used_up(c.ended),
        ),
        ledgered=True,
    ),
)


def cutoffs(now: datetime, *, idle_timeout: int, retention_days: int) -> Cutoffs:
    return Cutoffs(
        now=now,
        idle=now - timedelta(seconds=idle_timeout),
        ended=now - timedelta(days=retention_days),
    )


def purge_batch(db: Session, purge: Purge, at: Cutoffs) -> tuple[int, int]:
    """Delete up to ``BATCH`` rows that are over (the caller commits); returns how many
    were found and how many went.

    The DELETE repeats the condition, so a row changed since it was selected (a grant
    extended a moment ago) stays; the ledger entry names exactly the rows deleted.
    """
    condition = purge.over(at)
    ids = db.scalars(select(purge.key).where(condition).order_by(purge.key).limit(BATCH)).all()
    if not ids:
        return 0, 0
    table = purge.key.class_
    gone = sorted(
        db.scalars(
            delete(table)
            .where(purge.key.in_(ids), condition)
            .returning(purge.key)
            .execution_options(synchronize_session=False)
        ).all()
    )
    if gone and purge.ledgered:
        record_event(
            db,
            PURGE_TAG,
            actor=ACTOR,
            target=f"table:{table.__tablename__}",
            details={"count": len(gone), "ids": gone, "ended_before": at.ended.isoformat()},
            at=at.now,
        )
    return len(ids), len(gone)
