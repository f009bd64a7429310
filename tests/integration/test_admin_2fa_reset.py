"""An admin (API or CLI) can turn off a user's 2FA when the device or seed is lost."""

from __future__ import annotations

import secrets
from typing import Any

import pyotp
from apiflask import APIFlask
from click.testing import CliRunner
from sqlalchemy import select

from strongroom.cli import main
from strongroom.context import get_database
from strongroom.ledger.models import AuditEvent
from tests.auth_helpers import STRONG_PASSWORD, FakeClock, make_admin, new_account, use_clock
from tests.conftest import FAST_HASHING, AppFactory

API = "/api/v1"


def enrol(app: APIFlask, clock: FakeClock) -> tuple[str, dict[str, str]]:
    account = new_account(app.test_client())
    client = app.test_client()
    secret = client.post(f"{API}/me/2fa", headers=account.bearer).get_json()["secret"]
    code = pyotp.TOTP(secret).at(clock.now())
    confirmed = client.post(f"{API}/me/2fa/confirm", json={"code": code}, headers=account.bearer)
    assert confirmed.status_code == 200
    return account.username, {"Authorization": f"Bearer {confirmed.get_json()['token']}"}


def test_admin_api_turns_off_a_users_2fa(make_app: AppFactory) -> None:
    app = make_app()
    clock = FakeClock()
    use_clock(app, clock)
    username, bearer = enrol(app, clock)
    user_id = app.test_client().get(f"{API}/me", headers=bearer).get_json()["id"]
    admin = make_admin(app).bearer

    # Users cannot do it to each other; admins can.
    refused = app.test_client().post(f"{API}/admin/users/{user_id}/2fa-reset", headers=bearer)
    assert refused.status_code == 403
    reset = app.test_client().post(f"{API}/admin/users/{user_id}/2fa-reset", headers=admin)
    assert reset.status_code == 204
    assert app.test_client().get(f"{API}/me", headers=bearer).status_code == 401  # sessions ended

    # Sign-in is one step again, and a second reset has nothing to do.
    login = app.test_client().post(
        f"{API}/auth/login", json={"username": username, "password": STRONG_PASSWORD}
    )
    assert "token" in login.get_json()
    again = app.test_client().post(f"{API}/admin/users/{user_id}/2fa-reset", headers=admin)
    assert again.status_code == 409
    with app.app_context(), get_database().session() as db:
        tags = db.scalars(
            select(AuditEvent.tag).where(AuditEvent.target == f"user:{user_id}")
        ).all()
    assert "admin:user:2fa-reset" in tags


def test_cli_turns_off_a_users_2fa(
    make_app: AppFactory, runner: CliRunner, database_url: str
) -> None:
    secret_key = secrets.token_urlsafe(48)
    settings: dict[str, Any] = {"secret_key": secret_key, "database_url": database_url}
    app = make_app(**settings)
    clock = FakeClock()
    use_clock(app, clock)
    username, _ = enrol(app, clock)
    env = {
        "STRONGROOM_MODE": "testing",
        "STRONGROOM_SECRET_KEY": secret_key,
        "STRONGROOM_DATABASE_URL": database_url,
        **{f"STRONGROOM_{k.upper()}": str(v).lower() for k, v in FAST_HASHING.items()},
    }
    result = runner.invoke(main, ["users", "reset-2fa", username], env=env)
    assert result.exit_code == 0, result.output
    assert "2FA is off" in result.output
    login = app.test_client().post(
        f"{API}/auth/login", json={"username": username, "password": STRONG_PASSWORD}
    )
    assert "token" in login.get_json()
    again = runner.invoke(main, ["users", "reset-2fa", username], env=env)
    assert again.exit_code == 2


def test_wrong_codes_outside_sign_in_are_limited_and_audited(make_app: AppFactory) -> None:
    app = make_app()
    account = new_account(app.test_client())
    client = app.test_client()
    assert client.post(f"{API}/me/2fa", headers=account.bearer).status_code == 201
    statuses = [
        client.post(
            f"{API}/me/2fa/confirm", json={"code": "000000"}, headers=account.bearer
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [422] * 5 + [429]  # 2fa-account: 5 per 5 minutes
    user_id = account.user["id"]
    with app.app_context(), get_database().session() as db:
        tags = db.scalars(
            select(AuditEvent.tag).where(AuditEvent.target == f"user:{user_id}")
        ).all()
    assert "account:2fa:throttled" in tags
