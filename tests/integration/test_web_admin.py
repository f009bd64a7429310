"""The admin pages, from the outside (a browser without JavaScript): the accounts list,
creating accounts and invitations, one account's actions, the status page; the same
rules as the admin API (admins only, 2FA when required, the last admin kept)."""

from __future__ import annotations

import html
import re

import pyotp
import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from strongroom.admin import services as admin_services
from strongroom.auth.authn import DEPS_KEY
from strongroom.auth.models import Role, User
from strongroom.context import get_database, get_settings
from tests.auth_helpers import STRONG_PASSWORD, FakeClock, SignedIn, sign_in, unique_name
from tests.conftest import AppFactory, migrate

API = "/api/v1"


@pytest.fixture
def app(clocked_app: APIFlask) -> APIFlask:
    return clocked_app


def make_user(app: APIFlask, prefix: str, *, role: Role = Role.USER, **fields: str) -> str:
    """An account made as the CLI would; returns its username."""
    name = unique_name(prefix)
    with app.app_context(), get_database().session() as db:
        admin_services.create_user(
            db, app.extensions[DEPS_KEY], actor="system:test", username=name,
            password=STRONG_PASSWORD, role=role, **fields,
        )  # fmt: skip
        db.commit()
    return name


def user_id(app: APIFlask, username: str) -> int:
    with app.app_context(), get_database().session() as db:
        return db.query(User).filter_by(username=username).one().id


@pytest.fixture
def admin_browser(app: APIFlask) -> tuple[FlaskClient, SignedIn]:
    """A browser holding an admin's session cookie, and that admin."""
    browser = app.test_client()
    return browser, sign_in(browser, make_user(app, "boss", role=Role.ADMIN))


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def secret_on(page: TestResponse) -> str:
    found = re.search(r'id="secret" class="secret" value="([^"]+)"', page.get_data(as_text=True))
    assert found, "no secret shown"
    return html.unescape(found.group(1))


# --- who may see the admin pages -----------------------------------------------------------


ADMIN_PAGES = ["/admin", "/admin/status"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_the_signed_out_are_sent_to_sign_in(app: APIFlask, path: str) -> None:
    response = app.test_client().get(path)
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_users_get_the_forbidden_page_and_no_admin_link(app: APIFlask, path: str) -> None:
    browser = app.test_client()
    sign_in(browser, make_user(app, "plain"))
    refused = browser.get(path)
    assert refused.status_code == 403
    assert refused.mimetype == "text/html"
    assert "Only administrators can do this." in text(refused)
    assert 'href="/admin"' not in text(browser.get("/files"))


def test_admins_see_the_admin_link(admin_browser: tuple[FlaskClient, SignedIn]) -> None:
    browser, _ = admin_browser
    assert 'href="/admin"' in text(browser.get("/files"))


def test_an_admin_without_required_2fa_is_sent_to_set_it_up(make_app: AppFactory) -> None:
    app = make_app(require_2fa="admins")
    browser = app.test_client()
    sign_in(browser, make_user(app, "boss", role=Role.ADMIN))
    response = browser.get("/admin")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/account/security")


# --- the accounts list -----------------------------------------------------------------------


def test_the_list_shows_accounts_with_their_facts(
    app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, admin = admin_browser
    name = make_user(app, "dora", display_name="Dora Explorer")
    page = browser.get(f"/admin?q={name}")  # the shared database holds many accounts
    body = text(page)
    assert page.status_code == 200
    for expected in (name, "Dora Explorer", "User", "Active", "Off", "never"):
        assert expected in body
    assert f'href="/admin/users/{user_id(app, name)}"' in body
    mine = text(browser.get(f"/admin?q={admin.username}"))
    assert "Admin" in mine
    assert "you" in mine


def test_search_filters_and_pages(
    app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, _ = admin_browser
    prefix = unique_name("zz")
    names = [make_user(app, f"{prefix}-{i}") for i in range(27)]
    first = text(browser.get(f"/admin?q={prefix}"))
    assert "27 accounts found" in first
    assert "Page 1 of 2" in first
    assert names[0] in first
    second = text(browser.get(f"/admin?q={prefix}&page=2"))
    assert "Page 2 of 2" in second
    assert sum(name in second for name in names) == 2
    none = text(browser.get(f"/admin?q={prefix}&role=admin"))
    assert "No account matches" in none
    # Unknown filter values are ignored, never an error.
    assert browser.get(f"/admin?q={prefix}&role=root&status=x&page=zz").status_code == 200


# --- creating accounts and invitations -----------------------------------------------------


def test_creating_an_account_shows_its_temporary_password_once(
    app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, admin = admin_browser
    name = unique_name("newbie")
    created = browser.post(
        "/admin/users",
        data={"csrf_token": admin.csrf_token, "username": name, "email": "n@example.org",
              "display_name": "New Bie", "role": "user"},
    )  # fmt: skip
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    temporary = secret_on(created)
    assert "shown only now" in text(created)
    # The new account must change that password at first sign-in.
    login = app.test_client().post(
        f"{API}/auth/login", json={"username": name, "password": temporary}
    )
    assert login.status_code == 200
    assert login.get_json()["user"]["must_change_password"] is True
    assert temporary not in text(browser.get("/admin"))
    assert temporary not in text(browser.get("/admin/status"))


def test_a_refused_account_keeps_what_was_typed(
    app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, admin = admin_browser
    taken = make_user(app, "taken")
    form = {"csrf_token": admin.csrf_token, "display_name": "Someone Else", "role": "admin"}
    bad_email = browser.post("/admin/users", data={**form, "username": "fresh", "email": "nope"})
    assert bad_email.status_code == 422
    body = text(bad_email)
    assert "Not a valid email address." in body
    assert 'value="fresh"' in body
    assert 'value="Someone Else"' in body
    assert '<option value="admin" selected>' in body
    duplicate = browser.post("/admin/users", data={**form, "username": taken, "email": ""})
    assert duplicate.status_code == 422
    assert "That username is taken" in text(duplicate)
    empty = browser.post("/admin/users", data={**form, "username": "  ", "email": ""})
    assert empty.status_code == 422
    assert "Enter a username" in text(empty)


def test_invitations_are_shown_once_listed_and_revoked(
    app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, admin = admin_browser
    created = browser.post(
        "/admin/invites",
        data={"csrf_token": admin.csrf_token, "note": "for Erin", "role": "user"},
    )
    assert created.status_code == 200
    link = secret_on(created)
    with app.app_context():
        base_url = get_settings().base_url
    # The configured public URL, not the request's host (the test client's "localhost").
    assert "localhost" not in base_url
    assert re.fullmatch(re.escape(base_url) + r"/register\?invite=\S+", link)
    listing = text(browser.get("/admin"))
    assert "for Erin" in listing
    assert link.split("=", 1)[1] not in listing
    invite_id = re.search(r'action="/admin/invites/(\d+)/revoke"', listing)
    assert invite_id
    revoked = browser.post(
        f"/admin/invites/{invite_id.group(1)}/revoke", data={"csrf_token": admin.csrf_token}
    )
    assert revoked.status_code == 303
    after = text(browser.get(revoked.headers["Location"]))
    assert "The invitation was revoked" in after
    assert "for Erin" not in after
    again = browser.post(
        f"/admin/invites/{invite_id.group(1)}/revoke", data={"csrf_token": admin.csrf_token}
    )
    assert again.status_code == 404
    assert "already used, revoked or never existed" in text(again)


def test_a_bad_invitation_note_is_explained(admin_browser: tuple[FlaskClient, SignedIn]) -> None:
    browser, admin = admin_browser
    refused = browser.post(
        "/admin/invites", data={"csrf_token": admin.csrf_token, "note": "a\u200bb", "role": "god"}
    )
    assert refused.status_code == 422
    body = text(refused)
    assert "Control or invisible characters are not allowed" in body
    assert "Must be one of" in body


# --- one account -------------------------------------------------------------------------


def test_an_accounts_page_shows_its_facts_and_events(
    app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, _ = admin_browser
    name = make_user(app, "fay", email="fay@example.org")
    page = browser.get(f"/admin/users/{user_id(app, name)}")
    body = text(page)
    assert page.status_code == 200
    assert "fay@example.org" in body
    assert "admin:user:create" in body  # its recent activity, from the ledger
    assert browser.get("/admin/users/2147480000").status_code == 404


def test_disabling_ends_the_sessions_and_enabling_restores_sign_in(
    app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, admin = admin_browser
    name = make_user(app, "gil")
    victim = app.test_client()
    sign_in(victim, name)
    assert victim.get("/files").status_code == 200
    uid = user_id(app, name)
    disabled = browser.post(
        f"/admin/users/{uid}/status", data={"csrf_token": admin.csrf_token, "status": "disabled"}
    )
    assert disabled.status_code == 303
    assert "is disabled" in text(browser.get(disabled.headers["Location"]))
    assert victim.get("/files").headers["Location"] == "/login"
    refused = app.test_client().post(
        f"{API}/auth/login", json={"username": name, "password": STRONG_PASSWORD}
    )
    assert refused.status_code == 401
    enabled = browser.post(
        f"/admin/users/{uid}/status", data={"csrf_token": admin.csrf_token, "status": "active"}
    )
    assert "enabled again" in text(browser.get(enabled.headers["Location"]))
    sign_in(app.test_client(), name)


def test_changing_the_role(app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]) -> None:
    browser, admin = admin_browser
    uid = user_id(app, make_user(app, "hal"))
    changed = browser.post(
        f"/admin/users/{uid}/role", data={"csrf_token": admin.csrf_token, "role": "admin"}
    )
    assert changed.status_code == 303
    assert "is now an administrator" in text(browser.get(changed.headers["Location"]))
    bad = browser.post(f"/admin/users/{uid}/role", data={"csrf_token": admin.csrf_token})
    assert bad.status_code == 422
    assert "Choose a role" in text(bad)


def test_the_last_admin_is_kept_with_a_plain_message(
    make_app: AppFactory, fresh_database_url: str
) -> None:
    migrate(fresh_database_url)  # a database where this admin is the only one
    app = make_app(database_url=fresh_database_url)
    browser = app.test_client()
    boss = sign_in(browser, make_user(app, "only", role=Role.ADMIN))
    uid = user_id(app, boss.username)
    refused = browser.post(
        f"/admin/users/{uid}/role", data={"csrf_token": boss.csrf_token, "role": "user"}
    )
    assert refused.status_code == 409
    body = text(refused)
    assert "last active administrator" in body
    assert "Administrator" in body  # still
    with app.app_context(), get_database().session() as db:
        assert db.get_one(User, uid).role is Role.ADMIN


def test_resetting_the_password_shows_a_temporary_one(
    app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, admin = admin_browser
    name = make_user(app, "ivy")
    reset = browser.post(
        f"/admin/users/{user_id(app, name)}/password-reset", data={"csrf_token": admin.csrf_token}
    )
    assert reset.status_code == 200
    assert reset.headers["Cache-Control"] == "no-store"
    temporary = secret_on(reset)
    old = app.test_client().post(
        f"{API}/auth/login", json={"username": name, "password": STRONG_PASSWORD}
    )
    assert old.status_code == 401
    new = app.test_client().post(
        f"{API}/auth/login", json={"username": name, "password": temporary}
    )
    assert new.get_json()["user"]["must_change_password"] is True


def test_turning_off_2fa(
    app: APIFlask, clock: FakeClock, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, admin = admin_browser
    name = make_user(app, "jo")
    holder = sign_in(app.test_client(), name)
    client = app.test_client()
    secret = client.post(f"{API}/me/2fa", headers=holder.bearer).get_json()["secret"]
    code = pyotp.TOTP(secret).at(clock.now())
    assert client.post(f"{API}/me/2fa/confirm", json={"code": code},
                       headers=holder.bearer).status_code == 200  # fmt: skip
    uid = user_id(app, name)
    assert "Turn off 2FA" in text(browser.get(f"/admin/users/{uid}"))
    done = browser.post(f"/admin/users/{uid}/2fa-reset", data={"csrf_token": admin.csrf_token})
    assert done.status_code == 303
    assert "Two-factor authentication is off" in text(browser.get(done.headers["Location"]))
    again = browser.post(f"/admin/users/{uid}/2fa-reset", data={"csrf_token": admin.csrf_token})
    assert again.status_code == 409
    assert "does not use two-factor authentication" in text(again)


def test_an_admin_cannot_reset_their_own_credentials_here(
    app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, admin = admin_browser
    uid = user_id(app, admin.username)
    own = text(browser.get(f"/admin/users/{uid}"))
    assert "This is your own account" in own
    assert "Reset the password" not in own
    for action in ("password-reset", "2fa-reset"):
        refused = browser.post(
            f"/admin/users/{uid}/{action}", data={"csrf_token": admin.csrf_token}
        )
        assert refused.status_code == 409
        assert "your account pages" in text(refused)


def test_actions_need_the_csrf_token(
    app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]
) -> None:
    browser, _ = admin_browser
    uid = user_id(app, make_user(app, "kim"))
    forged = browser.post(f"/admin/users/{uid}/status", data={"status": "disabled"})
    assert forged.status_code == 403
    assert "Active" in text(browser.get(f"/admin/users/{uid}"))


# --- the status page ---------------------------------------------------------------------


def test_the_status_page(app: APIFlask, admin_browser: tuple[FlaskClient, SignedIn]) -> None:
    browser, _ = admin_browser
    name = make_user(app, "lou")
    failed = app.test_client().post(
        f"{API}/auth/login", json={"username": name, "password": "wrong-password-123"}
    )
    assert failed.status_code == 401
    page = browser.get("/admin/status")
    body = text(page)
    assert page.status_code == 200
    for expected in ("Everything is working.", "Database", "Blob store", "Audit ledger",
                     "Entries", "account:signin:failure", "admin:user:create"):  # fmt: skip
        assert expected in body, expected
    assert "account:signin:success" not in body  # not a security event
    assert browser.get("/admin/status?page=9999").status_code == 200
