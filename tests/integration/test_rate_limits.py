"""Rate limits through HTTP: sign-in, registration, bearer tokens and 2FA codes, in
process memory and in Redis, including Redis going away mid-attack."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
import redis
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from strongroom.context import get_database
from strongroom.ledger.models import AuditEvent
from tests.auth_helpers import (
    STRONG_PASSWORD,
    FakeClock,
    register,
    sign_in,
    unique_name,
    use_clock,
)
from tests.conftest import AppFactory
from tests.support import TcpForwarder

API = "/api/v1"
RATE_LIMITED = "urn:strongroom:problem:rate-limited"
OTHER_IP = "10.0.0.2"
ACCOUNT_IP_FAILURES = 10  # the default rate_limit_signin_account_ip: 10/minute


def login(
    client: FlaskClient,
    username: str,
    password: str,
    *,
    ip: str | None = None,
    request_id: str | None = None,
) -> TestResponse:
    return client.post(
        f"{API}/auth/login",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip} if ip else {},
        headers={"X-Request-ID": request_id} if request_id else {},
    )


def wrong_password() -> str:
    return f"wrong-{secrets.token_hex(8)}"


def assert_status(response: TestResponse, status: int, context: object = "") -> None:
    assert response.status_code == status, (context, response.get_json(silent=True))


def assert_throttled(response: TestResponse, context: object = "") -> int:
    """A 429 problem with a sensible Retry-After; returns it."""
    assert_status(response, 429, context)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == RATE_LIMITED, body
    retry_after = int(response.headers["Retry-After"])
    assert retry_after > 0
    assert body["retry_after"] == retry_after
    return retry_after


def fail_times(client: FlaskClient, username: str, times: int) -> None:
    statuses = [login(client, username, wrong_password()).status_code for _ in range(times)]
    assert statuses == [401] * times, statuses


def audit_events(app: APIFlask, tag: str, **where: Any) -> list[AuditEvent]:
    with app.app_context(), get_database().session() as db:
        query = select(AuditEvent).where(AuditEvent.tag == tag)
        for column, value in where.items():
            query = query.where(getattr(AuditEvent, column) == value)
        return list(db.scalars(query).all())


def without_occurrence(response: TestResponse) -> dict[str, Any]:
    body: dict[str, Any] = response.get_json()
    return {k: v for k, v in body.items() if k not in {"request_id", "instance"}}


# --- failed sign-ins per account and IP ----------------------------------------------------


def test_the_11th_wrong_password_is_throttled_even_for_the_right_one(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    client = app.test_client()
    username = register(client)
    fail_times(client, username, ACCOUNT_IP_FAILURES)
    retry_after = assert_throttled(login(client, username, wrong_password()))
    assert retry_after <= 60
    throttled = audit_events(app, "account:signin:throttled", target=f"username:{username}")
    assert len(throttled) == 1
    assert throttled[0].details["ip"] == "127.0.0.1"

    # No oracle: the right password is refused exactly like a wrong one. Time stands
    # still for the two requests, so Retry-After (which counts down) cannot differ.
    frozen = time.time()
    monkeypatch.setattr(time, "time", lambda: frozen)
    wrong = login(client, username, wrong_password())
    right = login(client, username, STRONG_PASSWORD)
    monkeypatch.undo()
    assert_throttled(wrong)
    assert_throttled(right)
    assert without_occurrence(right) == without_occurrence(wrong)
    assert right.headers["Retry-After"] == wrong.headers["Retry-After"]
    assert right.headers["Content-Type"] == wrong.headers["Content-Type"]
    assert "Set-Cookie" not in right.headers

    # The lock-out is per account and IP: the owner elsewhere signs in.
    assert_status(login(client, username, STRONG_PASSWORD, ip=OTHER_IP), 200)


def test_a_successful_sign_in_clears_the_failures(make_app: AppFactory) -> None:
    client = make_app().test_client()
    username = register(client)
    fail_times(client, username, ACCOUNT_IP_FAILURES - 1)
    assert_status(login(client, username, STRONG_PASSWORD), 200)
    # Without the reset the second failure from here on would be the 11th.
    fail_times(client, username, ACCOUNT_IP_FAILURES)
    assert_throttled(login(client, username, STRONG_PASSWORD))


# --- route limits per IP --------------------------------------------------------------------


def test_sign_in_attempts_per_ip(make_app: AppFactory) -> None:
    app = make_app(rate_limit_signin_ip="3/minute")
    client = app.test_client()
    username = register(client)
    for _ in range(3):
        assert_status(login(client, unique_name("nobody"), wrong_password()), 401)
    request_id = f"signin-ip-{secrets.token_hex(6)}"
    # The route limit counts attempts, whatever the account: the right password too.
    assert_throttled(login(client, username, STRONG_PASSWORD, request_id=request_id))
    [event] = audit_events(app, "ratelimit:route:throttled", request_id=request_id)
    assert event.details == {"limit": "signin-ip", "route": f"{API}/auth/login"}
    assert event.target == "ip:127.0.0.1"
    assert_status(login(client, username, STRONG_PASSWORD, ip=OTHER_IP), 200)


def test_both_sign_in_steps_share_the_per_ip_budget(make_app: AppFactory) -> None:
    client = make_app(rate_limit_signin_ip="3/minute").test_client()
    for _ in range(3):
        assert_status(login(client, unique_name("nobody"), wrong_password()), 401)
    # The 2FA step draws on the same budget: it is as much a guess as a password.
    second_step = client.post(
        f"{API}/auth/login/totp", json={"challenge": "src_" + "x" * 43, "code": "123456"}
    )
    assert_throttled(second_step)


def test_a_stale_bearer_token_does_not_block_signing_in(make_app: AppFactory) -> None:
    app = make_app(rate_limit_token_failures_ip="2/minute")
    client = app.test_client()
    username = register(client)
    stale = {"Authorization": "Bearer srs_" + secrets.token_urlsafe(32)}
    for _ in range(3):  # even past the bad-token limit, public routes ignore the header
        response = client.post(
            f"{API}/auth/login",
            json={"username": username, "password": STRONG_PASSWORD},
            headers=stale,
        )
        assert_status(response, 200)
        assert_status(client.get("/healthz", headers=stale), 200)
    # ... but the bad token was counted, and protected routes refuse it.
    assert_throttled(client.get(f"{API}/me", headers=stale))


def test_registrations_per_ip(make_app: AppFactory) -> None:
    client = make_app(rate_limit_register_ip="2/hour").test_client()
    register(client)
    register(client)
    third = unique_name()
    response = client.post(
        f"{API}/auth/register", json={"username": third, "password": STRONG_PASSWORD}
    )
    assert_throttled(response)
    assert_status(login(client, third, STRONG_PASSWORD, ip=OTHER_IP), 401)  # not created
    elsewhere = client.post(
        f"{API}/auth/register",
        json={"username": third, "password": STRONG_PASSWORD},
        environ_base={"REMOTE_ADDR": OTHER_IP},
    )
    assert_status(elsewhere, 201)


def test_bad_bearer_tokens_per_ip(make_app: AppFactory) -> None:
    app = make_app(rate_limit_token_failures_ip="3/minute")
    signed = sign_in(app.test_client(), register(app.test_client()))
    client = app.test_client()
    for bad in ("nonsense", "srs_" + secrets.token_urlsafe(32), "srp_" + secrets.token_urlsafe(32)):
        response = client.get(f"{API}/me", headers={"Authorization": f"Bearer {bad}"})
        assert_status(response, 401, bad)
    # From that IP now every bearer request is refused before the token is looked at.
    request_id = f"token-ip-{secrets.token_hex(6)}"
    response = client.get(f"{API}/me", headers={**signed.bearer, "X-Request-ID": request_id})
    assert_throttled(response)
    [event] = audit_events(app, "account:token:throttled", request_id=request_id)
    assert event.target == "ip:127.0.0.1"
    elsewhere = client.get(
        f"{API}/me", headers=signed.bearer, environ_base={"REMOTE_ADDR": OTHER_IP}
    )
    assert_status(elsewhere, 200)


# --- Redis ------------------------------------------------------------------------------------


def enrol_in_2fa(app: APIFlask, clock: FakeClock) -> tuple[str, str]:
    """A fresh account with 2FA on: (username, TOTP secret)."""
    client = app.test_client()
    signed = sign_in(client, register(client))
    csrf = {"X-CSRF-Token": signed.csrf_token}
    started = client.post(f"{API}/me/2fa", headers=csrf)
    assert_status(started, 201)
    secret = started.get_json()["secret"]
    code = pyotp.TOTP(secret).at(clock.now())
    assert_status(client.post(f"{API}/me/2fa/confirm", json={"code": code}, headers=csrf), 200)
    clock.advance(seconds=60)  # the confirming code's step is used up; later codes are fresh
    return signed.username, secret


def challenge(client: FlaskClient, username: str) -> str:
    response = login(client, username, STRONG_PASSWORD)
    assert_status(response, 200)
    body = response.get_json()
    assert body["two_factor_required"] is True
    return str(body["challenge"])


def send_code(client: FlaskClient, challenge_token: str, code: str) -> TestResponse:
    return client.post(f"{API}/auth/login/totp", json={"challenge": challenge_token, "code": code})


def test_wrong_2fa_codes_are_counted_in_redis(make_app: AppFactory, redis_url: str) -> None:
    clock = FakeClock()
    first, second = make_app(redis_url=redis_url), make_app(redis_url=redis_url)
    use_clock(first, clock)
    use_clock(second, clock)
    username, secret = enrol_in_2fa(first, clock)
    totp = pyotp.TOTP(secret)
    valid = {totp.at(clock.now() + timedelta(seconds=drift)) for drift in (-30, 0, 30)}
    wrong = next(c for c in (f"{n:06d}" for n in range(1000)) if c not in valid)
    client = first.test_client()
    pending = challenge(client, username)
    for _ in range(5):  # the default rate_limit_2fa_account: 5 per 5 minutes
        assert_status(send_code(client, pending, wrong), 401)
    assert_throttled(send_code(client, pending, totp.at(clock.now())))
    # Another process on the same Redis sees the same count.
    elsewhere = second.test_client()
    assert_throttled(send_code(elsewhere, challenge(elsewhere, username), totp.at(clock.now())))
    keys = redis.Redis.from_url(redis_url).keys("*2fa-account*")
    assert keys, "the counter is not in Redis"


def test_failures_are_shared_between_processes(make_app: AppFactory, redis_url: str) -> None:
    first, second = make_app(redis_url=redis_url), make_app(redis_url=redis_url)
    username = register(first.test_client())
    fail_times(first.test_client(), username, 6)
    fail_times(second.test_client(), username, 4)
    assert_throttled(login(second.test_client(), username, wrong_password()), "11th, on B")
    assert_throttled(login(first.test_client(), username, STRONG_PASSWORD), "then on A")


def test_sign_in_limits_hold_while_redis_is_down(make_app: AppFactory, redis_url: str) -> None:
    url = urlsplit(redis_url)
    forwarder = TcpForwarder(url.hostname or "127.0.0.1", url.port or 6379)
    try:
        app = make_app(redis_url=f"redis://127.0.0.1:{forwarder.port}{url.path or '/15'}")
        client = app.test_client()
        target, bystander = register(client), register(client)
        fail_times(client, target, 3)
        forwarder.stop()
        statuses = [login(client, target, wrong_password()).status_code for _ in range(10)]
        assert statuses == [401] * 10, statuses
        assert_throttled(login(client, target, STRONG_PASSWORD), "the 11th since the outage")
        # Someone not under attack still signs in, from the same IP, with Redis gone.
        assert_status(login(client, bystander, STRONG_PASSWORD), 200)
        assert "redis" in app.test_client().get("/readyz").get_json()["degraded"]
    finally:
        forwarder.stop()
