"""Registration and the account pages, from the outside (a browser without JavaScript),
and the password-check endpoint their strength meter asks."""

from __future__ import annotations

import html
import re
from typing import Any

import pyotp
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from strongroom.admin import services as admin_services
from strongroom.auth.authn import DEPS_KEY
from strongroom.auth.models import Role, User
from strongroom.context import get_database
from tests.auth_helpers import (
    STRONG_PASSWORD,
    FakeClock,
    SignedIn,
    make_admin,
    new_account,
    unique_name,
)
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


# --- pages: helpers ---------------------------------------------------------------------------


def hidden(page: TestResponse, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.get_data(as_text=True))
    assert found, f"no hidden field {name}"
    return found.group(1)


def web_sign_in(browser: FlaskClient, username: str, password: str = STRONG_PASSWORD) -> None:
    form = browser.get("/login")
    signed = browser.post(
        "/login",
        data={"csrf_token": hidden(form, "csrf_token"), "username": username, "password": password},
    )
    assert signed.status_code == 303, signed.get_data(as_text=True)


def post_form(browser: FlaskClient, path: str, page_path: str, **fields: Any) -> TestResponse:
    """Submit a form of a signed-in page with that page's CSRF token."""
    token = hidden(browser.get(page_path), "csrf_token")
    return browser.post(path, data={"csrf_token": token, **fields})


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


REGISTRATION = {
    "username": "",  # a fresh one each time: the test database outlives a test
    "display_name": "Harriet Vane",
    "email": "harriet@example.org",
    "password": STRONG_PASSWORD,
    "confirm_password": STRONG_PASSWORD,
}


def register_page(browser: FlaskClient, path: str = "/register", **fields: str) -> TestResponse:
    form = browser.get(path)
    fields = {**REGISTRATION, "username": unique_name("hv"), **fields}
    return browser.post("/register", data={"csrf_token": hidden(form, "csrf_token"), **fields})


# --- registration -------------------------------------------------------------------------------


def test_registering_lands_on_sign_in_with_a_welcome(app: APIFlask) -> None:
    browser = app.test_client()
    form = browser.get("/register")
    page = form.get_data(as_text=True)
    assert form.status_code == 200
    for attribute in ('autocomplete="username"', 'autocomplete="new-password"',
                      'autocomplete="email"', 'data-strength="#password-strength"'):  # fmt: skip
        assert attribute in page, attribute
    assert "invite" not in page  # open registration asks for no invitation
    name = unique_name("harriet")
    done = register_page(browser, username=name)
    assert done.status_code == 303
    assert done.headers["Location"] == f"/login?username={name}"
    landed = text(browser.get(done.headers["Location"]))
    assert f"Welcome to Strongroom, {name}!" in landed
    assert f'value="{name}"' in landed
    web_sign_in(browser, name)
    me = browser.get(f"{API}/me").get_json()
    assert (me["display_name"], me["email"]) == ("Harriet Vane", "harriet@example.org")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "Bad Name!"}, "username", "A username needs 3-32 characters"),
        ({"username": ""}, "username", "Choose a username."),
        ({"email": "not-an-email"}, "email", "Not a valid email address."),
        ({"display_name": "tab\there"}, "display_name", "Control or invisible characters"),
        ({"password": "short", "confirm_password": "short"}, "password", "at least 12"),
        ({"confirm_password": "something-else-entirely"}, "confirm_password", "not the same"),
        (
            {
                "username": "harriet",
                "password": "harriet-harriet-97-x",
                "confirm_password": "harriet-harriet-97-x",
            },
            "password",
            "Do not use your username",
        ),
    ],
)
def test_a_refused_registration_explains_and_keeps_what_was_typed(
    app: APIFlask, fields: dict[str, str], field: str, message: str
) -> None:
    refused = register_page(app.test_client(), **fields)
    page = text(refused)
    assert refused.status_code == 422
    assert message in page
    assert f'aria-describedby="{field}' in page or f"{field}-errors" in page
    typed = {**REGISTRATION, **fields}
    for kept in ("display_name", "email"):
        assert f'value="{typed[kept]}"' in page, kept
    assert STRONG_PASSWORD not in page  # never a password back
    assert fields.get("password", STRONG_PASSWORD) not in page.split("</h1>")[1].split("<label")[0]


def test_a_taken_username_is_refused(app: APIFlask, alice: SignedIn) -> None:
    refused = register_page(app.test_client(), username=alice.username)
    assert refused.status_code == 422
    assert "That username is taken" in text(refused)


def test_registration_needs_the_form_token(app: APIFlask) -> None:
    refused = app.test_client().post("/register", data=REGISTRATION)
    assert refused.status_code == 400
    assert "The form expired" in text(refused)


def test_closed_registration_says_so(make_app: AppFactory) -> None:
    browser = make_app(registration="closed").test_client()
    page = text(browser.get("/register"))
    assert "Registration is closed on this server" in page
    assert "<form" not in page.split("<main")[1]
    assert "Create an account" not in text(browser.get("/login"))


def test_invite_registration(make_app: AppFactory) -> None:
    app = make_app(registration="invite")
    with app.app_context(), get_database().session() as db:
        token, _ = admin_services.create_invite(
            db, app.extensions[DEPS_KEY], actor_id=None, note="", role=Role.USER
        )
        db.commit()
    browser = app.test_client()
    assert "Create an account" in text(browser.get("/login"))
    without = register_page(browser)
    assert without.status_code == 403
    assert "needs a valid invitation" in text(without)
    form = browser.get(f"/register?invite={token}")
    assert f'value="{token}"' in text(form)
    done = register_page(browser, f"/register?invite={token}", invite=token)
    assert done.status_code == 303, text(done)


# --- the account page and the password -------------------------------------------------------


def test_the_account_page_shows_the_profile(app: APIFlask, alice: SignedIn) -> None:
    browser = app.test_client()
    web_sign_in(browser, alice.username)
    page = text(browser.get("/account"))
    assert alice.username in page
    assert "Change your password" in page
    assert 'autocomplete="current-password"' in page
    assert 'href="/account"' in page  # the nav link
    assert app.test_client().get("/account").headers["Location"] == "/login"


def test_changing_the_password_ends_other_sessions(app: APIFlask, alice: SignedIn) -> None:
    browser, other = app.test_client(), app.test_client()
    web_sign_in(browser, alice.username)
    web_sign_in(other, alice.username)
    new = "copper-kettle-meadow-52"
    changed = post_form(browser, "/account/password", "/account", current_password=STRONG_PASSWORD,
                        new_password=new, confirm_password=new)  # fmt: skip
    assert changed.status_code == 303
    assert "Your password was changed" in text(browser.get("/account"))
    assert other.get("/account").status_code == 303  # signed out
    assert (
        app.test_client()
        .post(f"{API}/auth/login", json={"username": alice.username, "password": new})
        .status_code
        == 200
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"current_password": "wrong-password-123"}, "That is not your current password."),
        ({"current_password": ""}, "Enter your current password."),
        ({"new_password": "short", "confirm_password": "short"}, "at least 12"),
        ({"confirm_password": "no-match-at-all-here"}, "not the same"),
        ({"new_password": STRONG_PASSWORD, "confirm_password": STRONG_PASSWORD}, "must differ"),
    ],
)
def test_a_refused_password_change_explains(
    app: APIFlask, alice: SignedIn, fields: dict[str, str], message: str
) -> None:
    browser = app.test_client()
    web_sign_in(browser, alice.username)
    new = "copper-kettle-meadow-52"
    sent = {"current_password": STRONG_PASSWORD, "new_password": new, "confirm_password": new}
    refused = post_form(browser, "/account/password", "/account", **{**sent, **fields})
    assert refused.status_code == 422
    assert message in text(refused)
    assert new not in text(refused)
    assert 'value="wrong-password-123"' not in text(refused)


def test_a_temporary_password_sends_every_page_to_the_change(app: APIFlask) -> None:
    admin = make_admin(app)
    with app.app_context(), get_database().session() as db:
        db.query(User).filter_by(username=admin.username).one().must_change_password = True
        db.commit()
    browser = app.test_client()
    web_sign_in(browser, admin.username)
    sent = browser.get("/files")
    assert sent.status_code == 303
    assert sent.headers["Location"] == "/account#password"
    page = text(browser.get("/account"))
    assert "Your password is temporary" in page
    assert "temporary. Choose your own" in page
    new = "copper-kettle-meadow-52"
    post_form(browser, "/account/password", "/account", current_password=STRONG_PASSWORD,
              new_password=new, confirm_password=new)  # fmt: skip
    assert browser.get("/files").status_code == 200


def test_required_two_factor_sends_pages_to_the_set_up(make_app: AppFactory) -> None:
    app = make_app(require_2fa="everyone")
    username = new_account(app.test_client(), "held").username
    browser = app.test_client()
    web_sign_in(browser, username)
    sent = browser.get("/files")
    assert sent.headers["Location"] == "/account/security#two-factor"
    page = text(browser.get(sent.headers["Location"]))
    assert "must use two-factor authentication" in page
    assert browser.get("/account/tokens").status_code == 303


# --- two-factor authentication ------------------------------------------------------------------


def enable_2fa_by_page(browser: FlaskClient, clock: FakeClock) -> tuple[str, list[str]]:
    """Turn 2FA on through the pages: the TOTP secret and the recovery codes shown."""
    setup = post_form(browser, "/account/2fa/start", "/account/security")
    assert setup.status_code == 200, text(setup)
    assert setup.headers["Cache-Control"] == "no-store"
    page = text(setup)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert secret
    assert 'src="data:image/svg+xml;base64,' in page
    assert 'alt="QR code' in page
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    shown = browser.post("/account/2fa/confirm", data={"csrf_token": hidden(setup, "csrf_token"),
                                                       "code": code})  # fmt: skip
    assert shown.status_code == 200, text(shown)
    assert shown.headers["Cache-Control"] == "no-store"
    codes = re.search(r'<pre class="codes" id="recovery-codes">([^<]+)</pre>', text(shown))
    assert codes
    return secret.group(1), codes.group(1).split("\n")


def test_two_factor_set_up_by_page(app: APIFlask, clock: FakeClock, alice: SignedIn) -> None:
    browser, other = app.test_client(), app.test_client()
    web_sign_in(browser, alice.username)
    web_sign_in(other, alice.username)
    wrong = post_form(browser, "/account/2fa/start", "/account/security")
    refused = browser.post("/account/2fa/confirm", data={"csrf_token": hidden(wrong, "csrf_token"),
                                                         "code": "000000"})  # fmt: skip
    assert refused.status_code == 422
    assert "That code is not right" in text(refused)
    secret, codes = enable_2fa_by_page(browser, clock)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert other.get("/account").status_code == 303  # sessions from before 2FA end
    page = text(browser.get("/account/security"))  # this one goes on, with a new token
    assert "On</strong> since" in page
    assert "10 unused recovery codes left" in page
    assert secret not in page
    assert codes[0] not in page


def test_sign_in_with_a_recovery_code(app: APIFlask, clock: FakeClock, alice: SignedIn) -> None:
    browser = app.test_client()
    web_sign_in(browser, alice.username)
    _, codes = enable_2fa_by_page(browser, clock)
    fresh = app.test_client()
    step = password_step(fresh, alice.username)
    assert "Use a recovery code instead" in text(step)
    fields = second_step_fields(step, alice.username)
    wrong = fresh.post("/login/totp", data={**fields, "recovery_code": "aaaa-bbbb-cccc-dddd"})
    assert wrong.status_code == 401
    assert "That recovery code is not right." in text(wrong)
    assert '<details class="recovery" open>' in text(wrong)
    right = fresh.post("/login/totp", data={**fields, "recovery_code": codes[0].upper()})
    assert right.status_code == 303
    assert "9 unused recovery codes left" in text(fresh.get("/account/security"))
    other = app.test_client()
    fields = second_step_fields(password_step(other, alice.username), alice.username)
    reused = other.post("/login/totp", data={**fields, "recovery_code": codes[0]})
    assert reused.status_code == 401  # each code works once


def password_step(browser: FlaskClient, username: str) -> TestResponse:
    form = browser.get("/login")
    fields = {"csrf_token": hidden(form, "csrf_token"), "username": username}
    return browser.post("/login", data={**fields, "password": STRONG_PASSWORD})


def second_step_fields(step: TestResponse, username: str) -> dict[str, str]:
    return {"csrf_token": hidden(step, "csrf_token"), "challenge": hidden(step, "challenge"),
            "username": username}  # fmt: skip


def test_new_recovery_codes_and_turning_off(
    app: APIFlask, clock: FakeClock, alice: SignedIn
) -> None:
    browser = app.test_client()
    web_sign_in(browser, alice.username)
    secret, old = enable_2fa_by_page(browser, clock)
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock.now())
    refused = post_form(browser, "/account/2fa/recovery-codes", "/account/security",
                        password="wrong-password-here", code=code)  # fmt: skip
    assert refused.status_code == 422
    assert "The password or the code is not right." in text(refused)
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock.now())
    renewed = post_form(browser, "/account/2fa/recovery-codes", "/account/security",
                        password=STRONG_PASSWORD, code=code)  # fmt: skip
    assert renewed.status_code == 200
    assert "the old ones no longer work" in text(renewed)
    assert old[0] not in text(renewed)
    clock.advance(seconds=30)
    off = post_form(browser, "/account/2fa/disable", "/account/security",
                    password=STRONG_PASSWORD, code=pyotp.TOTP(secret).at(clock.now()))  # fmt: skip
    assert off.status_code == 303
    page = text(browser.get("/account/security"))
    assert "Two-factor authentication is off." in page
    assert "Set up two-factor authentication" in page


def test_an_old_session_confirms_with_the_password(
    app: APIFlask, clock: FakeClock, alice: SignedIn
) -> None:
    browser = app.test_client()
    web_sign_in(browser, alice.username)
    assert 'name="current_password"' not in text(browser.get("/account/security"))
    clock.advance(minutes=16)
    page = browser.get("/account/security")
    assert 'name="current_password"' in text(page)
    refused = post_form(browser, "/account/2fa/start", "/account/security")
    assert refused.status_code == 422
    assert "Enter your current password correctly" in text(refused)
    started = post_form(browser, "/account/2fa/start", "/account/security",
                        current_password=STRONG_PASSWORD)  # fmt: skip
    assert started.status_code == 200
    assert 'id="totp-secret"' in text(started)


# --- sessions ----------------------------------------------------------------------------------


def test_sessions_are_listed_and_can_be_signed_out(app: APIFlask, alice: SignedIn) -> None:
    browser, phone, laptop = app.test_client(), app.test_client(), app.test_client()
    web_sign_in(browser, alice.username)
    web_sign_in(phone, alice.username)
    web_sign_in(laptop, alice.username)
    page = text(browser.get("/account/security"))
    assert page.count("This device") == 1
    revoke = re.findall(r'action="(/account/sessions/\d+/revoke)"', page)
    assert len(revoke) == 3  # alice's API session, the phone and the laptop
    one = post_form(browser, revoke[0], "/account/security")
    assert one.status_code == 303
    assert "That session was signed out." in text(browser.get("/account/security"))
    rest = post_form(browser, "/account/sessions/revoke-others", "/account/security")
    assert rest.status_code == 303
    assert "Signed out 2 other sessions." in text(browser.get("/account/security"))
    assert phone.get("/account").status_code == 303
    assert laptop.get("/account").status_code == 303
    assert browser.get("/account").status_code == 200


def test_someone_elses_session_is_not_found(app: APIFlask, alice: SignedIn, bob: SignedIn) -> None:
    browser = app.test_client()
    web_sign_in(browser, alice.username)
    bobs = app.test_client().get(f"{API}/me/sessions", headers=bob.bearer).get_json()
    target = bobs["sessions"][0]["id"]
    refused = post_form(browser, f"/account/sessions/{target}/revoke", "/account/security")
    assert refused.status_code == 404
    assert app.test_client().get(f"{API}/me", headers=bob.bearer).status_code == 200


# --- personal access tokens -------------------------------------------------------------------


def test_a_token_is_shown_once_works_and_can_be_revoked(app: APIFlask, alice: SignedIn) -> None:
    browser = app.test_client()
    web_sign_in(browser, alice.username)
    page = text(browser.get("/account/tokens"))
    assert "You have no active tokens." in page
    assert 'value="admin"' not in page  # not an admin: no admin scope offered
    made = post_form(browser, "/account/tokens", "/account/tokens", name="backup script",
                     scopes=["files:read", "files:write"], lifetime="30")  # fmt: skip
    assert made.status_code == 201
    assert made.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="new-token" class="secret" value="(srp_[^"]+)"', text(made))
    assert token
    me = app.test_client().get(f"{API}/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.get_json()["scopes"] == ["files:read", "files:write"]
    listed = text(browser.get("/account/tokens"))
    assert "backup script" in listed
    assert token.group(1) not in listed
    assert "files:read, files:write" in listed
    revoke = re.search(r'action="(/account/tokens/\d+/revoke)"', listed)
    assert revoke
    assert post_form(browser, revoke.group(1), "/account/tokens").status_code == 303
    assert "The token was revoked" in text(browser.get("/account/tokens"))
    gone = app.test_client().get(f"{API}/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert gone.status_code == 401


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "scopes": ["files:read"]}, "Give the token a name"),
        ({"name": "cron", "scopes": []}, "Choose what the token may do"),
        ({"name": "cron", "scopes": ["root"]}, "Choose what the token may do"),
        ({"name": "bell\x07", "scopes": ["files:read"]}, "Give the token a name"),
    ],
)
def test_a_refused_token_explains_and_keeps_the_form(
    app: APIFlask, alice: SignedIn, fields: dict[str, Any], message: str
) -> None:
    browser = app.test_client()
    web_sign_in(browser, alice.username)
    refused = post_form(browser, "/account/tokens", "/account/tokens", lifetime="365", **fields)
    assert refused.status_code == 422
    page = text(refused)
    assert message in page
    assert '<option value="365" selected>' in page
    if fields["name"] == "cron":
        assert 'value="cron"' in page


def test_someone_elses_token_is_not_found(app: APIFlask, alice: SignedIn, bob: SignedIn) -> None:
    made = app.test_client().post(f"{API}/me/tokens", headers=bob.bearer,
                                  json={"name": "bob's", "scopes": ["files:read"]})  # fmt: skip
    browser = app.test_client()
    web_sign_in(browser, alice.username)
    target = made.get_json()["id"]
    assert (
        post_form(browser, f"/account/tokens/{target}/revoke", "/account/tokens").status_code == 404
    )
