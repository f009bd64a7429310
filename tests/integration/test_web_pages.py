"""The first pages of the web interface, from the outside (a browser without
JavaScript): sign-in with its 2FA step, "my files", sign-out; strict CSP, CSRF on every
form, readable errors that keep what was typed (never the password)."""

from __future__ import annotations

import io
import re

import pyotp
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from strongroom.auth.policy import requirement_of
from strongroom.context import get_database
from strongroom.ledger.models import LedgerEntry
from tests.auth_helpers import STRONG_PASSWORD, FakeClock, SignedIn, new_account
from tests.conftest import AppFactory
from tests.files_helpers import API, upload


@pytest.fixture
def app(clocked_app: APIFlask) -> APIFlask:
    return clocked_app


def hidden(page: TestResponse, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.get_data(as_text=True))
    assert found, f"no hidden field {name}"
    return found.group(1)


def sign_in_page(browser: FlaskClient, username: str, password: str) -> TestResponse:
    form = browser.get("/login")
    return browser.post(
        "/login",
        data={"csrf_token": hidden(form, "csrf_token"), "username": username, "password": password},
    )


def test_pages_send_a_strict_content_security_policy(app: APIFlask) -> None:
    page = app.test_client().get("/login")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    html = page.get_data(as_text=True)
    assert "<script>" not in html
    assert "style=" not in html


def test_no_page_accepts_an_api_token(app: APIFlask) -> None:
    """Pages are for browser sessions: a leaked personal access token must not drive
    them (they show secrets once, hand out invitations, change accounts)."""
    pages = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("web.")]
    assert len(pages) > 20
    for rule in pages:
        requirement = requirement_of(rule.endpoint, app.view_functions[rule.endpoint])
        assert requirement is not None, rule.rule
        if requirement.authenticated:
            assert not requirement.tokens, f"{rule.rule} accepts API tokens"


def test_the_sign_in_form_has_the_right_autocomplete_and_a_csrf_cookie(app: APIFlask) -> None:
    page = app.test_client().get("/login")
    html = page.get_data(as_text=True)
    assert 'autocomplete="username"' in html
    assert 'autocomplete="current-password"' in html
    cookie = page.headers["Set-Cookie"]
    assert "strongroom_form_csrf=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/;" in cookie or cookie.endswith("Path=/")


def test_over_https_the_form_token_cookie_is_host_only(make_app: AppFactory) -> None:
    """``__Host-`` (Secure, Path=/, no Domain): a sibling subdomain cannot toss in a
    token of its own to pair with a forged sign-in form."""
    app = make_app(cookie_secure=True)
    page = app.test_client().get("/register")
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("__Host-strongroom_form_csrf=")
    assert "Secure" in cookie
    assert "Domain" not in cookie
    # Plain HTTP (development) cannot use the prefix: browsers would drop the cookie.
    plain = make_app(cookie_secure=False).test_client().get("/login").headers["Set-Cookie"]
    assert plain.startswith("strongroom_form_csrf=")


def test_signing_in_lands_on_my_files(app: APIFlask, client: FlaskClient, alice: SignedIn) -> None:
    upload(client, alice, b"x" * 1536, "report.pdf")
    browser = app.test_client()
    assert browser.get("/").headers["Location"] == "/login"
    signed = sign_in_page(browser, alice.username, STRONG_PASSWORD)
    assert signed.status_code == 303
    assert signed.headers["Location"] == "/files"
    page = browser.get("/files")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "report.pdf" in html
    assert "1.5 KB" in html
    link = re.search(r'href="(/api/v1/files/[^"]+/content)"', html)
    assert link
    assert browser.get(link.group(1)).get_data() == b"x" * 1536


def test_a_wrong_password_is_explained_and_the_username_kept(
    app: APIFlask, alice: SignedIn
) -> None:
    page = sign_in_page(app.test_client(), alice.username, "not-the-password-123")
    html = page.get_data(as_text=True)
    assert page.status_code == 401
    assert "do not match" in html
    assert f'value="{alice.username}"' in html
    assert "not-the-password-123" not in html


def test_a_forged_sign_in_without_the_form_token_is_refused(app: APIFlask, alice: SignedIn) -> None:
    browser = app.test_client()
    refused = browser.post("/login", data={"username": alice.username, "password": STRONG_PASSWORD})
    assert refused.status_code == 400
    assert "expired" in refused.get_data(as_text=True)
    assert browser.get("/files").status_code == 303  # still signed out


def enrol(app: APIFlask, clock: FakeClock) -> tuple[str, str]:
    """A new account with 2FA turned on: its username and TOTP secret."""
    account = new_account(app.test_client(), "totp")
    client = app.test_client()
    secret: str = client.post(f"{API}/me/2fa", headers=account.bearer).get_json()["secret"]
    code = pyotp.TOTP(secret).at(clock.now())
    confirmed = client.post(f"{API}/me/2fa/confirm", json={"code": code}, headers=account.bearer)
    assert confirmed.status_code == 200
    return account.username, secret


def test_sign_in_with_two_factor(app: APIFlask, clock: FakeClock) -> None:
    username, secret = enrol(app, clock)
    browser = app.test_client()
    first = sign_in_page(browser, username, STRONG_PASSWORD)
    assert first.status_code == 200
    assert 'autocomplete="one-time-code"' in first.get_data(as_text=True)
    wrong = browser.post(
        "/login/totp",
        data={
            "csrf_token": hidden(first, "csrf_token"),
            "challenge": hidden(first, "challenge"),
            "username": username,
            "code": "000000",
        },
    )
    assert wrong.status_code == 401
    assert "not right" in wrong.get_data(as_text=True)
    assert hidden(wrong, "challenge") == hidden(first, "challenge")
    clock.advance(seconds=30)
    right = browser.post(
        "/login/totp",
        data={
            "csrf_token": hidden(wrong, "csrf_token"),
            "challenge": hidden(wrong, "challenge"),
            "username": username,
            "code": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    assert right.status_code == 303, right.get_data(as_text=True)
    assert browser.get("/files").status_code == 200


def test_sign_out_ends_the_session(app: APIFlask, alice: SignedIn) -> None:
    browser = app.test_client()
    sign_in_page(browser, alice.username, STRONG_PASSWORD)
    page = browser.get("/files")
    out = browser.post("/logout", data={"csrf_token": hidden(page, "csrf_token")})
    assert out.status_code == 303
    assert out.headers["Location"] == "/login"
    assert browser.get("/files").status_code == 303
    assert browser.get(f"{API}/me").status_code == 401


def test_names_are_escaped_and_search_works(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    upload(client, alice, b"a", "<img src=x onerror=alert(1)>.txt")
    upload(client, alice, b"b", "budget.xlsx")
    browser = app.test_client()
    sign_in_page(browser, alice.username, STRONG_PASSWORD)
    html = browser.get("/files").get_data(as_text=True)
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in html
    found = browser.get("/files?q=BUDGET").get_data(as_text=True)
    assert "budget.xlsx" in found
    assert "alert" not in found
    assert "No file name contains" in browser.get("/files?q=zzz").get_data(as_text=True)


def _form_upload(browser: FlaskClient, page: TestResponse, name: str, data: bytes,
                 share_with: str = "") -> TestResponse:  # fmt: skip
    return browser.post(
        "/files/upload",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "share_with": share_with,
            "file": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )


def test_upload_by_form_without_javascript(app: APIFlask, alice: SignedIn, bob: SignedIn) -> None:
    browser = app.test_client()
    sign_in_page(browser, alice.username, STRONG_PASSWORD)
    page = browser.get("/files")
    sent = _form_upload(browser, page, "minutes.txt", b"the minutes", share_with=bob.username)
    assert sent.status_code == 303
    landed = browser.get(sent.headers["Location"])
    html = landed.get_data(as_text=True)
    assert "“minutes.txt” was uploaded" in html
    assert "minutes.txt" in html
    shared = app.test_client().get(f"{API}/shared", headers=bob.bearer).get_json()
    assert [i["file"]["name"] for i in shared["items"]] == ["minutes.txt"]


def test_a_refused_form_upload_explains_itself_and_stores_nothing(
    app: APIFlask, alice: SignedIn
) -> None:
    browser = app.test_client()
    sign_in_page(browser, alice.username, STRONG_PASSWORD)
    page = browser.get("/files")
    refused = _form_upload(browser, page, "x.txt", b"x", share_with="nobody-by-that-name")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "No active account by that name" in html
    # The form comes back with the names typed, to correct one.
    assert 'value="nobody-by-that-name"' in html
    assert app.test_client().get(f"{API}/files", headers=alice.bearer).get_json()["total"] == 0
    forged = browser.post(
        "/files/upload",
        data={"file": (io.BytesIO(b"x"), "forged.txt")},
        content_type="multipart/form-data",
    )
    assert forged.status_code == 403
    assert app.test_client().get(f"{API}/files", headers=alice.bearer).get_json()["total"] == 0


def test_an_error_page_after_a_ledgered_refusal_lets_the_checkpoint_be_signed(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused page ledgers ``access:denied``, then draws its error page from the
    request's session. That read must not keep the database (SQLite's write lock) from
    the checkpoint signed after the request: it used to wait out the busy timeout
    (five seconds per refused page) and then give up."""
    app = make_app(ledger_checkpoint_entries=1)
    account = new_account(app.test_client())
    browser = app.test_client()
    sign_in_page(browser, account.username, STRONG_PASSWORD)
    refused = browser.get("/files/NOSUCHFILE/history")
    assert refused.status_code == 404
    assert "checkpoint postponed" not in caplog.text
    with app.app_context(), get_database().session() as db:
        entries = db.scalar(select(func.count()).select_from(LedgerEntry))
        denied = db.scalar(select(LedgerEntry).order_by(LedgerEntry.index.desc()).limit(1))
    assert denied is not None
    assert denied.tag == "access:denied"
    note = app.test_client().get("/api/v1/ledger/checkpoint").get_data(as_text=True)
    assert int(note.splitlines()[1]) == entries
