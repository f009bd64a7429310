"""A world of rows for the maintenance tests: for each kind, some that are over and
some that must stay, with times set relative to one clock."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apiflask import APIFlask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from strongroom.auth.models import AccessToken, AuthSession, Invite, LoginChallenge
from strongroom.context import get_database, get_settings
from strongroom.ledger.models import LedgerCheckpoint, LedgerEntry
from strongroom.ledger.services import record_event
from strongroom.ops.maintenance import Maintenance
from strongroom.sharing.models import Grant, ShareLink
from tests.auth_helpers import FakeClock, SignedIn, new_account
from tests.files_helpers import upload

DAY = timedelta(days=1)
RETENTION_DAYS = 30
LONG_AGO = timedelta(days=RETENTION_DAYS + 10)  # ended before the retention window
LATELY = DAY  # ended inside it: still listed as expired/revoked/used up


def _hash() -> bytes:
    return secrets.token_bytes(32)


@dataclass
class World:
    """Ids of the rows made, by kind: ``gone`` must be purged, ``kept`` must stay."""

    gone: dict[str, set[Any]] = field(default_factory=dict)
    kept: dict[str, set[Any]] = field(default_factory=dict)

    def add(self, kind: str, row_id: Any, *, purge: bool) -> None:
        (self.gone if purge else self.kept).setdefault(kind, set()).add(row_id)


MODELS: dict[str, Any] = {
    "sessions": AuthSession,
    "login_challenges": LoginChallenge,
    "invites": Invite,
    "access_tokens": AccessToken,
    "grants": Grant,
    "share_links": ShareLink,
}


def ids_of(app: APIFlask, kind: str) -> set[Any]:
    model = MODELS[kind]
    with app.app_context(), get_database().session(write=False) as db:
        return set(db.scalars(select(model.id)))


def build_world(app: APIFlask, now: datetime) -> World:
    """Accounts and files through the API, then rows of every kind around ``now``."""
    client = app.test_client()
    alice, bob, carol, dave = (new_account(client, name) for name in ("al", "bo", "ca", "da"))
    first = upload(client, alice, b"first file")["id"]
    second = upload(client, alice, b"second file")["id"]
    world = World()
    with app.app_context(), get_database().session() as db:
        idle = timedelta(seconds=get_settings().session_idle_timeout)
        _sessions(db, world, alice, now, idle)
        _challenges(db, world, alice, now)
        _invites(db, world, now)
        _tokens(db, world, alice, now)
        _grants(db, world, now, ((first, bob), (first, carol), (first, dave), (second, bob)))
        _links(db, world, first, now)
        db.commit()
    return world


def _sessions(db: Session, world: World, who: SignedIn, now: datetime, idle: timedelta) -> None:
    user = who.user["id"]
    rows = {
        # ended by its absolute lifetime, though used a moment ago
        (now - 2 * DAY, now - timedelta(seconds=5), now - timedelta(seconds=1)): True,
        # ended by idleness, its lifetime not yet over
        (now - DAY, now - idle - timedelta(seconds=1), now + DAY): True,
        # live
        (now - DAY, now - timedelta(seconds=30), now + DAY): False,
    }
    for (created, seen, expires), purge in rows.items():
        row = AuthSession(
            user_id=user, token_hash=_hash(), created_at=created, last_seen_at=seen,
            expires_at=expires,
        )  # fmt: skip
        db.add(row)
        db.flush()
        world.add("sessions", row.id, purge=purge)


def _challenges(db: Session, world: World, who: SignedIn, now: datetime) -> None:
    for expires, purge in ((now - timedelta(seconds=1), True), (now + timedelta(minutes=4), False)):
        row = LoginChallenge(
            user_id=who.user["id"], token_hash=_hash(), created_at=now - DAY, expires_at=expires
        )
        db.add(row)
        db.flush()
        world.add("login_challenges", row.id, purge=purge)


def _invites(db: Session, world: World, now: datetime) -> None:
    future = now + DAY
    cases = [
        ({"expires_at": now - LONG_AGO}, True),
        ({"expires_at": future, "used_at": now - LONG_AGO}, True),
        ({"expires_at": future, "revoked_at": now - LONG_AGO}, True),
        ({"expires_at": now - LATELY}, False),
        ({"expires_at": future, "revoked_at": now - LATELY}, False),
        ({"expires_at": future}, False),
    ]
    for terms, purge in cases:
        row = Invite(token_hash=_hash(), created_at=now - 60 * DAY, **terms)
        db.add(row)
        db.flush()
        world.add("invites", row.id, purge=purge)


def _tokens(db: Session, world: World, who: SignedIn, now: datetime) -> None:
    cases = [
        ({"revoked_at": now - LONG_AGO}, True),
        ({"expires_at": now - LONG_AGO}, True),
        ({"revoked_at": now - LATELY}, False),
        ({"expires_at": now - LATELY}, False),
        ({"expires_at": now + DAY}, False),
        ({}, False),
    ]
    for terms, purge in cases:
        row = AccessToken(
            user_id=who.user["id"], name="t", token_hash=_hash(), hint="abcd",
            scopes=["files:read"], created_at=now - 60 * DAY, **terms,
        )  # fmt: skip
        db.add(row)
        db.flush()
        world.add("access_tokens", row.id, purge=purge)


def _grants(
    db: Session, world: World, now: datetime, pairs: tuple[tuple[str, SignedIn], ...]
) -> None:
    expiries = [(now - LONG_AGO, True), (now - LATELY, False), (None, False), (now + DAY, False)]
    for (file_id, grantee), (expires, purge) in zip(pairs, expiries, strict=True):
        row = Grant(
            file_id=file_id, grantee_id=grantee.user["id"], permission="read", expires_at=expires,
            created_at=now - 60 * DAY, updated_at=now - 60 * DAY,
        )  # fmt: skip
        db.add(row)
        db.flush()
        world.add("grants", row.id, purge=purge)


def _links(db: Session, world: World, file_id: str, now: datetime) -> None:
    created = now - 60 * DAY
    used_up = {"max_downloads": 2, "downloads": 2}
    cases: list[tuple[dict[str, Any], datetime | None, bool]] = [
        ({"revoked_at": now - LONG_AGO}, None, True),
        ({"expires_at": now - LONG_AGO}, None, True),
        (used_up, now - LONG_AGO, True),  # last counted use long ago
        (used_up, None, True),  # no use in the ledger (redacted): its creation counts
        ({"revoked_at": now - LATELY}, None, False),
        ({"expires_at": now - LATELY}, None, False),
        (used_up, now - LATELY, False),  # used up only lately, though made long ago
        ({"max_downloads": 2, "downloads": 1}, now - LONG_AGO, False),  # one use left
        ({"expires_at": now + DAY}, None, False),
    ]
    for terms, last_use, purge in cases:
        row = ShareLink(
            id=secrets.token_urlsafe(12), file_id=file_id, token_hash=_hash(), created_at=created,
            **terms,
        )  # fmt: skip
        db.add(row)
        db.flush()
        if last_use is not None:
            record_event(
                db, "link:use", actor=f"link:{row.id}", target=f"file:{file_id}",
                details={"link": row.id, "size": 10}, at=last_use,
            )  # fmt: skip
        world.add("share_links", row.id, purge=purge)


def maintenance(app: APIFlask, clock: FakeClock, **kwargs: Any) -> Maintenance:
    with app.app_context():
        return Maintenance(get_database(), get_settings(), clock=clock, **kwargs)


def ledger_tags(app: APIFlask) -> list[str]:
    with app.app_context(), get_database().session(write=False) as db:
        return list(db.scalars(select(LedgerEntry.tag).order_by(LedgerEntry.index)))


def checkpoint_sizes(app: APIFlask) -> list[int]:
    with app.app_context(), get_database().session(write=False) as db:
        return list(db.scalars(select(LedgerCheckpoint.size).order_by(LedgerCheckpoint.size)))


def ledger_size(app: APIFlask) -> int:
    with app.app_context(), get_database().session(write=False) as db:
        return int(db.scalar(select(func.count()).select_from(LedgerEntry)) or 0)
