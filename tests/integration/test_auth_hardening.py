"""Accounts hardening: one query per request, equal sign-in work, bootstrap, input hygiene."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from apiflask import APIFlask
from argon2 import PasswordHasher
from sqlalchemy import event, select

from strongroom.auth.models import Role, User
from strongroom.context import get_database
from strongroom.settings import ConfigError
from tests.auth_helpers import STRONG_PASSWORD, FakeClock, new_account, unique_name, use_clock
from tests.conftest import AppFactory, migrate


@contextmanager
def statements(app: APIFlask) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = get_database().engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def data_statements(seen: list[str]) -> list[str]:
    skip = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    return [s for s in seen if not s.strip().upper().startswith(skip)]


@pytest.mark.parametrize("how", ["bearer", "cookie"])
def test_an_authenticated_request_costs_one_query(make_app: AppFactory, how: str) -> None:
    app = make_app()
    clock = FakeClock()
    use_clock(app, clock)
    client = app.test_client()
    account = new_account(client)
    headers = account.bearer if how == "bearer" else {}
    if how == "bearer":
        client.delete_cookie("__Host-strongroom_session")
    with statements(app) as seen:
        assert client.get("/api/v1/me", headers=headers).status_code == 200
    queries = data_statements(seen)
    assert len(queries) == 1, queries
    assert "token_hash" in queries[0]  # by the unique index on the token hash
    # Once a minute the session's last-seen time is written as well: one more statement.
    clock.advance(seconds=61)
    with statements(app) as seen:
        assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert [q.split()[0].upper() for q in data_statements(seen)] == ["SELECT", "UPDATE"]


def test_bootstrap_admin_is_created_once(make_app: AppFactory, fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    password = "quartz-meadow-signal-2718"
    app = make_app(database_url=fresh_database_url, bootstrap_admin_password=password)
    with app.app_context(), get_database().session() as db:
        admin = db.scalars(select(User).where(User.role == Role.ADMIN)).one()
        assert admin.username == "admin"
        assert admin.must_change_password
    login = app.test_client().post(
        "/api/v1/auth/login", json={"username": "admin", "password": password}
    )
    assert login.status_code == 200
    assert login.get_json()["user"]["must_change_password"] is True
    # A second start with the setting still present changes nothing.
    again = make_app(
        database_url=fresh_database_url, bootstrap_admin_password="other-quartz-meadow-99"
    )
    with again.app_context(), get_database().session() as db:
        assert len(db.scalars(select(User)).all()) == 1


def test_a_weak_bootstrap_password_stops_the_start(
    make_app: AppFactory, fresh_database_url: str
) -> None:
    migrate(fresh_database_url)
    with pytest.raises(ConfigError, match="BOOTSTRAP_ADMIN_PASSWORD") as caught:
        make_app(database_url=fresh_database_url, bootstrap_admin_password="password1234")
    assert "breached" in str(caught.value)


def test_unknown_users_cost_one_argon2_verification_like_real_ones(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same work, so the same time: response timing cannot tell which accounts exist."""
    app = make_app()
    client = app.test_client()
    account = new_account(app.test_client())
    hashes_checked: list[str] = []
    original = PasswordHasher.verify

    def counting(self: PasswordHasher, stored: str | bytes, password: str | bytes) -> bool:
        hashes_checked.append(str(stored))
        return original(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    answers = []
    for username in (account.username, unique_name("nobody"), "x" * 40, "not valid!"):
        response = client.post(
            "/api/v1/auth/login", json={"username": username, "password": "wrong-" * 4}
        )
        body = response.get_json()
        answers.append((response.status_code, body["type"], body["detail"]))
    assert len(hashes_checked) == 4  # one full Argon2id verification each
    assert len(set(answers)) == 1  # and one answer for all


@pytest.mark.parametrize(
    "display_name", ["Ann\u200bSmith", "line\nbreak", "bell\x07", "\u202eevil", "tab\there"]
)
def test_display_names_refuse_control_and_invisible_characters(
    make_app: AppFactory, display_name: str
) -> None:
    client = make_app().test_client()
    username = unique_name()
    response = client.post(
        "/api/v1/auth/register",
        json={"username": username, "password": STRONG_PASSWORD, "display_name": display_name},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "display_name"
    login = client.post(
        "/api/v1/auth/login", json={"username": username, "password": STRONG_PASSWORD}
    )
    assert login.status_code == 401  # nothing was stored


def test_html_and_sql_in_display_names_are_kept_as_text(make_app: AppFactory) -> None:
    client = make_app().test_client()
    name = "<script>alert(1)</script>'; DROP TABLE users;--"
    response = client.post(
        "/api/v1/auth/register",
        json={"username": unique_name(), "password": STRONG_PASSWORD, "display_name": name},
    )
    assert response.status_code == 201
    assert response.get_json()["display_name"] == name  # data, escaped wherever it is shown
    assert response.headers["Content-Type"] == "application/json"
