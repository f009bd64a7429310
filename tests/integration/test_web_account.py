"""Registration and the account pages, from the outside (a browser without JavaScript),
and the password-check endpoint their strength meter asks."""

from __future__ import annotations

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from tests.auth_helpers import STRONG_PASSWORD
from tests.conftest import AppFactory
from tests.integration.test_auth_logging import Secrets, assert_no_leaks, logging_app

API = "/api/v1"


@pytest.fixture
def app(clocked_app: APIFlask) -> APIFlask:
    return clocked_app


# --- POST /api/v1/auth/password-check ------------------------------------------------------


def check(client: FlaskClient, password: str, username: str = "") -> dict[str, object]:
    answer = client.post(
        f"{API}/auth/password-check", json={"password": password, "username": username}
    )
    assert answer.status_code == 200, answer.get_json()
    body: dict[str, object] = answer.get_json()
    return body


def test_password_check_applies_the_registration_rules(client: FlaskClient) -> None:
    short = check(client, "short")
    assert short == {
        "acceptable": False,
        "score": 0,
        "feedback": ["Use at least 12 characters (a few words make a good password)."],
    }
    breached = check(client, "password1234")
    assert breached["acceptable"] is False
    assert "breached" in str(breached["feedback"])
    named = check(client, "gallant-otter-9-Margaret", username="Margaret")
    assert named["acceptable"] is False
    assert "username" in str(named["feedback"])
    strong = check(client, STRONG_PASSWORD, username="margaret")
    assert strong == {"acceptable": True, "score": 4, "feedback": []}
    # What the check accepts, registration accepts; what it refuses, registration refuses.
    refused = client.post(
        f"{API}/auth/register", json={"username": "margaret", "password": "password1234"}
    )
    assert refused.status_code == 422
    accepted = client.post(
        f"{API}/auth/register", json={"username": "margaret", "password": STRONG_PASSWORD}
    )
    assert accepted.status_code == 201


def test_password_check_is_rate_limited(make_app: AppFactory) -> None:
    client = make_app(rate_limit_password_check_ip="2/minute").test_client()
    for _ in range(2):
        check(client, "whatever")
    limited = client.post(f"{API}/auth/password-check", json={"password": "whatever"})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"]


def test_password_check_refuses_what_is_not_a_password(client: FlaskClient) -> None:
    for body in ({}, {"password": ""}, {"password": "x" * 1025}, {"password": "a", "extra": 1}):
        assert client.post(f"{API}/auth/password-check", json=body).status_code == 422, body


def test_password_check_logs_no_password(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    app = logging_app(make_app, caplog)
    found = Secrets()
    client = app.test_client()
    check(client, found.add("checked password", "quiet-meadow-owl-41-tide"))
    check(client, found.add("weak password", "hunter2hunter2"))
    lines = assert_no_leaks(found, caplog.records, capsys.readouterr().err)
    assert any(line.get("path") == f"{API}/auth/password-check" for line in lines)


def test_password_check_is_in_the_openapi_document(client: FlaskClient) -> None:
    spec = client.get(f"{API}/openapi.json").get_json()
    operation = spec["paths"][f"{API}/auth/password-check"]["post"]
    assert operation["security"] == []
    assert "429" in operation["responses"]
    schema = spec["components"]["schemas"]["PasswordCheckOut"]
    assert set(schema["properties"]) == {"acceptable", "score", "feedback"}
