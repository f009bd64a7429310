"""Accounts end to end over HTTP: registration, sign-in, sessions, password changes,
CSRF, personal access tokens, TOTP, restricted accounts and the admin API.

The database is shared by the whole run, so every account has a unique name.
"""

from __future__ import annotations

import json
import secrets
import string
from datetime import datetime, timedelta
from typing import Any

import pyotp
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from strongroom.admin import services
from strongroom.auth.authn import DEPS_KEY
from strongroom.auth.models import AccessToken, AuthSession, Role, User
from strongroom.context import get_database
from strongroom.ledger.models import AuditEvent
from tests.auth_helpers import (
    STRONG_PASSWORD,
    FakeClock,
    SignedIn,
    register,
    sign_in,
    unique_name,
    use_clock,
)
from tests.conftest import AppFactory, migrate

API = "/api/v1"
COOKIE = "__Host-strongroom_session"
PROBLEM = "urn:strongroom:problem:"
NEW_PASSWORD = "amber-falcon-quarry-314"
# Generous route limits so one app can register and sign in many accounts; the
# per-account failure limits (2FA codes, current passwords) keep their defaults.
ROOMY: dict[str, Any] = {
    "rate_limit_register_ip": "1000/minute",
    "rate_limit_signin_ip": "1000/minute",
    "rate_limit_token_failures_ip": "1000/minute",
}


@pytest.fixture
def app(make_app: AppFactory) -> APIFlask:
    return make_app(**ROOMY)


def build(make_app: AppFactory, **overrides: Any) -> APIFlask:
    return make_app(**{**ROOMY, **overrides})


# --- helpers ------------------------------------------------------------------------


def expect_problem(response: TestResponse, status: int, slug: str) -> dict[str, Any]:
    body = response.get_json()
    assert response.status_code == status, body
    assert body["type"] == PROBLEM + slug, body
    assert response.mimetype == "application/problem+json"
    return body  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf(token: str) -> dict[str, str]:
    return {"X-CSRF-Token": token}


def call(app: APIFlask, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    """One request from a fresh client (no cookies), authenticated by ``token`` if given."""
    headers = {**kw.pop("headers", {}), **(bearer(token) if token else {})}
    return app.test_client().open(API + path, method=method, headers=headers, **kw)


def change_password(app: APIFlask, token: str, current: str, new: str = NEW_PASSWORD) -> Any:
    body = {"current_password": current, "new_password": new}
    return call(app, "POST", "/me/password", token, json=body)


def create_pat(app: APIFlask, token: str, scopes: list[str], **extra: Any) -> Any:
    body = {"name": extra.pop("name", "a token"), "scopes": scopes, **extra}
    return call(app, "POST", "/me/tokens", token, json=body)


def me_status(app: APIFlask, token: str) -> int:
    return int(call(app, "GET", "/me", token).status_code)


def login(client: FlaskClient, username: str, password: str = STRONG_PASSWORD, **kw: Any) -> Any:
    return client.post(f"{API}/auth/login", json={"username": username, "password": password}, **kw)


def account(app: APIFlask, prefix: str = "user") -> SignedIn:
    """A registered, signed-in account; its cookie is in a client nobody else uses."""
    return sign_in(app.test_client(), register(app.test_client(), unique_name(prefix)))


def cookie_account(app: APIFlask, prefix: str = "user") -> tuple[FlaskClient, SignedIn]:
    client = app.test_client()
    return client, sign_in(client, register(app.test_client(), unique_name(prefix)))


def create_account(
    app: APIFlask, prefix: str = "user", *, role: Role = Role.USER, password: str = STRONG_PASSWORD
) -> str:
    """An account made by the admin service directly (works whatever the registration mode)."""
    name = unique_name(prefix)
    with app.app_context(), get_database().session() as db:
        services.create_user(
            db,
            app.extensions[DEPS_KEY],
            actor="system:test",
            username=name,
            password=password,
            role=role,
        )
        db.commit()
    return name


def admin(app: APIFlask) -> SignedIn:
    return sign_in(app.test_client(), create_account(app, "admin", role=Role.ADMIN))


def load_user(app: APIFlask, username: str) -> User | None:
    with app.app_context(), get_database().session() as db:
        return db.scalars(select(User).where(User.username == username)).one_or_none()


def count_users(app: APIFlask) -> int:
    with app.app_context(), get_database().session() as db:
        return len(db.scalars(select(User.id)).all())


def audit(app: APIFlask, *, target: str, tag: str | None = None) -> list[AuditEvent]:
    with app.app_context(), get_database().session() as db:
        statement = select(AuditEvent).where(AuditEvent.target == target)
        if tag is not None:
            statement = statement.where(AuditEvent.tag == tag)
        return list(db.scalars(statement.order_by(AuditEvent.id)).all())


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def strong_password(length: int) -> str:
    alphabet = string.ascii_letters + string.digits + string.punctuation + " "
    return "X" + "".join(secrets.choice(alphabet) for _ in range(length - 2)) + "9"


# --- registration -------------------------------------------------------------------


def test_register_answers_the_account_with_its_name_in_lower_case(app: APIFlask) -> None:
    name = unique_name("Reg").replace("reg", "Reg")
    assert name != name.lower()
    response = app.test_client().post(
        f"{API}/auth/register",
        json={"username": name, "password": STRONG_PASSWORD, "display_name": "Reg"},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["username"] == name.lower()
    assert body["role"] == "user"
    assert body["status"] == "active"
    assert body["display_name"] == "Reg"
    assert body["must_change_password"] is False
    assert body["two_factor_enabled"] is False
    assert body["last_sign_in_at"] is None
    assert not {"password", "password_hash", "totp_secret"} & set(body)
    assert STRONG_PASSWORD not in response.get_data(as_text=True)
    assert "argon2" not in response.get_data(as_text=True)
    stored = load_user(app, name.lower())
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert audit(app, target=f"user:{stored.id}", tag="account:register")


@pytest.mark.parametrize("second", ["lower", "upper", "same"])
def test_usernames_are_unique_whatever_the_case(app: APIFlask, second: str) -> None:
    name = unique_name("dup")
    register(app.test_client(), name.capitalize())
    again = {"lower": name, "upper": name.upper(), "same": name.capitalize()}[second]
    response = app.test_client().post(
        f"{API}/auth/register", json={"username": again, "password": NEW_PASSWORD}
    )
    expect_problem(response, 409, "username-taken")
    # The first account keeps its password.
    assert login(app.test_client(), name).status_code == 200


@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "bad name",
        "\u0430lice",  # Cyrillic a
        "al\u200bice",  # zero-width space
        "\uff41\uff4c\uff49\uff43\uff45",  # full-width
        "<script>",
        "x'; drop table users;--",
        "-alice",
        "a" * 33,
        "support",  # reserved
        "newline-name\n",
    ],
    ids=repr,
)
def test_invalid_usernames_are_refused_and_nothing_is_created(app: APIFlask, username: str) -> None:
    before = count_users(app)
    response = app.test_client().post(
        f"{API}/auth/register", json={"username": username, "password": STRONG_PASSWORD}
    )
    body = expect_problem(response, 422, "invalid-username")
    assert "<script>" not in body["detail"]
    assert count_users(app) == before


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password1234", "breached"),
        ("Kq7#vT2m!xL", "at least 12"),
        ("{username}-violet-harbour", "username"),
        ("aaaaaaaaaaaaaaaa", "Add more words"),
    ],
)
def test_weak_passwords_are_refused_with_reasons(app: APIFlask, password: str, reason: str) -> None:
    name = unique_name("weak")
    response = app.test_client().post(
        f"{API}/auth/register",
        json={"username": name, "password": password.format(username=name.upper())},
    )
    body = expect_problem(response, 422, "password-rejected")
    assert isinstance(body["reasons"], list)
    assert body["reasons"]
    assert any(reason in r for r in body["reasons"]), body["reasons"]
    assert load_user(app, name) is None


@pytest.mark.parametrize("length", [64, 1024])
def test_long_passwords_are_accepted_and_not_truncated(app: APIFlask, length: int) -> None:
    password = strong_password(length)
    assert len(password) == length
    name = register(app.test_client(), unique_name("long"), password=password)
    assert login(app.test_client(), name, password).status_code == 200
    expect_problem(login(app.test_client(), name, password[:-1]), 401, "invalid-credentials")
    if length > 72:  # where bcrypt would have cut it, and zxcvbn stops looking
        expect_problem(login(app.test_client(), name, password[:72]), 401, "invalid-credentials")


def test_a_password_over_1024_characters_is_refused(app: APIFlask) -> None:
    name = unique_name("huge")
    response = app.test_client().post(
        f"{API}/auth/register", json={"username": name, "password": strong_password(1025)}
    )
    assert response.status_code == 422
    assert load_user(app, name) is None


def test_spaces_around_a_password_are_part_of_it(app: APIFlask) -> None:
    password = " spaced passphrase words 42 "
    name = register(app.test_client(), unique_name("space"), password=password)
    expect_problem(login(app.test_client(), name, password.strip()), 401, "invalid-credentials")
    expect_problem(login(app.test_client(), name, password.rstrip()), 401, "invalid-credentials")
    assert login(app.test_client(), name, password).status_code == 200


def test_registration_can_be_closed(make_app: AppFactory) -> None:
    app = build(make_app, registration="closed")
    name = unique_name("closed")
    response = app.test_client().post(
        f"{API}/auth/register", json={"username": name, "password": STRONG_PASSWORD}
    )
    expect_problem(response, 403, "registration-closed")
    assert load_user(app, name) is None


def test_invite_only_registration(make_app: AppFactory) -> None:
    app = build(make_app, registration="invite")
    clock = FakeClock()
    use_clock(app, clock)
    boss = admin(app)

    def sign_up(invite: str | None) -> tuple[str, Any]:
        name = unique_name("invited")
        body = {"username": name, "password": STRONG_PASSWORD, "invite": invite}
        return name, app.test_client().post(f"{API}/auth/register", json=body)

    name, response = sign_up(None)
    expect_problem(response, 403, "registration-closed")
    name, response = sign_up("sri_" + secrets.token_urlsafe(32))
    expect_problem(response, 403, "registration-closed")

    created = call(app, "POST", "/admin/invites", boss.token, json={"note": "for a friend"})
    assert created.status_code == 201, created.get_json()
    invite = created.get_json()["token"]
    assert invite.startswith("sri_")
    name, response = sign_up(invite)
    assert response.status_code == 201, response.get_json()
    assert login(app.test_client(), name).status_code == 200
    name, response = sign_up(invite)  # single use
    expect_problem(response, 403, "registration-closed")
    assert load_user(app, name) is None

    late = call(app, "POST", "/admin/invites", boss.token, json={}).get_json()["token"]
    clock.advance(seconds=app.extensions[DEPS_KEY].settings.invite_lifetime + 1)
    name, response = sign_up(late)
    expect_problem(response, 403, "registration-closed")
    assert load_user(app, name) is None


# --- sign-in ------------------------------------------------------------------------


def test_sign_in_answers_a_session_and_a_hardened_cookie(app: APIFlask) -> None:
    name = register(app.test_client(), unique_name("login"))
    client = app.test_client()
    response = login(client, name)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token"].startswith("srs_")
    assert body["csrf_token"]
    assert body["csrf_token"] != body["token"]
    assert datetime.fromisoformat(body["expires_at"])
    assert body["user"]["username"] == name
    assert "two_factor_required" not in body or body["two_factor_required"] is False

    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1
    parts = [p.strip() for p in cookies[0].split(";")]
    assert parts[0] == f"{COOKIE}={body['token']}"
    flags = {p.split("=", 1)[0].lower(): p for p in parts[1:]}
    assert "httponly" in flags
    assert "secure" in flags
    assert flags["samesite"] == "SameSite=Lax"
    assert flags["path"] == "Path=/"
    assert "domain" not in flags
    stored = client.get_cookie(COOKIE)
    assert stored is not None
    assert stored.value == body["token"]


def test_unknown_user_wrong_password_and_disabled_account_answer_alike(app: APIFlask) -> None:
    name = register(app.test_client(), unique_name("alike"))
    unknown = login(app.test_client(), unique_name("nobody"))
    wrong = login(app.test_client(), name, NEW_PASSWORD)
    user = load_user(app, name)
    assert user is not None
    boss = admin(app)
    patched = call(app, "PATCH", f"/admin/users/{user.id}", boss.token, json={"status": "disabled"})
    assert patched.status_code == 200, patched.get_json()
    disabled = login(app.test_client(), name)  # the right password

    answers = [unknown, wrong, disabled]
    for response in answers:
        expect_problem(response, 401, "invalid-credentials")
        assert "Set-Cookie" not in response.headers
    keys = [tuple(r.get_json()[k] for k in ("type", "title", "status", "detail")) for r in answers]
    assert len(set(keys)) == 1, keys


@pytest.mark.parametrize(
    "typed", [str.upper, str.title, full_width, lambda n: full_width(n.upper())]
)
def test_sign_in_finds_the_account_however_the_name_is_typed(app: APIFlask, typed: Any) -> None:
    name = register(app.test_client(), unique_name("alice"))
    response = login(app.test_client(), typed(name))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["username"] == name


def test_sign_in_is_recorded_without_the_password(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    name = register(app.test_client(), unique_name("audited"))
    user = load_user(app, name)
    assert user is not None
    assert user.last_sign_in_at is None
    wrong_password = "wrong-" + STRONG_PASSWORD
    expect_problem(login(app.test_client(), name, wrong_password), 401, "invalid-credentials")
    clock.advance(seconds=5)
    response = login(app.test_client(), name, headers={"User-Agent": "audit-agent/1.0"})
    assert response.status_code == 200
    signed_at = datetime.fromisoformat(response.get_json()["user"]["last_sign_in_at"])
    assert abs(signed_at - clock.now()) < timedelta(seconds=1)
    stored = load_user(app, name)
    assert stored is not None
    assert stored.last_sign_in_at is not None
    assert abs(stored.last_sign_in_at - clock.now()) < timedelta(seconds=1)

    events = audit(app, target=f"user:{user.id}")
    tags = [e.tag for e in events]
    assert "account:signin:failure" in tags
    assert "account:signin:success" in tags
    failure = next(e for e in events if e.tag == "account:signin:failure")
    success = next(e for e in events if e.tag == "account:signin:success")
    assert failure.details["reason"] == "wrong-password"
    assert failure.details["ip"] == "127.0.0.1"
    assert success.details["method"] == "password"
    assert success.details["user_agent"] == "audit-agent/1.0"
    assert success.actor == f"user:{user.id}"

    ghost = unique_name("ghost")
    login(app.test_client(), ghost, wrong_password)
    (unknown,) = audit(app, target=f"username:{ghost}")
    assert unknown.tag == "account:signin:failure"
    assert unknown.actor == "anonymous"
    assert unknown.details["reason"] == "unknown-user"

    for event in [*events, unknown]:
        text = json.dumps(event.details)
        assert STRONG_PASSWORD not in text
        assert wrong_password not in text
        assert "password" not in {k.lower() for k in event.details}


# --- sessions -----------------------------------------------------------------------


def test_me_works_with_the_cookie_and_with_the_bearer_token(app: APIFlask) -> None:
    client, signed = cookie_account(app)
    by_cookie = client.get(f"{API}/me")
    assert by_cookie.status_code == 200
    body = by_cookie.get_json()
    assert body["username"] == signed.username
    assert body["auth"] == "session"
    assert body["csrf_token"] == signed.csrf_token
    assert "admin" not in body["scopes"]
    by_bearer = call(app, "GET", "/me", signed.token)
    assert by_bearer.status_code == 200
    assert by_bearer.get_json()["username"] == signed.username
    anonymous = app.test_client().get(f"{API}/me")
    expect_problem(anonymous, 401, "unauthenticated")
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")


def test_sign_out_ends_the_session_for_cookie_and_bearer(app: APIFlask) -> None:
    client, signed = cookie_account(app)
    expect_problem(client.post(f"{API}/auth/logout"), 403, "csrf-failed")
    response = client.post(f"{API}/auth/logout", headers=csrf(signed.csrf_token))
    assert response.status_code == 204
    assert client.get_cookie(COOKIE) is None
    cleared = response.headers["Set-Cookie"]
    assert cleared.startswith(f"{COOKIE}=;")
    assert "Max-Age=0" in cleared
    expect_problem(call(app, "GET", "/me", signed.token), 401, "unauthenticated")
    client.set_cookie(COOKIE, signed.token)
    expect_problem(client.get(f"{API}/me"), 401, "unauthenticated")
    user = load_user(app, signed.username)
    assert user is not None
    assert audit(app, target=f"user:{user.id}", tag="account:signin:success")


def test_sessions_end_after_the_idle_timeout(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    idle = app.extensions[DEPS_KEY].settings.session_idle_timeout
    name = register(app.test_client(), unique_name("idle"))
    used = sign_in(app.test_client(), name)
    unused = sign_in(app.test_client(), name)
    clock.advance(seconds=idle - 1)
    assert me_status(app, used.token) == 200  # moves its last-seen time
    clock.advance(seconds=2)
    assert me_status(app, unused.token) == 401  # idle for idle_timeout + 1 s
    assert me_status(app, used.token) == 200
    clock.advance(seconds=idle + 1)
    assert me_status(app, used.token) == 401


def test_sessions_end_at_their_absolute_lifetime_however_busy(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    settings = app.extensions[DEPS_KEY].settings
    lifetime = timedelta(seconds=settings.session_lifetime)
    step = timedelta(minutes=20)
    assert step < timedelta(seconds=settings.session_idle_timeout)
    signed = account(app, "busy")
    start = clock.now()
    while clock.now() - start + step < lifetime:
        clock.advance(minutes=20)
        assert me_status(app, signed.token) == 200, clock.now() - start
    clock.advance(minutes=20)
    assert clock.now() - start >= lifetime
    assert me_status(app, signed.token) == 401


def test_sessions_are_listed_and_one_can_be_ended(app: APIFlask) -> None:
    name = register(app.test_client(), unique_name("multi"))
    laptop = app.test_client()
    mine = login(laptop, name, headers={"User-Agent": "laptop-browser/1"}).get_json()
    phone = login(app.test_client(), name, headers={"User-Agent": "phone-app/2"}).get_json()
    assert phone["token"] != mine["token"]

    listed = laptop.get(f"{API}/me/sessions")
    assert listed.status_code == 200
    sessions = listed.get_json()["sessions"]
    assert len(sessions) == 2
    assert {s["user_agent"] for s in sessions} == {"laptop-browser/1", "phone-app/2"}
    assert all(s["ip"] == "127.0.0.1" for s in sessions)
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1
    assert current[0]["user_agent"] == "laptop-browser/1"
    assert all(set(s) >= {"id", "created_at", "last_seen_at", "expires_at"} for s in sessions)
    assert not any("token" in s for s in sessions)
    other = next(s for s in sessions if not s["current"])

    ended = laptop.delete(f"{API}/me/sessions/{other['id']}", headers=csrf(mine["csrf_token"]))
    assert ended.status_code == 204
    assert me_status(app, phone["token"]) == 401
    assert me_status(app, mine["token"]) == 200
    remaining = laptop.get(f"{API}/me/sessions").get_json()["sessions"]
    assert [s["user_agent"] for s in remaining] == ["laptop-browser/1"]


def test_another_users_session_cannot_be_ended(app: APIFlask) -> None:
    mallory = account(app, "mallory")
    victim = account(app, "victim")
    victims = call(app, "GET", "/me/sessions", victim.token).get_json()["sessions"]
    (target,) = victims
    response = call(app, "DELETE", f"/me/sessions/{target['id']}", mallory.token)
    expect_problem(response, 404, "not-found")
    expect_problem(call(app, "DELETE", "/me/sessions/999999999", mallory.token), 404, "not-found")
    assert me_status(app, victim.token) == 200


def test_every_sign_in_issues_a_fresh_token(app: APIFlask) -> None:
    name = register(app.test_client(), unique_name("fresh"))
    client = app.test_client()
    planted = "srs_" + secrets.token_urlsafe(32)
    client.set_cookie(COOKIE, planted)
    first = sign_in(client, name)
    second = sign_in(client, name)
    assert first.token != second.token
    assert first.csrf_token != second.csrf_token
    stored = client.get_cookie(COOKIE)
    assert stored is not None
    assert stored.value == second.token
    assert planted not in {first.token, second.token}
    assert me_status(app, first.token) == 200
    assert me_status(app, second.token) == 200


# --- password change ----------------------------------------------------------------


def test_changing_the_password_needs_the_current_one_and_a_good_new_one(app: APIFlask) -> None:
    signed = account(app, "change")
    wrong = change_password(app, signed.token, NEW_PASSWORD, NEW_PASSWORD)
    expect_problem(wrong, 401, "invalid-credentials")
    weak = change_password(app, signed.token, STRONG_PASSWORD, "password1234")
    assert expect_problem(weak, 422, "password-rejected")["reasons"]
    same = change_password(app, signed.token, STRONG_PASSWORD, STRONG_PASSWORD)
    expect_problem(same, 422, "password-rejected")
    assert me_status(app, signed.token) == 200
    assert login(app.test_client(), signed.username).status_code == 200


def test_changing_the_password_rotates_this_session_and_ends_the_others(app: APIFlask) -> None:
    client, signed = cookie_account(app, "rotate")
    other = sign_in(app.test_client(), signed.username)
    response = client.post(
        f"{API}/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=csrf(signed.csrf_token),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token"].startswith("srs_")
    assert body["token"] != signed.token
    assert body["csrf_token"] != signed.csrf_token
    stored = client.get_cookie(COOKIE)
    assert stored is not None
    assert stored.value == body["token"]

    assert me_status(app, signed.token) == 401
    assert me_status(app, other.token) == 401
    assert me_status(app, body["token"]) == 200
    assert client.get(f"{API}/me").status_code == 200
    expect_problem(login(app.test_client(), signed.username), 401, "invalid-credentials")
    assert login(app.test_client(), signed.username, NEW_PASSWORD).status_code == 200
    user_id = signed.user["id"]
    (event,) = audit(app, target=f"user:{user_id}", tag="account:password:change")
    assert event.details == {"sessions_ended": 1}


def test_wrong_current_passwords_are_throttled(app: APIFlask) -> None:
    signed = account(app, "guess")
    attempts = [
        change_password(app, signed.token, f"wrong-guess-{i}", NEW_PASSWORD) for i in range(6)
    ]
    for response in attempts[:5]:
        expect_problem(response, 401, "invalid-credentials")
    body = expect_problem(attempts[5], 429, "rate-limited")
    retry_after = int(attempts[5].headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    assert body["retry_after"] == retry_after
    # During the lock-out even the right password is refused.
    right = change_password(app, signed.token, STRONG_PASSWORD, NEW_PASSWORD)
    expect_problem(right, 429, "rate-limited")
    assert login(app.test_client(), signed.username).status_code == 200


# --- CSRF ---------------------------------------------------------------------------


def test_cookie_authenticated_changes_need_the_csrf_token(app: APIFlask) -> None:
    client, signed = cookie_account(app, "csrf")
    body = {"name": "ci", "scopes": ["files:read"]}
    expect_problem(client.post(f"{API}/me/tokens", json=body), 403, "csrf-failed")
    altered = ("y" if signed.csrf_token[0] == "x" else "x") + signed.csrf_token[1:]
    wrong = client.post(f"{API}/me/tokens", json=body, headers=csrf(altered))
    expect_problem(wrong, 403, "csrf-failed")
    other = account(app, "csrf-other")  # a valid token, but of another session
    stolen = client.post(f"{API}/me/tokens", json=body, headers=csrf(other.csrf_token))
    expect_problem(stolen, 403, "csrf-failed")
    assert client.get(f"{API}/me/tokens").get_json()["tokens"] == []
    right = client.post(f"{API}/me/tokens", json=body, headers=csrf(signed.csrf_token))
    assert right.status_code == 201, right.get_json()
    by_bearer = call(app, "POST", "/me/tokens", signed.token, json=body)
    assert by_bearer.status_code == 201, by_bearer.get_json()


# --- personal access tokens ---------------------------------------------------------


def test_personal_access_token_lifecycle(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    signed = account(app, "pat")
    created = create_pat(app, signed.token, ["files:read", "files:write"], name="backup script")
    assert created.status_code == 201, created.get_json()
    new = created.get_json()
    token = new["token"]
    assert token.startswith("srp_")
    assert new["name"] == "backup script"
    assert new["scopes"] == ["files:read", "files:write"]
    assert new["hint"] == token[4:12]
    assert new["last_used_at"] is None

    listed = call(app, "GET", "/me/tokens", signed.token)
    (row,) = listed.get_json()["tokens"]
    assert row["id"] == new["id"]
    assert row["name"] == "backup script"
    assert row["hint"] == new["hint"]
    assert "token" not in row
    assert token not in listed.get_data(as_text=True)

    clock.advance(seconds=3)
    me = call(app, "GET", "/me", token)
    assert me.status_code == 200
    assert me.get_json()["auth"] == "token"
    assert me.get_json()["scopes"] == ["files:read", "files:write"]
    assert me.get_json().get("csrf_token") is None
    (row,) = call(app, "GET", "/me/tokens", signed.token).get_json()["tokens"]
    assert row["last_used_at"] is not None
    assert abs(datetime.fromisoformat(row["last_used_at"]) - clock.now()) < timedelta(seconds=1)

    revoked = call(app, "DELETE", f"/me/tokens/{new['id']}", signed.token)
    assert revoked.status_code == 204
    expect_problem(call(app, "GET", "/me", token), 401, "unauthenticated")
    assert call(app, "GET", "/me/tokens", signed.token).get_json()["tokens"] == []
    expect_problem(call(app, "DELETE", f"/me/tokens/{new['id']}", signed.token), 404, "not-found")
    events = audit(app, target=f"token:{new['id']}")
    assert [e.tag for e in events] == ["account:token:create", "account:token:revoke"]


def test_a_token_cannot_manage_credentials_or_sessions(app: APIFlask) -> None:
    signed = account(app, "limited")
    token = create_pat(
        app, signed.token, ["files:read", "files:write", "shares:write"], name="all"
    ).get_json()["token"]
    refused = [
        ("POST", "/me/tokens", {"name": "more", "scopes": ["files:read"]}),
        ("GET", "/me/tokens", None),
        ("DELETE", "/me/tokens/1", None),
        (
            "POST",
            "/me/password",
            {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        ),
        ("GET", "/me/2fa", None),
        ("POST", "/me/2fa", None),
        ("POST", "/me/2fa/confirm", {"code": "123456"}),
        ("DELETE", "/me/2fa", {"password": STRONG_PASSWORD, "code": "123456"}),
        ("GET", "/me/sessions", None),
        ("DELETE", "/me/sessions/1", None),
        ("POST", "/auth/logout", None),
    ]
    for method, path, body in refused:
        response = call(app, method, path, token, json=body)
        expect_problem(response, 403, "session-required")
    assert me_status(app, token) == 200
    assert me_status(app, signed.token) == 200
    assert login(app.test_client(), signed.username).status_code == 200


def test_admin_routes_need_an_admin_and_the_admin_scope(app: APIFlask) -> None:
    boss = admin(app)

    def pat(signed: SignedIn, scopes: list[str]) -> str:
        response = create_pat(app, signed.token, scopes)
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["token"])

    assert call(app, "GET", "/admin/users", boss.token).status_code == 200
    without = pat(boss, ["files:read", "files:write", "shares:write"])
    expect_problem(call(app, "GET", "/admin/users", without), 403, "forbidden")
    with_scope = pat(boss, ["admin"])
    assert call(app, "GET", "/admin/users", with_scope).status_code == 200
    # Handing out credentials (invitations, temporary passwords) needs a session.
    expect_problem(
        call(app, "POST", "/admin/invites", with_scope, json={}), 403, "session-required"
    )

    user = account(app, "wannabe")
    expect_problem(call(app, "GET", "/admin/users", user.token), 403, "forbidden")
    user_pat = pat(user, ["admin"])
    expect_problem(call(app, "GET", "/admin/users", user_pat), 403, "forbidden")
    me = call(app, "GET", "/me", user_pat).get_json()
    assert me["role"] == "user"


def test_expired_tokens_and_tokens_of_disabled_accounts_stop_working(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    signed = account(app, "expiry")
    boss = admin(app)
    soon = (clock.now() + timedelta(hours=1)).isoformat()
    short = create_pat(app, signed.token, ["files:read"], name="short", expires_at=soon).get_json()
    lasting = create_pat(app, signed.token, ["files:read"], name="lasting").get_json()
    gone = (clock.now() - timedelta(seconds=1)).isoformat()
    past = create_pat(app, signed.token, ["files:read"], name="past", expires_at=gone)
    expect_problem(past, 409, "conflict")

    clock.advance(minutes=59)
    assert me_status(app, short["token"]) == 200
    clock.advance(minutes=1, seconds=1)
    expect_problem(call(app, "GET", "/me", short["token"]), 401, "unauthenticated")
    assert me_status(app, lasting["token"]) == 200

    boss = sign_in(app.test_client(), boss.username)  # the first session went idle
    user_id = signed.user["id"]
    disable = call(app, "PATCH", f"/admin/users/{user_id}", boss.token, json={"status": "disabled"})
    assert disable.status_code == 200
    expect_problem(call(app, "GET", "/me", lasting["token"]), 401, "unauthenticated")
    enable = call(app, "PATCH", f"/admin/users/{user_id}", boss.token, json={"status": "active"})
    assert enable.status_code == 200
    # Disabling revoked the tokens for good: enabling the account does not revive them.
    assert me_status(app, lasting["token"]) == 401
    assert me_status(app, short["token"]) == 401


@pytest.mark.parametrize("scopes", [["files:delete"], ["admin", "root"], [], "files:read"])
def test_unknown_scopes_are_refused(app: APIFlask, scopes: Any) -> None:
    signed = account(app, "scopes")
    response = call(app, "POST", "/me/tokens", signed.token, json={"name": "x", "scopes": scopes})
    assert response.status_code == 422, response.get_json()
    assert call(app, "GET", "/me/tokens", signed.token).get_json()["tokens"] == []


# --- TOTP two-factor authentication ------------------------------------------------


def wrong_code(secret: str, when: datetime) -> str:
    totp = pyotp.TOTP(secret)
    valid = {totp.at(when + timedelta(seconds=30 * d)) for d in range(-2, 3)}
    return next(
        c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c not in valid
    )


def code_at(secret: str, clock: FakeClock) -> str:
    return str(pyotp.TOTP(secret).at(clock.now()))


def enrol(app: APIFlask, signed: SignedIn, clock: FakeClock) -> tuple[str, list[str], str]:
    """Turn 2FA on; returns the secret, the recovery codes and the session's new token."""
    started = call(app, "POST", "/me/2fa", signed.token)
    assert started.status_code == 201, started.get_json()
    secret = started.get_json()["secret"]
    confirmed = call(
        app, "POST", "/me/2fa/confirm", signed.token, json={"code": code_at(secret, clock)}
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    body = confirmed.get_json()
    clock.advance(seconds=30)  # the confirming code's step is used up
    return secret, body["recovery_codes"], body["token"]


def challenge_for(app: APIFlask, username: str, password: str = STRONG_PASSWORD) -> str:
    response = login(app.test_client(), username, password)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["two_factor_required"] is True
    assert "token" not in body
    assert "Set-Cookie" not in response.headers
    assert body["challenge"].startswith("src_")
    return str(body["challenge"])


def second_step(app: APIFlask, challenge: str, **code: str) -> Any:
    client = app.test_client()
    return client.post(f"{API}/auth/login/totp", json={"challenge": challenge, **code})


def test_two_factor_enrolment(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    client, signed = cookie_account(app, "totp")
    started = client.post(f"{API}/me/2fa", headers=csrf(signed.csrf_token))
    assert started.status_code == 201, started.get_json()
    body = started.get_json()
    secret = body["secret"]
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert signed.username in body["otpauth_uri"]
    assert f"secret={secret}" in body["otpauth_uri"]
    assert "issuer=Strongroom" in body["otpauth_uri"]
    assert "<svg" in body["qr_svg"]
    status = client.get(f"{API}/me/2fa").get_json()
    assert status == {
        "enabled": False,
        "required": False,
        "pending": True,
        "recovery_codes_left": 0,
    }
    user = load_user(app, signed.username)
    assert user is not None
    assert user.totp_pending_secret is not None
    assert secret.encode() not in user.totp_pending_secret  # sealed, not stored as given

    bad = client.post(
        f"{API}/me/2fa/confirm",
        json={"code": wrong_code(secret, clock.now())},
        headers=csrf(signed.csrf_token),
    )
    expect_problem(bad, 422, "invalid-code")
    assert client.get(f"{API}/me/2fa").get_json()["enabled"] is False

    good = client.post(
        f"{API}/me/2fa/confirm",
        json={"code": code_at(secret, clock)},
        headers=csrf(signed.csrf_token),
    )
    assert good.status_code == 200, good.get_json()
    body = good.get_json()
    codes = body["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert body["token"].startswith("srs_")
    assert body["token"] != signed.token
    assert me_status(app, signed.token) == 401
    status = client.get(f"{API}/me/2fa").get_json()  # the cookie now holds the new token
    assert status["enabled"] is True
    assert status["pending"] is False
    assert status["recovery_codes_left"] == 10
    assert call(app, "GET", "/me", body["token"]).get_json()["two_factor_enabled"] is True
    restart = call(app, "POST", "/me/2fa", body["token"])
    expect_problem(restart, 409, "conflict")  # turn it off first
    assert audit(app, target=f"user:{signed.user['id']}", tag="account:2fa:enable")


def test_sign_in_with_two_factor_and_no_replay(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    signed = account(app, "twostep")
    secret, _codes, _token = enrol(app, signed, clock)

    challenge = challenge_for(app, signed.username)
    expect_problem(call(app, "GET", "/me", challenge), 401, "unauthenticated")
    code = code_at(secret, clock)
    finished = second_step(app, challenge, code=code)
    assert finished.status_code == 200, finished.get_json()
    body = finished.get_json()
    assert body["token"].startswith("srs_")
    assert body["user"]["username"] == signed.username
    assert f"{COOKIE}={body['token']}" in finished.headers["Set-Cookie"]
    assert me_status(app, body["token"]) == 200
    # The challenge was used up with the sign-in.
    expect_problem(second_step(app, challenge, code=code), 401, "challenge-expired")

    replay = second_step(app, challenge_for(app, signed.username), code=code)
    expect_problem(replay, 401, "invalid-credentials")
    assert "Set-Cookie" not in replay.headers
    # Neither code nor recovery code, or both: refused before anything is checked.
    again = challenge_for(app, signed.username)
    expect_problem(second_step(app, again), 422, "invalid-code")
    clock.advance(seconds=30)
    assert second_step(app, again, code=code_at(secret, clock)).status_code == 200
    events = audit(app, target=f"user:{signed.user['id']}", tag="account:signin:success")
    assert [e.details["method"] for e in events][-2:] == ["totp", "totp"]


def test_a_recovery_code_works_once(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    signed = account(app, "recovery")
    _secret, codes, _token = enrol(app, signed, clock)
    first = second_step(app, challenge_for(app, signed.username), recovery_code=codes[0].upper())
    assert first.status_code == 200, first.get_json()
    status = call(app, "GET", "/me/2fa", first.get_json()["token"]).get_json()
    assert status["recovery_codes_left"] == 9
    again = second_step(app, challenge_for(app, signed.username), recovery_code=codes[0])
    expect_problem(again, 401, "invalid-credentials")
    other = second_step(app, challenge_for(app, signed.username), recovery_code=codes[1])
    assert other.status_code == 200
    (used, *_rest) = audit(app, target=f"user:{signed.user['id']}", tag="account:2fa:recovery-used")
    assert used.details == {"left": 9}


def test_a_sign_in_challenge_expires(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    signed = account(app, "slow")
    secret, _codes, _token = enrol(app, signed, clock)
    challenge = challenge_for(app, signed.username)
    clock.advance(seconds=app.extensions[DEPS_KEY].settings.login_challenge_lifetime + 1)
    late = second_step(app, challenge, code=code_at(secret, clock))
    expect_problem(late, 401, "challenge-expired")
    unknown = second_step(app, "src_" + secrets.token_urlsafe(32), code=code_at(secret, clock))
    expect_problem(unknown, 401, "challenge-expired")


def test_turning_two_factor_off_needs_password_and_code(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    signed = account(app, "off")
    secret, _codes, token = enrol(app, signed, clock)

    def disable(password: str, code: str) -> Any:
        return call(app, "DELETE", "/me/2fa", token, json={"password": password, "code": code})

    expect_problem(disable(NEW_PASSWORD, code_at(secret, clock)), 401, "invalid-credentials")
    expect_problem(disable(STRONG_PASSWORD, wrong_code(secret, clock.now())), 422, "invalid-code")
    assert call(app, "GET", "/me/2fa", token).get_json()["enabled"] is True
    done = disable(STRONG_PASSWORD, code_at(secret, clock))
    assert done.status_code == 200, done.get_json()
    new_token = done.get_json()["token"]
    assert new_token != token
    assert me_status(app, token) == 401
    status = call(app, "GET", "/me/2fa", new_token).get_json()
    assert status == {
        "enabled": False,
        "required": False,
        "pending": False,
        "recovery_codes_left": 0,
    }
    one_step = login(app.test_client(), signed.username)
    assert one_step.status_code == 200
    assert one_step.get_json()["token"].startswith("srs_")
    assert audit(app, target=f"user:{signed.user['id']}", tag="account:2fa:disable")


def test_wrong_codes_are_throttled(app: APIFlask) -> None:
    clock = FakeClock()
    use_clock(app, clock)
    signed = account(app, "brute")
    secret, _codes, _token = enrol(app, signed, clock)
    challenge = challenge_for(app, signed.username)
    bad = wrong_code(secret, clock.now())
    for _ in range(5):
        expect_problem(second_step(app, challenge, code=bad), 401, "invalid-credentials")
    sixth = second_step(app, challenge, code=bad)
    expect_problem(sixth, 429, "rate-limited")
    assert int(sixth.headers["Retry-After"]) > 0
    # Locked out: the right code waits too.
    expect_problem(second_step(app, challenge, code=code_at(secret, clock)), 429, "rate-limited")
    tags = [e.tag for e in audit(app, target=f"user:{signed.user['id']}")]
    assert tags.count("account:signin:failure") == 5
    assert "account:signin:throttled" in tags


# --- restricted accounts ------------------------------------------------------------


def test_a_temporary_password_must_be_changed_first(app: APIFlask) -> None:
    boss = admin(app)
    signed = account(app, "forgetful")
    user_id = signed.user["id"]
    reset = call(app, "POST", f"/admin/users/{user_id}/password-reset", boss.token)
    assert reset.status_code == 200, reset.get_json()
    temporary = reset.get_json()["temporary_password"]
    assert len(temporary) >= 20
    assert me_status(app, signed.token) == 401
    expect_problem(login(app.test_client(), signed.username), 401, "invalid-credentials")

    client = app.test_client()
    restricted = sign_in(client, signed.username, temporary)
    assert restricted.user["must_change_password"] is True
    me = client.get(f"{API}/me")
    assert me.status_code == 200
    assert me.get_json()["must_change_password"] is True
    expect_problem(client.get(f"{API}/me/tokens"), 403, "password-change-required")
    body = {"name": "x", "scopes": ["files:read"]}
    created = client.post(f"{API}/me/tokens", json=body, headers=csrf(restricted.csrf_token))
    expect_problem(created, 403, "password-change-required")

    changed = client.post(
        f"{API}/me/password",
        json={"current_password": temporary, "new_password": NEW_PASSWORD},
        headers=csrf(restricted.csrf_token),
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["user"]["must_change_password"] is False
    assert client.get(f"{API}/me/tokens").status_code == 200
    assert client.get(f"{API}/me").get_json()["must_change_password"] is False
    assert login(app.test_client(), signed.username, NEW_PASSWORD).status_code == 200
    (event,) = audit(app, target=f"user:{user_id}", tag="admin:user:password-reset")
    assert event.actor == f"user:{boss.user['id']}"
    assert temporary not in json.dumps(event.details)


def test_required_two_factor_blocks_everything_but_enrolment(make_app: AppFactory) -> None:
    app = build(make_app, require_2fa="everyone")
    clock = FakeClock()
    use_clock(app, clock)
    signed = account(app, "must2fa")
    expect_problem(call(app, "GET", "/me/tokens", signed.token), 403, "two-factor-setup-required")
    assert me_status(app, signed.token) == 200
    status = call(app, "GET", "/me/2fa", signed.token).get_json()
    assert status["required"] is True
    assert status["enabled"] is False
    _secret, _codes, token = enrol(app, signed, clock)
    assert call(app, "GET", "/me/tokens", token).status_code == 200


# --- the admin API ------------------------------------------------------------------


def test_admin_search_pages_and_filters(app: APIFlask) -> None:
    boss = admin(app)
    prefix = f"pg{secrets.token_hex(4)}"
    for suffix, role in (("a", "user"), ("b", "admin"), ("c", "user")):
        created = call(
            app,
            "POST",
            "/admin/users",
            boss.token,
            json={
                "username": f"{prefix}-{suffix}",
                "password": STRONG_PASSWORD,
                "role": role,
                "display_name": f"Person {suffix.upper()}",
            },
        )
        assert created.status_code == 201, created.get_json()
        assert created.get_json()["temporary_password"] is None

    def search(**query: Any) -> dict[str, Any]:
        response = call(app, "GET", "/admin/users", boss.token, query_string={"q": prefix, **query})
        assert response.status_code == 200, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    first = search(per_page=2)
    assert first["total"] == 3
    assert first["page"] == 1
    assert first["per_page"] == 2
    assert [u["username"] for u in first["users"]] == [f"{prefix}-a", f"{prefix}-b"]
    second = search(per_page=2, page=2)
    assert second["total"] == 3
    assert second["page"] == 2
    assert [u["username"] for u in second["users"]] == [f"{prefix}-c"]
    assert search(per_page=2, page=3)["users"] == []
    assert all("password_hash" not in u for u in first["users"])
    admins = search(role="admin")
    assert [u["username"] for u in admins["users"]] == [f"{prefix}-b"]
    assert admins["total"] == 1

    target = search()["users"][2]
    call(app, "PATCH", f"/admin/users/{target['id']}", boss.token, json={"status": "disabled"})
    disabled = search(status="disabled")
    assert [u["username"] for u in disabled["users"]] == [f"{prefix}-c"]
    assert search(status="active")["total"] == 2
    assert search(q=f"{prefix}-a")["total"] == 1
    assert search(q=prefix.upper())["total"] == 3
    assert search(q=f"{prefix}_a")["total"] == 0  # "_" is a character here, not a wildcard
    bad = call(app, "GET", "/admin/users", boss.token, query_string={"role": "superuser"})
    assert bad.status_code == 422
    one = call(app, "GET", f"/admin/users/{target['id']}", boss.token)
    assert one.get_json()["status"] == "disabled"
    expect_problem(call(app, "GET", "/admin/users/999999999", boss.token), 404, "not-found")


def test_admin_creates_an_account_with_a_temporary_password(app: APIFlask) -> None:
    boss = admin(app)
    name = unique_name("created")
    created = call(
        app, "POST", "/admin/users", boss.token, json={"username": name, "email": "c@example.org"}
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    temporary = body["temporary_password"]
    assert isinstance(temporary, str)
    assert len(temporary) >= 20
    assert body["user"]["username"] == name
    assert body["user"]["must_change_password"] is True
    signed = sign_in(app.test_client(), name, temporary)
    assert signed.user["must_change_password"] is True
    taken = call(app, "POST", "/admin/users", boss.token, json={"username": name.upper()})
    expect_problem(taken, 409, "username-taken")
    weak = call(
        app,
        "POST",
        "/admin/users",
        boss.token,
        json={"username": unique_name("weak"), "password": "password1234"},
    )
    expect_problem(weak, 422, "password-rejected")
    (event,) = audit(app, target=f"user:{body['user']['id']}", tag="admin:user:create")
    assert event.actor == f"user:{boss.user['id']}"


def test_a_role_change_ends_the_accounts_sessions(app: APIFlask) -> None:
    boss = admin(app)
    signed = account(app, "promoted")
    user_id = signed.user["id"]
    promoted = call(app, "PATCH", f"/admin/users/{user_id}", boss.token, json={"role": "admin"})
    assert promoted.status_code == 200, promoted.get_json()
    assert promoted.get_json()["role"] == "admin"
    assert me_status(app, signed.token) == 401
    fresh = sign_in(app.test_client(), signed.username)
    assert call(app, "GET", "/admin/users", fresh.token).status_code == 200
    demoted = call(app, "PATCH", f"/admin/users/{user_id}", boss.token, json={"role": "user"})
    assert demoted.status_code == 200
    assert me_status(app, fresh.token) == 401
    events = audit(app, target=f"user:{user_id}", tag="admin:user:role")
    assert [(e.details["from"], e.details["to"]) for e in events] == [
        ("user", "admin"),
        ("admin", "user"),
    ]
    assert all(e.actor == f"user:{boss.user['id']}" for e in events)


def test_the_last_active_admin_cannot_be_removed(
    make_app: AppFactory, fresh_database_url: str
) -> None:
    migrate(fresh_database_url)
    app = build(make_app, database_url=fresh_database_url)
    only = admin(app)
    me = f"/admin/users/{only.user['id']}"
    expect_problem(call(app, "PATCH", me, only.token, json={"status": "disabled"}), 409, "conflict")
    expect_problem(call(app, "PATCH", me, only.token, json={"role": "user"}), 409, "conflict")
    expect_problem(call(app, "DELETE", me, only.token), 409, "conflict")
    assert me_status(app, only.token) == 200
    stored = load_user(app, only.username)
    assert stored is not None
    assert stored.role is Role.ADMIN
    assert stored.is_active

    second = call(
        app,
        "POST",
        "/admin/users",
        only.token,
        json={"username": unique_name("second"), "password": STRONG_PASSWORD, "role": "admin"},
    )
    assert second.status_code == 201
    other = f"/admin/users/{second.get_json()['user']['id']}"
    disabled = call(app, "PATCH", other, only.token, json={"status": "disabled"})
    assert disabled.status_code == 200  # two active admins: one may go
    # The remaining active admin is the last again, a disabled admin does not count.
    expect_problem(call(app, "DELETE", me, only.token), 409, "conflict")
    expect_problem(call(app, "PATCH", me, only.token, json={"role": "user"}), 409, "conflict")
    assert call(app, "DELETE", other, only.token).status_code == 204


def test_deleting_an_account_ends_its_sessions_and_tokens(app: APIFlask) -> None:
    boss = admin(app)
    signed = account(app, "deleted")
    pat = create_pat(app, signed.token, ["files:read"]).get_json()["token"]
    user_id = signed.user["id"]
    assert call(app, "DELETE", f"/admin/users/{user_id}", boss.token).status_code == 204
    assert me_status(app, signed.token) == 401
    assert me_status(app, pat) == 401
    expect_problem(call(app, "GET", f"/admin/users/{user_id}", boss.token), 404, "not-found")
    expect_problem(login(app.test_client(), signed.username), 401, "invalid-credentials")
    (event,) = audit(app, target=f"user:{user_id}", tag="admin:user:delete")
    assert event.actor == f"user:{boss.user['id']}"
    assert event.details == {"username": signed.username}
    assert load_user(app, signed.username) is None
    with app.app_context(), get_database().session() as db:
        for table in (AuthSession, AccessToken):
            assert db.scalars(select(table).where(table.user_id == user_id)).all() == []


def test_a_deleted_accounts_id_is_never_given_to_another_account(app: APIFlask) -> None:
    # Audit events keep naming the deleted account as user:<id>; a new account with
    # the same id would inherit its history (and the reverse).
    boss = admin(app)
    newest = account(app, "newest")
    user_id = newest.user["id"]
    assert call(app, "DELETE", f"/admin/users/{user_id}", boss.token).status_code == 204
    successor = account(app, "successor")
    assert successor.user["id"] != user_id
    history = audit(app, target=f"user:{successor.user['id']}")
    assert {e.tag for e in history} == {"account:register", "account:signin:success"}


def test_admin_actions_are_audited(app: APIFlask) -> None:
    boss = admin(app)
    signed = account(app, "watched")
    user_id = signed.user["id"]
    path = f"/admin/users/{user_id}"
    assert call(app, "PATCH", path, boss.token, json={"status": "disabled"}).status_code == 200
    assert me_status(app, signed.token) == 401
    assert call(app, "PATCH", path, boss.token, json={"status": "active"}).status_code == 200
    assert me_status(app, signed.token) == 401  # enabling does not bring sessions back
    profile = call(
        app, "PATCH", path, boss.token, json={"display_name": "Watched", "email": "w@example.org"}
    )
    assert profile.status_code == 200
    assert profile.get_json()["display_name"] == "Watched"
    events = audit(app, target=f"user:{user_id}")
    admin_events = [e for e in events if e.tag.startswith("admin:")]
    assert [e.tag for e in admin_events] == [
        "admin:user:disable",
        "admin:user:enable",
        "admin:user:update",
    ]
    assert all(e.actor == f"user:{boss.user['id']}" for e in admin_events)
    assert admin_events[0].details == {"sessions_ended": 1, "tokens_revoked": 0}
    assert admin_events[2].details == {"fields": ["email", "display_name"]}
    invite = call(app, "POST", "/admin/invites", boss.token, json={"role": "admin"}).get_json()
    (created,) = audit(app, target=f"invite:{invite['id']}")
    assert created.tag == "admin:invite:create"
    assert created.details == {"role": "admin"}
    assert call(app, "DELETE", f"/admin/invites/{invite['id']}", boss.token).status_code == 204
    assert [e.tag for e in audit(app, target=f"invite:{invite['id']}")] == [
        "admin:invite:create",
        "admin:invite:revoke",
    ]


def test_ordinary_accounts_cannot_use_the_admin_api(app: APIFlask) -> None:
    signed = account(app, "plain")
    for method, path in [
        ("GET", "/admin/users"),
        ("POST", "/admin/users"),
        ("GET", f"/admin/users/{signed.user['id']}"),
        ("PATCH", f"/admin/users/{signed.user['id']}"),
        ("DELETE", f"/admin/users/{signed.user['id']}"),
        ("POST", f"/admin/users/{signed.user['id']}/password-reset"),
        ("GET", "/admin/invites"),
        ("POST", "/admin/invites"),
    ]:
        body: dict[str, Any] | None = {} if method in {"POST", "PATCH"} else None
        expect_problem(call(app, method, path, signed.token, json=body), 403, "forbidden")
        expect_problem(call(app, method, path, json=body), 401, "unauthenticated")
    assert me_status(app, signed.token) == 200
