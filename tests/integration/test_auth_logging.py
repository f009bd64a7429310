"""No credential ever reaches the log, at any level, and access lines name the user.

Every logger is opened to DEBUG (SQLAlchemy and werkzeug included) while accounts
go through registration, failed and successful sign-ins, 2FA set-up and sign-in,
a password change and personal access tokens. Both what the handler wrote and every
attribute of every record are searched for each secret the flow produced.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from tests.auth_helpers import FakeClock, unique_name, use_clock
from tests.conftest import AppFactory

API = "/api/v1"
QUIETED = ("sqlalchemy.engine", "werkzeug", "alembic.runtime.migration", "flask_limiter")


def strong_password() -> str:
    return f"amber-{secrets.token_hex(6)}-quay"


@dataclass
class Secrets:
    """Every secret the flow saw, by what it is."""

    found: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, value: str | None) -> str:
        assert value, f"{label} is empty"
        self.found[label] = value
        return value

    def session(self, label: str, body: dict[str, Any]) -> dict[str, str]:
        """Record a session answer's token and CSRF token; returns the CSRF header."""
        self.add(f"{label} session token", body["token"])
        return {"X-CSRF-Token": self.add(f"{label} CSRF token", body["csrf_token"])}

    def leaks(self, text: str, where: str) -> Iterator[str]:
        for label, value in self.found.items():
            if value in text:
                yield f"{label} in {where}"


def record_texts(record: logging.LogRecord) -> Iterator[tuple[str, str]]:
    """Everything a handler could write from ``record``, attribute by attribute."""
    yield "message", record.getMessage()
    for name, value in vars(record).items():
        yield name, str(value)
        yield name, repr(value)
    if record.exc_info:
        yield "exception", logging.Formatter().formatException(record.exc_info)


def assert_no_leaks(
    found: Secrets, records: list[logging.LogRecord], output: str
) -> list[dict[str, Any]]:
    """Search the records and the handler's output; returns the output's JSON lines."""
    leaks = list(found.leaks(output, "the log output"))
    for record in records:
        for where, text in record_texts(record):
            leaks += found.leaks(text, f"{record.name} {record.msg!r} .{where}")
    assert not leaks, sorted(set(leaks))
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def logging_app(make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> APIFlask:
    """An app writing JSON lines to stderr, then every logger opened to DEBUG.

    Called from the test body: the handler keeps the stream it finds, and capsys
    swaps in a new one for each test phase.
    """
    app = make_app(log_format="json", log_level="DEBUG")
    caplog.set_level(logging.DEBUG)
    for name in QUIETED:  # create_app quiets these; open them too
        caplog.set_level(logging.DEBUG, logger=name)
    return app


def register_and_sign_in(client: FlaskClient, found: Secrets) -> tuple[str, dict[str, str], int]:
    """(username, CSRF header, user id), with a failed sign-in on the way."""
    username = unique_name("logged")
    password = found.add("password", strong_password())
    registered = client.post(
        f"{API}/auth/register", json={"username": username, "password": password}
    )
    assert registered.status_code == 201, registered.get_json()
    wrong = found.add("wrong password", strong_password())
    refused = client.post(f"{API}/auth/login", json={"username": username, "password": wrong})
    assert refused.status_code == 401
    signed = client.post(f"{API}/auth/login", json={"username": username, "password": password})
    assert signed.status_code == 200
    csrf = found.session("first", signed.get_json())
    return username, csrf, int(signed.get_json()["user"]["id"])


def test_no_secret_reaches_the_log(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    app = logging_app(make_app, caplog)
    clock = FakeClock()
    use_clock(app, clock)
    found = Secrets()
    client = app.test_client()
    username, csrf, user_id = register_and_sign_in(client, found)
    assert client.get(f"{API}/me").status_code == 200

    # A personal access token, used as a bearer token.
    created = client.post(
        f"{API}/me/tokens", json={"name": "laptop", "scopes": ["files:read"]}, headers=csrf
    )
    assert created.status_code == 201, created.get_json()
    pat = found.add("personal access token", created.get_json()["token"])
    by_token = app.test_client().get(f"{API}/me", headers={"Authorization": f"Bearer {pat}"})
    assert by_token.status_code == 200

    # 2FA: set-up with a code, then a sign-in with a code and one with a recovery code.
    started = client.post(f"{API}/me/2fa", headers=csrf)
    assert started.status_code == 201
    seed = found.add("TOTP secret", started.get_json()["secret"])
    totp = pyotp.TOTP(seed)
    confirmed = client.post(
        f"{API}/me/2fa/confirm", json={"code": totp.at(clock.now())}, headers=csrf
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    csrf = found.session("after 2FA set-up", confirmed.get_json())
    recovery = confirmed.get_json()["recovery_codes"]
    for number, code in enumerate(recovery):
        found.add(f"recovery code {number}", code)
    clock.advance(seconds=60)

    # The password: a wrong current one, then a change.
    password = found.found["password"]
    new_password = found.add("new password", strong_password())
    wrong_current = found.add("wrong current password", strong_password())
    refused = client.post(
        f"{API}/me/password",
        json={"current_password": wrong_current, "new_password": new_password},
        headers=csrf,
    )
    assert refused.status_code == 401
    changed = client.post(
        f"{API}/me/password",
        json={"current_password": password, "new_password": new_password},
        headers=csrf,
    )
    assert changed.status_code == 200, changed.get_json()
    found.session("after the password change", changed.get_json())

    for step, second_factor in (
        ("code", {"code": totp.at(clock.now())}),
        ("recovery code", {"recovery_code": recovery[0]}),
    ):
        fresh = app.test_client()
        first = fresh.post(
            f"{API}/auth/login", json={"username": username, "password": new_password}
        )
        assert first.status_code == 200
        challenge = found.add(f"challenge for the {step}", first.get_json()["challenge"])
        done = fresh.post(f"{API}/auth/login/totp", json={"challenge": challenge, **second_factor})
        assert done.status_code == 200, done.get_json()
        found.session(f"signed in with a {step}", done.get_json())

    lines = assert_no_leaks(found, caplog.records, capsys.readouterr().err)

    access = [line for line in lines if line["logger"] == "strongroom.access"]
    by_request = {(line["method"], line["path"], line["status"]): line for line in access}
    anonymous = [
        ("POST", f"{API}/auth/register", 201),
        ("POST", f"{API}/auth/login", 401),
    ]
    for key in anonymous:
        assert by_request[key]["user_id"] is None, key
    authenticated = [line for line in access if line["path"].startswith(f"{API}/me")]
    assert {(line["method"], line["path"]) for line in authenticated} == {
        ("GET", f"{API}/me"),
        ("POST", f"{API}/me/2fa"),
        ("POST", f"{API}/me/2fa/confirm"),
        ("POST", f"{API}/me/password"),
        ("POST", f"{API}/me/tokens"),
    }
    assert [line["user_id"] for line in authenticated] == [user_id] * len(authenticated)
    assert all(line["route"] for line in access)
