"""Session lookup costs one indexed query per request; the bootstrap admin is created once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from apiflask import APIFlask
from sqlalchemy import event, select

from strongroom.auth.models import Role, User
from strongroom.context import get_database
from strongroom.settings import ConfigError
from tests.auth_helpers import FakeClock, new_account, use_clock
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
