"""Share links from the outside: the owner creates, lists and revokes them; anyone
holding the token reads the one file — counted, limited, expiring, optionally behind
a password — and learns nothing else. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.test import TestResponse

from strongroom.context import get_database
from strongroom.sharing import links
from strongroom.sharing.exceptions import LinkExhausted
from strongroom.sharing.models import ShareLink
from tests.auth_helpers import FakeClock, SignedIn, make_admin, new_account, use_clock
from tests.conftest import AppFactory
from tests.files_helpers import API, random_bytes, row_of, upload
from tests.integration.test_files_api import PROBLEM, entries_about

JSON = {"Accept": "application/json"}
BASE_URL = "https://files.example.org"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(make_app: AppFactory, clock: FakeClock) -> APIFlask:
    app = make_app(base_url=BASE_URL, file_segment_size=4096)
    use_clock(app, clock)
    return app


@pytest.fixture
def data() -> bytes:
    return random_bytes(10_000)


@pytest.fixture
def file_id(client: FlaskClient, alice: SignedIn, data: bytes) -> str:
    file_id: str = upload(client, alice, data, "report.pdf")["id"]
    return file_id


def call(app: APIFlask, method: str, path: str, who: SignedIn | None, **kw: Any) -> TestResponse:
    """One request to the API from a fresh client (no cookies), by bearer token."""
    headers = {"Authorization": f"Bearer {who.token}"} if who else {}
    headers.update(kw.pop("headers", {}))
    return app.test_client().open(API + path, method=method, headers=headers, **kw)


def make_link(app: APIFlask, owner: SignedIn, file_id: str, **body: Any) -> dict[str, Any]:
    response = call(app, "POST", f"/files/{file_id}/links", owner, json=body)
    assert response.status_code == 201, response.get_json()
    made: dict[str, Any] = response.get_json()
    return made


def token_of(link: dict[str, Any]) -> str:
    prefix = f"{BASE_URL}/s/"
    url: str = link["url"]
    assert url.startswith(prefix)
    return url.removeprefix(prefix)


def fetch(app: APIFlask, token: str, suffix: str = "/content", **kw: Any) -> TestResponse:
    headers = {**JSON, **kw.pop("headers", {})}
    return app.test_client().open(f"/s/{token}{suffix}", headers=headers, **kw)


def assert_problem(response: TestResponse, status: int, slug: str) -> None:
    body = response.get_json()
    assert response.status_code == status, body
    assert body["type"] == PROBLEM + slug, body


def links_in_db(app: APIFlask, file_id: str) -> list[ShareLink]:
    with app.app_context(), get_database().session(write=False) as db:
        return list(db.scalars(select(ShareLink).where(ShareLink.file_id == file_id)))


def tags_about(app: APIFlask, file_id: str) -> list[str]:
    return [e.tag for e in entries_about(app, file_id)]


# --- the owner's side ------------------------------------------------------------


def test_create_list_revoke(app: APIFlask, alice: SignedIn, file_id: str) -> None:
    made = make_link(app, alice, file_id, max_downloads=3, note="for the auditors")
    assert made["file_id"] == file_id
    assert made["max_downloads"] == 3
    assert made["downloads"] == 0
    assert made["password_required"] is False
    assert made["active"] is True
    assert len(token_of(made)) == 43  # 256 bits, base64url
    listed = call(app, "GET", f"/files/{file_id}/links", alice).get_json()["items"]
    assert [item["id"] for item in listed] == [made["id"]]
    assert "url" not in listed[0]
    assert listed[0]["note"] == "for the auditors"
    gone = call(app, "DELETE", f"/files/{file_id}/links/{made['id']}", alice)
    assert gone.status_code == 204
    listed = call(app, "GET", f"/files/{file_id}/links", alice).get_json()["items"]
    assert listed[0]["revoked_at"] is not None
    assert listed[0]["active"] is False
    unknown = call(app, "DELETE", f"/files/{file_id}/links/nosuchlink", alice)
    assert_problem(unknown, 404, "not-found")
    assert tags_about(app, file_id)[-2:] == ["link:create", "link:revoke"]


def test_only_the_tokens_hash_is_stored_and_never_ledgered(
    app: APIFlask, alice: SignedIn, file_id: str
) -> None:
    made = make_link(app, alice, file_id, password="correct horse battery")
    token = token_of(made)
    (row,) = links_in_db(app, file_id)
    assert row.token_hash == hashlib.sha256(token.encode()).digest()
    assert row.password_hash is not None
    assert row.password_hash.startswith("$argon2id$")
    with app.app_context(), get_database().session(write=False) as db:
        dumped = " ".join(
            str(value)
            for table in ("share_links", "ledger_entries")
            for line in db.execute(text(f"SELECT * FROM {table}"))  # fixed names
            for value in line
        )
    assert token not in dumped
    assert "correct horse battery" not in dumped
    (created,) = [e for e in entries_about(app, file_id) if e.tag == "link:create"]
    assert created.details == {
        "link": made["id"],
        "expires_at": None,
        "max_downloads": None,
        "has_password": True,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_downloads": 0}, "max_downloads"),
        ({"max_downloads": 10_001}, "max_downloads"),
        ({"note": "x" * 201}, "note"),
        ({"password": "p" * 1025}, "password"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no time zone
        ({"token": "mine"}, "token"),
    ],
)
def test_bad_terms_are_refused(
    app: APIFlask, alice: SignedIn, file_id: str, body: dict[str, Any], field: str
) -> None:
    response = call(app, "POST", f"/files/{file_id}/links", alice, json=body)
    assert_problem(response, 422, "validation-failed")
    assert field in {e["field"].split(".")[-1] for e in response.get_json()["errors"]}


def test_an_expiry_in_the_past_is_refused(
    app: APIFlask, alice: SignedIn, file_id: str, clock: FakeClock
) -> None:
    past = (clock.now() - timedelta(seconds=1)).isoformat()
    response = call(app, "POST", f"/files/{file_id}/links", alice, json={"expires_at": past})
    assert_problem(response, 422, "cannot-share")
    assert links_in_db(app, file_id) == []


def _grantee(app: APIFlask, alice: SignedIn, file_id: str) -> SignedIn:
    bob = new_account(app.test_client(), "bob")
    made = call(app, "POST", f"/files/{file_id}/grants", alice, json={"username": bob.username})
    assert made.status_code == 201
    return bob


@pytest.mark.parametrize("who", ["grantee", "other-user", "admin", "anonymous", "files-token"])
def test_only_the_owner_manages_links(
    app: APIFlask, alice: SignedIn, file_id: str, who: str
) -> None:
    link = make_link(app, alice, file_id)
    expected = {"grantee": 403, "other-user": 404, "admin": 404, "anonymous": 401}
    caller: SignedIn | None
    headers: dict[str, str] = {}
    if who == "grantee":
        caller = _grantee(app, alice, file_id)
    elif who == "other-user":
        caller = new_account(app.test_client(), "carol")
    elif who == "admin":
        caller = make_admin(app)
    elif who == "files-token":
        caller = None
        made = call(app, "POST", "/me/tokens", alice,
                    json={"name": "read", "scopes": ["files:read", "files:write"]})  # fmt: skip
        headers = {"Authorization": f"Bearer {made.get_json()['token']}"}
    else:
        caller = None
    slug = {401: "unauthenticated", 403: "access-denied", 404: "not-found"}
    for method, path, body in (
        ("POST", f"/files/{file_id}/links", {}),
        ("GET", f"/files/{file_id}/links", None),
        ("DELETE", f"/files/{file_id}/links/{link['id']}", None),
    ):
        response = call(app, method, path, caller, json=body, headers=headers)
        if who == "files-token":
            assert_problem(response, 403, "forbidden")
        else:
            assert_problem(response, expected[who], slug[expected[who]])
    (row,) = links_in_db(app, file_id)
    assert row.revoked_at is None


def test_a_shares_write_token_manages_links(app: APIFlask, alice: SignedIn, file_id: str) -> None:
    made = call(app, "POST", "/me/tokens", alice, json={"name": "s", "scopes": ["shares:write"]})
    headers = {"Authorization": f"Bearer {made.get_json()['token']}"}
    client = app.test_client()
    created = client.post(f"{API}/files/{file_id}/links", json={}, headers=headers)
    assert created.status_code == 201
    listed = client.get(f"{API}/files/{file_id}/links", headers=headers)
    assert listed.status_code == 200


def test_deleting_the_file_removes_its_links(app: APIFlask, alice: SignedIn, file_id: str) -> None:
    token = token_of(make_link(app, alice, file_id))
    assert call(app, "DELETE", f"/files/{file_id}", alice).status_code == 204
    assert links_in_db(app, file_id) == []
    assert_problem(fetch(app, token, ""), 404, "not-found")


# --- the link holder's side --------------------------------------------------------


def test_the_holder_sees_the_file_and_downloads_it(
    app: APIFlask, alice: SignedIn, file_id: str, data: bytes
) -> None:
    token = token_of(make_link(app, alice, file_id, max_downloads=2))
    info = fetch(app, token, "")
    assert info.status_code == 200
    assert info.get_json() == {
        "name": "report.pdf",
        "size": len(data),
        "content_type": "application/octet-stream",  # what the bytes were sniffed as
        "expires_at": None,
        "downloads_left": 2,
        "password_required": False,
    }
    assert "alice" not in info.get_data(as_text=True)
    got = fetch(app, token)
    assert got.status_code == 200
    assert got.data == data
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert got.headers["ETag"]
    assert fetch(app, token, "").get_json()["downloads_left"] == 1
    (use,) = [e for e in entries_about(app, file_id) if e.tag == "link:use"]
    link_id = links_in_db(app, file_id)[0].id
    assert use.actor == f"link:{link_id}"
    assert use.target == f"file:{file_id}"


def test_every_answer_under_s_is_private(app: APIFlask, alice: SignedIn, file_id: str) -> None:
    token = token_of(make_link(app, alice, file_id))
    for response in (
        fetch(app, token, ""),
        fetch(app, token),
        fetch(app, "no-such-token", ""),
        fetch(app, token, "/nowhere"),
        fetch(app, token, "", method="DELETE"),
    ):
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"


def test_a_range_over_a_link(app: APIFlask, alice: SignedIn, file_id: str, data: bytes) -> None:
    token = token_of(make_link(app, alice, file_id, max_downloads=1))
    got = fetch(app, token, headers={"Range": "bytes=4090-5000"})
    assert got.status_code == 206
    assert got.data == data[4090:5001]
    assert got.headers["Content-Range"] == f"bytes 4090-5000/{len(data)}"
    (use,) = [e for e in entries_about(app, file_id) if e.tag == "link:use"]
    assert use.details["range"] == "4090-5000"
    assert_problem(fetch(app, token), 410, "link-exhausted")


def test_head_is_not_counted(app: APIFlask, alice: SignedIn, file_id: str, data: bytes) -> None:
    token = token_of(make_link(app, alice, file_id, max_downloads=1))
    for _ in range(3):
        head = fetch(app, token, method="HEAD")
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(data))
    assert fetch(app, token).data == data


def test_an_expired_link_is_gone(
    app: APIFlask, alice: SignedIn, file_id: str, clock: FakeClock
) -> None:
    expires = (clock.now() + timedelta(hours=1)).isoformat()
    token = token_of(make_link(app, alice, file_id, expires_at=expires))
    assert fetch(app, token).status_code == 200
    clock.advance(hours=1)
    assert_problem(fetch(app, token), 410, "link-expired")
    assert_problem(fetch(app, token, ""), 410, "link-expired")


def test_an_exhausted_link_is_gone(app: APIFlask, alice: SignedIn, file_id: str) -> None:
    token = token_of(make_link(app, alice, file_id, max_downloads=2))
    assert [fetch(app, token).status_code for _ in range(2)] == [200, 200]
    assert_problem(fetch(app, token), 410, "link-exhausted")
    assert_problem(fetch(app, token, ""), 410, "link-exhausted")
    assert links_in_db(app, file_id)[0].downloads == 2


def test_a_revoked_link_is_as_unknown_as_a_wrong_token(
    app: APIFlask, alice: SignedIn, file_id: str
) -> None:
    made = make_link(app, alice, file_id)
    token = token_of(made)
    call(app, "DELETE", f"/files/{file_id}/links/{made['id']}", alice)
    revoked, unknown = fetch(app, token), fetch(app, "A" * 43)
    assert_problem(revoked, 404, "not-found")
    assert_problem(unknown, 404, "not-found")
    assert revoked.get_json()["detail"] == unknown.get_json()["detail"]


def test_the_holder_reaches_nothing_else(
    app: APIFlask, client: FlaskClient, alice: SignedIn, file_id: str
) -> None:
    other = upload(client, alice, b"private", "diary.txt")["id"]
    token = token_of(make_link(app, alice, file_id))
    # The token is no API credential, for this file or any other.
    for target in (file_id, other):
        for suffix in ("", "/content", "/links"):
            response = app.test_client().get(
                f"{API}/files/{target}{suffix}", headers={"Authorization": f"Bearer {token}"}
            )
            assert_problem(response, 401, "unauthenticated")
    # Another file's id in the link path is just a wrong token.
    assert_problem(fetch(app, other), 404, "not-found")
    assert_problem(fetch(app, f"{token}/../{other}", ""), 404, "not-found")


# --- passwords -------------------------------------------------------------------

PASSWORD = "plum-orchard-winter"


def test_a_password_link(app: APIFlask, alice: SignedIn, file_id: str, data: bytes) -> None:
    token = token_of(make_link(app, alice, file_id, password=PASSWORD))
    info = fetch(app, token, "").get_json()
    assert info["password_required"] is True
    assert info["name"] is None  # behind the password, even the name is private
    assert_problem(fetch(app, token), 403, "link-password-required")
    assert_problem(fetch(app, token, method="POST", json={}), 403, "link-password-required")
    wrong = fetch(app, token, method="POST", json={"password": "nope"})
    assert_problem(wrong, 403, "link-password-required")
    right = fetch(app, token, method="POST", json={"password": PASSWORD})
    assert right.status_code == 200
    assert right.data == data
    form = fetch(app, token, method="POST", data={"password": PASSWORD})
    assert form.data == data
    denied = [e for e in entries_about(app, file_id) if e.tag == "access:denied"]
    link_id = links_in_db(app, file_id)[0].id
    assert [(e.actor, e.details["reason"]) for e in denied] == [
        (f"link:{link_id}", "wrong link password")
    ]
    assert tags_about(app, file_id).count("link:use") == 2


def test_a_signed_in_browser_posts_without_csrf(
    app: APIFlask, alice: SignedIn, file_id: str, data: bytes
) -> None:
    """The public POST acts as no user, so a session cookie does not make it need CSRF."""
    token = token_of(make_link(app, alice, file_id, password=PASSWORD))
    browser = app.test_client()
    new_account(browser, "dora")  # leaves a session cookie in this client
    got = browser.post(f"/s/{token}/content", data={"password": PASSWORD}, headers=JSON)
    assert got.status_code == 200
    assert got.data == data


def test_wrong_passwords_are_throttled_per_link_and_ip(
    make_app: AppFactory, alice: SignedIn, file_id: str, data: bytes
) -> None:
    app = make_app(base_url=BASE_URL, rate_limit_link_password="3/minute")
    token = token_of(make_link(app, alice, file_id, password=PASSWORD))
    for _ in range(3):
        wrong = fetch(app, token, method="POST", json={"password": "guess"})
        assert_problem(wrong, 403, "link-password-required")
    throttled = fetch(app, token, method="POST", json={"password": PASSWORD})
    assert_problem(throttled, 429, "rate-limited")
    assert int(throttled.headers["Retry-After"]) >= 1
    elsewhere = fetch(
        app, token, method="POST", json={"password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )  # fmt: skip
    assert elsewhere.data == data
    reasons = [e.details["reason"] for e in entries_about(app, file_id) if e.tag == "access:denied"]
    assert reasons == ["wrong link password"] * 3 + ["too many wrong link passwords"]


def test_requests_per_ip_are_limited(make_app: AppFactory, alice: SignedIn, file_id: str) -> None:
    app = make_app(base_url=BASE_URL, rate_limit_link_ip="3/minute")
    token = token_of(make_link(app, alice, file_id))
    statuses = [fetch(app, token, "").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = fetch(app, token)
    assert_problem(limited, 429, "rate-limited")
    assert limited.headers["Referrer-Policy"] == "no-referrer"


# --- counting under concurrency --------------------------------------------------


def test_twenty_concurrent_downloads_of_a_five_use_link(
    app: APIFlask, alice: SignedIn, file_id: str, data: bytes
) -> None:
    token = token_of(make_link(app, alice, file_id, max_downloads=5))
    start = threading.Barrier(20)
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def download() -> None:
        client = app.test_client()
        start.wait()
        response = client.get(f"/s/{token}/content", headers=JSON)
        with lock:
            results.append((response.status_code, response.data))

    threads = [threading.Thread(target=download) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(status for status, _ in results) == [200] * 5 + [410] * 15
    assert all(body == data for status, body in results if status == 200)
    assert links_in_db(app, file_id)[0].downloads == 5
    assert tags_about(app, file_id).count("link:use") == 5


def test_the_conditional_update_is_what_counts(
    app: APIFlask, alice: SignedIn, file_id: str, clock: FakeClock
) -> None:
    """Two holders that both resolved a one-use link: the second count is refused."""
    made = make_link(app, alice, file_id, max_downloads=1)
    row = row_of(app, file_id)
    assert row is not None
    with app.app_context(), get_database().session() as db:
        links.count_use(db, made["id"], file=row, byte_range=None, now=clock.now())
        db.commit()
        with pytest.raises(LinkExhausted):
            links.count_use(db, made["id"], file=row, byte_range=None, now=clock.now())


# --- the token stays out of logs ---------------------------------------------------


def test_the_token_is_not_logged(
    app: APIFlask, alice: SignedIn, file_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = token_of(make_link(app, alice, file_id, password=PASSWORD))
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        fetch(app, token, "")
        fetch(app, token, method="POST", json={"password": "wrong"})
        fetch(app, token, "/elsewhere")
        fetch(app, token, method="PUT")
    access = [r for r in caplog.records if r.name == "strongroom.access"]
    assert [getattr(r, "path", None) for r in access] == [
        "/s/<token>",
        "/s/<token>/content",
        "/s/<redacted>",
        "/s/<redacted>",
    ]
    assert access[0].route == "/s/<token>"  # type: ignore[attr-defined]
    for record in caplog.records:
        assert token not in record.getMessage()
        assert token not in str(record.__dict__)
