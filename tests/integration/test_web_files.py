"""The files and sharing pages from the outside (a browser without JavaScript): the
file page for its owner and for a grantee, rename, delete, grants, share links,
"shared with me", and the public share-link page a browser gets at /s/<token>."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.auth_helpers import FakeClock, SignedIn, sign_in, use_clock
from tests.conftest import AppFactory
from tests.files_helpers import API, upload

BASE_URL = "https://files.example"
# What Chromium sends when it follows a link.
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
DATA = b"quarterly numbers\n" * 100


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(make_app: AppFactory, clock: FakeClock) -> APIFlask:
    made = make_app(base_url=BASE_URL)
    use_clock(made, clock)
    return made


@pytest.fixture
def file_id(client: FlaskClient, alice: SignedIn) -> str:
    made: str = upload(client, alice, DATA, "report.txt")["id"]
    return made


class Browser:
    """A signed-in browser: a test client with the user's session cookie."""

    def __init__(self, app: APIFlask, who: SignedIn) -> None:
        self.client = app.test_client()
        self.csrf = sign_in(self.client, who.username).csrf_token

    def get(self, path: str) -> TestResponse:
        return self.client.get(path, headers=HTML)

    def post(self, path: str, **form: str) -> TestResponse:
        return self.client.post(path, data={"csrf_token": self.csrf, **form}, headers=HTML)


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def api_get(app: APIFlask, path: str, who: SignedIn) -> TestResponse:
    return app.test_client().get(f"{API}{path}", headers=who.bearer)


def followed(browser: Browser, response: TestResponse) -> str:
    assert response.status_code == 303, text(response)
    return text(browser.get(response.headers["Location"]))


# --- the file page ---------------------------------------------------------------


def test_the_owner_sees_the_facts_and_every_form(
    app: APIFlask, alice: SignedIn, file_id: str
) -> None:
    page = Browser(app, alice).get(f"/files/{file_id}")
    html = text(page)
    assert page.status_code == 200
    assert '<h1 id="file-name" class="file-name">report.txt</h1>' in html
    assert "1.8 KB" in html
    assert api_get(app, f"/files/{file_id}", alice).get_json()["sha256"] in html
    assert f'href="/api/v1/files/{file_id}/content" download' in html
    for action in ("rename", "grants", "links", "delete"):
        assert f'action="/files/{file_id}/{action}"' in html
    assert f'href="/files/{file_id}/history"' in html
    assert 'data-confirm="Delete “report.txt” for good?' in html


def test_my_files_links_each_name_to_its_page(app: APIFlask, alice: SignedIn, file_id: str) -> None:
    html = text(Browser(app, alice).get("/files"))
    assert f'<a href="/files/{file_id}">report.txt</a>' in html


def test_a_grantee_sees_the_page_read_only_and_may_change_nothing(
    app: APIFlask, alice: SignedIn, bob: SignedIn, file_id: str
) -> None:
    Browser(app, alice).post(f"/files/{file_id}/grants", usernames=bob.username, grant_for="")
    browser = Browser(app, bob)
    html = text(browser.get(f"/files/{file_id}"))
    assert f"Shared with you by {alice.username}" in html
    assert "Download" in html
    assert "/rename" not in html
    assert "/delete" not in html
    assert "Share links" not in html
    assert "/history" not in html
    refused = browser.post(f"/files/{file_id}/rename", name="mine.txt")
    assert refused.status_code == 403
    assert refused.mimetype == "text/html"
    assert browser.post(f"/files/{file_id}/delete").status_code == 403
    assert api_get(app, f"/files/{file_id}", alice).get_json()["name"] == "report.txt"


def test_someone_else_gets_not_found_as_for_no_file(
    app: APIFlask, carol: SignedIn, file_id: str
) -> None:
    browser = Browser(app, carol)
    for path in (f"/files/{file_id}", "/files/no-such-file"):
        page = browser.get(path)
        assert page.status_code == 404
        assert "report.txt" not in text(page)
    assert browser.post(f"/files/{file_id}/delete").status_code == 404


def test_rename_and_a_refused_name_keeps_what_was_typed(
    app: APIFlask, alice: SignedIn, file_id: str
) -> None:
    browser = Browser(app, alice)
    html = followed(browser, browser.post(f"/files/{file_id}/rename", name="budget 2025.txt"))
    assert "Renamed to “budget 2025.txt”." in html
    assert api_get(app, f"/files/{file_id}", alice).get_json()["name"] == "budget 2025.txt"
    refused = browser.post(f"/files/{file_id}/rename", name="..")
    assert refused.status_code == 422
    assert 'value=".."' in text(refused)
    assert 'aria-invalid="true"' in text(refused)
    assert api_get(app, f"/files/{file_id}", alice).get_json()["name"] == "budget 2025.txt"


def test_delete_returns_to_the_list_with_a_message(
    app: APIFlask, alice: SignedIn, file_id: str
) -> None:
    browser = Browser(app, alice)
    deleted = browser.post(f"/files/{file_id}/delete")
    assert deleted.headers["Location"] == "/files"
    assert "“report.txt” was deleted." in followed(browser, deleted)
    assert api_get(app, f"/files/{file_id}", alice).status_code == 404


def test_forms_without_the_csrf_token_are_refused(
    app: APIFlask, alice: SignedIn, file_id: str
) -> None:
    browser = Browser(app, alice)
    forged = browser.client.post(f"/files/{file_id}/delete", data={}, headers=HTML)
    assert forged.status_code == 403
    assert api_get(app, f"/files/{file_id}", alice).status_code == 200


# --- grants ----------------------------------------------------------------------


def test_share_with_several_users_change_and_revoke(
    app: APIFlask, alice: SignedIn, bob: SignedIn, carol: SignedIn, file_id: str
) -> None:
    browser = Browser(app, alice)
    shared = browser.post(
        f"/files/{file_id}/grants", usernames=f"{bob.username}, {carol.username}", grant_for=""
    )
    assert shared.headers["Location"] == f"/files/{file_id}#sharing"
    html = followed(browser, shared)
    assert f"is now shared with {bob.username}, {carol.username}." in html
    grants = api_get(app, f"/files/{file_id}/grants", alice).get_json()["items"]
    assert [g["username"] for g in grants] == [bob.username, carol.username]
    bob_grant = grants[0]["id"]
    changed = browser.post(f"/files/{file_id}/grants/{bob_grant}/change", grant_for="24")
    assert f"{bob.username} now has access for 1 day from now." in followed(browser, changed)
    assert api_get(app, f"/files/{file_id}/grants", alice).get_json()["items"][0]["expires_at"]
    revoked = browser.post(f"/files/{file_id}/grants/{bob_grant}/revoke")
    assert f"{bob.username} no longer has access" in followed(browser, revoked)
    assert api_get(app, f"/files/{file_id}", bob).status_code == 404
    assert api_get(app, f"/files/{file_id}", carol).status_code == 200


def test_an_unknown_user_gets_the_apis_message_and_nobody_is_shared_with(
    app: APIFlask, alice: SignedIn, bob: SignedIn, file_id: str
) -> None:
    typed = f"{bob.username} nobody-by-that-name"
    refused = Browser(app, alice).post(f"/files/{file_id}/grants", usernames=typed, grant_for="168")
    html = text(refused)
    assert refused.status_code == 422
    api = app.test_client().post(
        f"{API}/files/{file_id}/grants", json={"username": "nobody-by-that-name"},
        headers=alice.bearer,
    )  # fmt: skip
    assert api.get_json()["detail"] in html
    assert f'value="{typed}"' in html
    assert '<option value="168" selected>' in html
    assert api_get(app, f"/files/{file_id}/grants", alice).get_json()["items"] == []


def test_an_empty_or_doubled_share_is_explained(
    app: APIFlask, alice: SignedIn, bob: SignedIn, file_id: str
) -> None:
    browser = Browser(app, alice)
    empty = browser.post(f"/files/{file_id}/grants", usernames=" ", grant_for="")
    assert empty.status_code == 422
    assert "Type the username" in text(empty)
    browser.post(f"/files/{file_id}/grants", usernames=bob.username, grant_for="")
    again = browser.post(f"/files/{file_id}/grants", usernames=bob.username, grant_for="")
    assert again.status_code == 409
    assert "already shared" in text(again)
    odd = browser.post(f"/files/{file_id}/grants", usernames=bob.username, grant_for="5")
    assert odd.status_code == 422
    assert "Choose one of the listed durations." in text(odd)


# --- share links (the owner's side) ------------------------------------------------


def new_link(browser: Browser, file_id: str, **form: str) -> tuple[TestResponse, str]:
    made = browser.post(f"/files/{file_id}/links", **{"link_for": "168", **form})
    assert made.status_code == 201, text(made)
    found = re.search(r'id="new-link" class="secret" value="([^"]+)"', text(made))
    assert found
    return made, found.group(1)


def test_a_new_link_is_shown_once_and_listed(app: APIFlask, alice: SignedIn, file_id: str) -> None:
    browser = Browser(app, alice)
    made, url = new_link(browser, file_id, password="open sesame", max_downloads="3", note="audit")
    assert url.startswith(f"{BASE_URL}/s/")
    assert made.headers["Cache-Control"] == "no-store"
    assert "open sesame" not in text(made)
    html = text(browser.get(f"/files/{file_id}"))
    assert url not in html
    assert "0 of 3" in html
    assert "audit" in html
    assert ">Active<" in html
    (link,) = api_get(app, f"/files/{file_id}/links", alice).get_json()["items"]
    assert link["password_required"] is True
    assert link["expires_at"] is not None


def test_a_refused_link_form_keeps_what_was_typed_but_the_password(
    app: APIFlask, alice: SignedIn, file_id: str
) -> None:
    refused = Browser(app, alice).post(
        f"/files/{file_id}/links", link_for="24", password="hunter22", max_downloads="0",
        note="for the auditors",
    )  # fmt: skip
    html = text(refused)
    assert refused.status_code == 422
    assert "The download limit is a whole number from 1 to 10000" in html
    assert 'value="for the auditors"' in html
    assert '<option value="24" selected>' in html
    assert "hunter22" not in html
    assert api_get(app, f"/files/{file_id}/links", alice).get_json()["items"] == []


def test_revoking_a_link_stops_it(app: APIFlask, alice: SignedIn, file_id: str) -> None:
    browser = Browser(app, alice)
    _made, url = new_link(browser, file_id)
    (link,) = api_get(app, f"/files/{file_id}/links", alice).get_json()["items"]
    revoked = browser.post(f"/files/{file_id}/links/{link['id']}/revoke")
    assert "The share link was revoked" in followed(browser, revoked)
    assert ">Revoked<" in text(browser.get(f"/files/{file_id}"))
    token = url.removeprefix(f"{BASE_URL}/s/")
    assert app.test_client().get(f"/s/{token}/content").status_code == 404


# --- shared with me -----------------------------------------------------------------


def test_shared_with_me_lists_downloads_and_removes(
    app: APIFlask, alice: SignedIn, bob: SignedIn, file_id: str
) -> None:
    Browser(app, alice).post(f"/files/{file_id}/grants", usernames=bob.username, grant_for="")
    browser = Browser(app, bob)
    html = text(browser.get("/shared"))
    assert f'<a href="/files/{file_id}">report.txt</a>' in html
    assert f"<td>{alice.username}</td>" in html
    assert browser.client.get(f"{API}/files/{file_id}/content").data == DATA
    removed = browser.post(f"/shared/{file_id}/decline")
    assert "removed from your list" in followed(browser, removed)
    assert "Nothing is shared with you" in text(browser.get("/shared"))
    assert api_get(app, f"/files/{file_id}", bob).status_code == 404
    assert browser.post(f"/shared/{file_id}/decline").status_code == 404


def test_nothing_shared_and_the_nav_link(app: APIFlask, carol: SignedIn) -> None:
    html = text(Browser(app, carol).get("/shared"))
    assert "Nothing is shared with you at the moment." in html
    assert '<a href="/shared" aria-current="page">Shared with me</a>' in html


# --- the public share-link page -------------------------------------------------------


def token_of(browser: Browser, file_id: str, **form: str) -> str:
    return new_link(browser, file_id, **form)[1].removeprefix(f"{BASE_URL}/s/")


def test_a_browser_gets_a_page_and_tools_keep_the_json(
    app: APIFlask, alice: SignedIn, file_id: str
) -> None:
    token = token_of(Browser(app, alice), file_id, max_downloads="2")
    page = app.test_client().get(f"/s/{token}", headers=HTML)
    html = text(page)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "report.txt" in html
    # A form: a scanner following the page's links must not use up a download.
    assert f'<form method="post" action="/s/{token}/content">' in html
    assert f'href="/s/{token}/content"' not in html
    assert "<dd>2</dd>" in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for accept in ({}, {"Accept": "*/*"}, {"Accept": "application/json"}):
        info = app.test_client().get(f"/s/{token}", headers=accept)
        assert info.get_json()["name"] == "report.txt", accept
    pressed = app.test_client().post(
        f"/s/{token}/content", headers=HTML, content_type="application/x-www-form-urlencoded"
    )
    assert pressed.data == DATA
    after = app.test_client().get(f"/s/{token}", headers=HTML).get_data(as_text=True)
    assert "<dd>1</dd>" in after  # one download used


def test_a_password_link_hides_the_file_until_the_right_password(
    app: APIFlask, alice: SignedIn, file_id: str
) -> None:
    token = token_of(Browser(app, alice), file_id, password="open sesame", max_downloads="1")
    visitor = app.test_client()
    page = visitor.get(f"/s/{token}", headers=HTML)
    assert "report.txt" not in text(page)
    assert f'action="/s/{token}/content"' in text(page)
    assert 'autocomplete="off"' in text(page)
    wrong = visitor.post(f"/s/{token}/content", data={"password": "guess"}, headers=HTML)
    assert wrong.status_code == 403
    assert "That password is not right" in text(wrong)
    assert "guess" not in text(wrong)
    empty = visitor.post(f"/s/{token}/content", data={"password": ""}, headers=HTML)
    assert "Type the password to download" in text(empty)
    right = visitor.post(f"/s/{token}/content", data={"password": "open sesame"}, headers=HTML)
    assert right.status_code == 200
    assert right.data == DATA
    used_up = visitor.get(f"/s/{token}", headers=HTML)
    assert used_up.status_code == 410
    assert "This link has been used up" in text(used_up)
    again = visitor.post(f"/s/{token}/content", data={"password": "open sesame"}, headers=HTML)
    assert again.status_code == 410
    assert "used up" in text(again)


def test_expired_and_unknown_links_say_so(
    app: APIFlask, alice: SignedIn, file_id: str, clock: FakeClock
) -> None:
    token = token_of(Browser(app, alice), file_id, link_for="1")
    clock.advance(seconds=int(timedelta(hours=2).total_seconds()))
    expired = app.test_client().get(f"/s/{token}", headers=HTML)
    assert expired.status_code == 410
    assert "This link has expired" in text(expired)
    download = app.test_client().get(f"/s/{token}/content", headers=HTML)
    assert download.status_code == 410
    assert "This link has expired" in text(download)
    unknown = app.test_client().get("/s/not-a-real-token", headers=HTML)
    assert unknown.status_code == 404
    assert "This link does not work" in text(unknown)
    assert unknown.headers["Referrer-Policy"] == "no-referrer"
    as_json = app.test_client().get("/s/not-a-real-token", headers={"Accept": "application/json"})
    assert as_json.mimetype == "application/problem+json"


def test_my_files_pages_keep_the_search_and_sort(
    app: APIFlask, client: FlaskClient, alice: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("strongroom.web.files.PAGE_SIZE", 1)
    for name in ("a-notes.txt", "b-notes.txt"):
        upload(client, alice, b"x", name)
    browser = Browser(app, alice)
    first = text(browser.get("/files?q=notes&sort=name"))
    assert "Page 1 of 2" in first
    assert 'href="/files?page=2&amp;q=notes&amp;sort=name">Next' in first
    assert "a-notes.txt" in first
    assert "b-notes.txt" not in first
    second = text(browser.get("/files?q=notes&sort=name&page=2"))
    assert "b-notes.txt" in second
    assert ">Previous<" in second


def test_too_many_wrong_passwords_say_how_long_to_wait(
    make_app: AppFactory, alice: SignedIn
) -> None:
    app = make_app(base_url=BASE_URL, rate_limit_link_password="2/minute")
    made = upload(app.test_client(), alice, DATA, "report.txt")["id"]
    token = token_of(Browser(app, alice), made, password="open sesame")
    visitor = app.test_client()
    for _ in range(2):
        wrong = visitor.post(f"/s/{token}/content", data={"password": "guess"}, headers=HTML)
        assert wrong.status_code == 403
    throttled = visitor.post(f"/s/{token}/content", data={"password": "guess"}, headers=HTML)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"].isdigit()
    assert "Too many wrong passwords for this link. Please wait" in text(throttled)
    assert f'action="/s/{token}/content"' in text(throttled)
