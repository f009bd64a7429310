"""Test helpers for accounts: a controllable clock, registering and signing in."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from apiflask import APIFlask
from flask.testing import FlaskClient

from strongroom.admin import services
from strongroom.auth.authn import DEPS_KEY
from strongroom.auth.models import Role
from strongroom.context import get_database

STRONG_PASSWORD = "violet-harbour-lantern-97"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def use_clock(app: APIFlask, clock: FakeClock) -> None:
    """Make ``app``'s accounts services read time from ``clock``."""
    app.extensions[DEPS_KEY] = dataclasses.replace(app.extensions[DEPS_KEY], clock=clock)


def make_admin(app: APIFlask) -> SignedIn:
    """A fresh admin account, created as the CLI would, signed in by bearer token."""
    name = unique_name("boss")
    with app.app_context(), get_database().session() as db:
        services.create_user(
            db, app.extensions[DEPS_KEY], actor="system:test", username=name,
            password=STRONG_PASSWORD, role=Role.ADMIN,
        )  # fmt: skip
        db.commit()
    return sign_in(app.test_client(), name)


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclasses.dataclass
class SignedIn:
    username: str
    password: str
    token: str
    csrf_token: str
    user: dict[str, Any]

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(
    client: FlaskClient, username: str | None = None, password: str = STRONG_PASSWORD
) -> str:
    username = username or unique_name()
    response = client.post(
        "/api/v1/auth/register", json={"username": username, "password": password}
    )
    assert response.status_code == 201, response.get_json()
    return username


def sign_in(client: FlaskClient, username: str, password: str = STRONG_PASSWORD) -> SignedIn:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return SignedIn(username, password, body["token"], body["csrf_token"], body["user"])


def new_account(client: FlaskClient, prefix: str = "user") -> SignedIn:
    """Register a fresh account and sign it in (the cookie lands in ``client``)."""
    return sign_in(client, register(client, unique_name(prefix)))
