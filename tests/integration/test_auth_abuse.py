"""Abuse cases from the security review: token takeover, races, IPv6 rotation, odd input."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from apiflask import APIFlask
from sqlalchemy import func, select

from strongroom.auth import sessions
from strongroom.auth.authn import DEPS_KEY
from strongroom.auth.exceptions import Throttled
from strongroom.auth.models import LoginChallenge, User
from strongroom.context import get_database
from strongroom.ledger.models import AuditEvent
from strongroom.ratelimit import RateLimits, network_of
from strongroom.settings import load_settings
from tests.auth_helpers import (
    STRONG_PASSWORD,
    FakeClock,
    make_admin,
    new_account,
    register,
    sign_in,
    unique_name,
    use_clock,
)
from tests.conftest import AppFactory

API = "/api/v1"


def admin_token(app: APIFlask) -> tuple[int, dict[str, str]]:
    """An admin's id and a personal access token of theirs with every scope."""
    admin = make_admin(app)
    created = app.test_client().post(
        f"{API}/me/tokens",
        json={"name": "automation", "scopes": ["admin", "files:read"]},
        headers=admin.bearer,
    )
    assert created.status_code == 201, created.get_json()
    return admin.user["id"], {"Authorization": f"Bearer {created.get_json()['token']}"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/admin/users/{me}/password-reset", None),
        ("POST", "/admin/users/{other}/password-reset", None),
        ("POST", "/admin/users/{other}/2fa-reset", None),
        ("POST", "/admin/users", {"username": "made-by-token", "role": "admin"}),
        ("POST", "/admin/invites", {"role": "admin"}),
    ],
)
def test_an_admin_token_cannot_hand_out_credentials(
    make_app: AppFactory, method: str, path: str, body: dict[str, str] | None
) -> None:
    app = make_app()
    me, token = admin_token(app)
    other = new_account(app.test_client()).user["id"]
    response = app.test_client().open(
        API + path.format(me=me, other=other), method=method, json=body, headers=token
    )
    assert response.status_code == 403
    assert response.get_json()["type"] == "urn:strongroom:problem:session-required"


def test_admins_reset_their_own_credentials_through_me(make_app: AppFactory) -> None:
    app = make_app()
    admin = make_admin(app)
    for action in ("password-reset", "2fa-reset"):
        response = app.test_client().post(
            f"{API}/admin/users/{admin.user['id']}/{action}", headers=admin.bearer
        )
        assert response.status_code == 409, action


@pytest.mark.parametrize("change", ["password-reset", "role"])
def test_resets_and_role_changes_revoke_tokens(make_app: AppFactory, change: str) -> None:
    app = make_app()
    admin = make_admin(app)
    user = new_account(app.test_client())
    created = app.test_client().post(
        f"{API}/me/tokens", json={"name": "ci", "scopes": ["files:read"]}, headers=user.bearer
    )
    token = {"Authorization": f"Bearer {created.get_json()['token']}"}
    assert app.test_client().get(f"{API}/me", headers=token).status_code == 200
    if change == "password-reset":
        url, payload = f"{API}/admin/users/{user.user['id']}/password-reset", None
        response = app.test_client().post(url, headers=admin.bearer)
    else:
        url, payload = f"{API}/admin/users/{user.user['id']}", {"role": "admin"}
        response = app.test_client().patch(url, json=payload, headers=admin.bearer)
    assert response.status_code == 200, response.get_json()
    assert app.test_client().get(f"{API}/me", headers=token).status_code == 401


def test_concurrent_attempts_cannot_overdraw_a_limit() -> None:
    limits = RateLimits(load_settings({"rate_limit_signin_account_ip": "10/minute"}))
    granted: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            limits.acquire("signin-account-ip", "victim", "203.0.113.5")
            outcome = True
        except Throttled:
            outcome = False
        with lock:
            granted.append(outcome)

    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(40):
            pool.submit(attempt)
    assert granted.count(True) == 10
    assert granted.count(False) == 30


def test_ipv6_clients_are_counted_by_their_64(make_app: AppFactory) -> None:
    assert (
        network_of("2001:db8:1:2::7") == network_of("2001:db8:1:2:ffff::1") == ("2001:db8:1:2::/64")
    )
    assert network_of("::ffff:198.51.100.4") == "198.51.100.4"
    assert network_of("198.51.100.4") == "198.51.100.4"
    client = make_app().test_client()
    username = register(client)
    statuses = [
        client.post(
            f"{API}/auth/login",
            json={"username": username, "password": "not-the-password-at-all"},
            environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{n:x}"},
        ).status_code
        for n in range(1, 12)
    ]
    assert statuses == [401] * 10 + [429]  # a fresh address per try changes nothing


def test_concurrent_sign_ins_on_sqlite_all_answer_and_are_audited(make_app: AppFactory) -> None:
    app = make_app(rate_limit_signin_account_ip="1000/minute", rate_limit_signin_ip="1000/minute")
    names = [register(app.test_client()) for _ in range(4)]

    def attempt(n: int) -> int:
        response = app.test_client().post(
            f"{API}/auth/login",
            json={"username": names[n % 4], "password": "wrong-password-" + "x" * 8},
            headers={"X-Request-ID": f"race-{n}"},
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(attempt, range(24)))
    assert statuses == [401] * 24  # never "database is locked" (500)
    with app.app_context(), get_database().session() as db:
        recorded = db.scalars(
            select(AuditEvent.request_id).where(AuditEvent.request_id.like("race-%"))
        ).all()
    assert len(recorded) == 24


def test_a_challenge_is_spent_once(make_app: AppFactory) -> None:
    app = make_app()
    username = register(app.test_client())
    with app.app_context(), get_database().session() as db:
        user = db.scalars(select(User).where(User.username == username)).one()
        _, challenge = sessions.create_challenge(db, app.extensions[DEPS_KEY], user=user)
        db.commit()
        assert sessions.claim_challenge(db, challenge) is True
        db.commit()
        assert sessions.claim_challenge(db, challenge) is False
        left = select(func.count()).where(LoginChallenge.id == challenge.id)
        assert db.scalar(left) == 0


@pytest.mark.parametrize(
    "code",
    [
        "\u0661\u0662\u0663\u0664\u0665\u0666",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "\u00b2\u00b3\u2074\u2075\u2076\u2077",
    ],
)
def test_non_ascii_digits_are_a_wrong_code_not_a_crash(make_app: AppFactory, code: str) -> None:
    app = make_app()
    account = new_account(app.test_client())
    client = app.test_client()
    assert client.post(f"{API}/me/2fa", json={}, headers=account.bearer).status_code == 201
    response = client.post(f"{API}/me/2fa/confirm", json={"code": code}, headers=account.bearer)
    assert response.status_code == 422
    assert response.get_json()["type"] == "urn:strongroom:problem:invalid-code"


@pytest.mark.parametrize(
    "expires_at", ["2030-01-01T00:00:00", "9999-12-31T23:59:59-12:00", "2300-01-01T00:00:00Z"]
)
def test_unusable_token_expiries_are_refused(make_app: AppFactory, expires_at: str) -> None:
    app = make_app()
    account = new_account(app.test_client())
    response = app.test_client().post(
        f"{API}/me/tokens",
        json={"name": "t", "scopes": ["files:read"], "expires_at": expires_at},
        headers=account.bearer,
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "expires_at"


@pytest.mark.parametrize("path", ["/me/tokens/99999999999999999999999", "/me/sessions/2147483648"])
def test_ids_beyond_the_column_range_are_not_found(make_app: AppFactory, path: str) -> None:
    app = make_app()
    account = new_account(app.test_client())
    assert app.test_client().delete(API + path, headers=account.bearer).status_code == 404


@pytest.mark.parametrize("field", ["username", "password"])
def test_lone_surrogates_are_malformed_json(make_app: AppFactory, field: str) -> None:
    body = {"username": "someone", "password": "a-good-long-password"}
    raw = json.dumps(body).replace(body[field], "ab\\ud800cd")
    response = (
        make_app()
        .test_client()
        .post(f"{API}/auth/login", data=raw, content_type="application/json")
    )
    assert response.status_code == 400
    assert response.get_json()["type"] == "urn:strongroom:problem:malformed-json"


def test_the_same_username_registered_at_once_gives_one_account(make_app: AppFactory) -> None:
    app = make_app(rate_limit_register_ip="100/minute")
    name = unique_name("race")

    def attempt(_: int) -> int:
        return (
            app.test_client()
            .post(f"{API}/auth/register", json={"username": name, "password": STRONG_PASSWORD})
            .status_code
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(attempt, range(6)))
    assert statuses == [201] + [409] * 5


def test_failed_reauthentication_is_audited(make_app: AppFactory) -> None:
    app = make_app()
    account = new_account(app.test_client())
    response = app.test_client().post(
        f"{API}/me/password",
        json={"current_password": "not-my-password", "new_password": "another-" + STRONG_PASSWORD},
        headers=account.bearer,
    )
    assert response.status_code == 401
    with app.app_context(), get_database().session() as db:
        events = db.scalars(
            select(AuditEvent).where(
                AuditEvent.tag == "account:reauth:failure",
                AuditEvent.target == f"user:{account.user['id']}",
            )
        ).all()
    assert [e.details for e in events] == [{"reason": "wrong-password"}]


def test_api_answers_are_never_cached(make_app: AppFactory) -> None:
    client = make_app().test_client()
    username = register(client)
    login = client.post(
        f"{API}/auth/login", json={"username": username, "password": STRONG_PASSWORD}
    )
    assert login.headers["Cache-Control"] == "no-store"
    assert client.get(f"{API}/me").headers["Cache-Control"] == "no-store"


def test_old_sessions_confirm_the_password_before_adding_credentials(make_app: AppFactory) -> None:
    app = make_app()
    clock = FakeClock()
    use_clock(app, clock)
    account = sign_in(app.test_client(), register(app.test_client()))
    clock.advance(minutes=10)
    client = app.test_client()
    client.get(f"{API}/me", headers=account.bearer)  # keep the session from idling out
    clock.advance(minutes=6)
    new_token = {"name": "late", "scopes": ["files:read"]}
    refused = client.post(f"{API}/me/tokens", json=new_token, headers=account.bearer)
    assert refused.status_code == 403
    assert refused.get_json()["type"] == "urn:strongroom:problem:reauthentication-required"
    refused = client.post(f"{API}/me/2fa", json={}, headers=account.bearer)
    assert refused.status_code == 403
    wrong = client.post(
        f"{API}/me/tokens", json={**new_token, "current_password": "nope"}, headers=account.bearer
    )
    assert wrong.status_code == 401
    right = client.post(
        f"{API}/me/tokens",
        json={**new_token, "current_password": STRONG_PASSWORD},
        headers=account.bearer,
    )
    assert right.status_code == 201


def test_turning_on_2fa_ends_the_other_sessions(make_app: AppFactory) -> None:
    app = make_app()
    clock = FakeClock()
    use_clock(app, clock)
    username = register(app.test_client())
    laptop = sign_in(app.test_client(), username)
    phone = sign_in(app.test_client(), username)
    client = app.test_client()
    secret = client.post(f"{API}/me/2fa", json={}, headers=laptop.bearer).get_json()["secret"]
    confirmed = client.post(
        f"{API}/me/2fa/confirm",
        json={"code": pyotp.TOTP(secret).at(clock.now())},
        headers=laptop.bearer,
    )
    assert confirmed.status_code == 200
    assert client.get(f"{API}/me", headers=phone.bearer).status_code == 401
    fresh = {"Authorization": f"Bearer {confirmed.get_json()['token']}"}
    assert client.get(f"{API}/me", headers=fresh).status_code == 200
