"""Grants: sharing a file with named users, from the outside — who can then do what,
revocation on the next request, expiry, enumeration, bounds, cascades, and the
ledger record of every decision."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy import select

from strongroom.context import get_database
from strongroom.sharing.grants import MAX_RECIPIENTS
from strongroom.sharing.models import Grant
from tests.auth_helpers import FakeClock, SignedIn, make_admin, new_account
from tests.files_helpers import API, blob_keys, download, random_bytes, row_of, upload
from tests.integration.test_files_api import PROBLEM, entries_about


@pytest.fixture
def app(clocked_app: APIFlask) -> APIFlask:
    return clocked_app


def call(app: APIFlask, method: str, path: str, who: SignedIn | None, **kw: Any) -> Any:
    """One request from a fresh client (no cookies), by bearer token."""
    headers = {"Authorization": f"Bearer {who.token}"} if who else {}
    return app.test_client().open(API + path, method=method, headers=headers, **kw)


def share(app: APIFlask, owner: SignedIn, file_id: str, username: str, **extra: Any) -> Any:
    body = {"username": username, **extra}
    return call(app, "POST", f"/files/{file_id}/grants", owner, json=body)


def grants_in_db(app: APIFlask, file_id: str) -> list[Grant]:
    with app.app_context(), get_database().session(write=False) as db:
        return list(db.scalars(select(Grant).where(Grant.file_id == file_id)))


def test_a_grantee_reads_and_downloads_the_same_bytes(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    data = random_bytes(5000)
    meta = upload(client, alice, data, "plan.txt")
    granted = share(app, alice, meta["id"], bob.username)
    assert granted.status_code == 201, granted.get_json()
    body = granted.get_json()
    assert body["username"] == bob.username
    assert body["permission"] == "read"
    assert body["active"] is True
    assert call(app, "GET", f"/files/{meta['id']}", bob).get_json()["name"] == "plan.txt"
    got = download(client, bob, meta["id"])
    assert got.status_code == 200
    assert got.data == data
    shared = call(app, "GET", "/shared", bob).get_json()
    assert shared["total"] == 1
    assert shared["items"][0]["file"]["id"] == meta["id"]
    assert shared["items"][0]["file"]["owner"] == alice.username
    tags = [e.tag for e in entries_about(app, meta["id"])]
    assert tags == ["file:upload", "grant:create", "file:download"]
    download_entry = entries_about(app, meta["id"])[-1]
    assert download_entry.actor == f"user:{bob.user['id']}"


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_a_grantee_cannot_change_or_delete_and_the_refusal_is_ledgered(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn, method: str
) -> None:
    meta = upload(client, alice, b"mine")
    share(app, alice, meta["id"], bob.username)
    kw = {"json": {"name": "stolen.txt"}} if method == "PATCH" else {}
    refused = call(app, method, f"/files/{meta['id']}", bob, **kw)
    assert refused.status_code == 403
    assert refused.get_json()["type"] == PROBLEM + "access-denied"
    assert row_of(app, meta["id"]) is not None
    denied = [e for e in entries_about(app, meta["id"]) if e.tag == "access:denied"]
    assert len(denied) == 1
    assert denied[0].actor == f"user:{bob.user['id']}"
    assert denied[0].details["action"] == ("rename" if method == "PATCH" else "delete")
    assert denied[0].details["reason"].startswith("a grantee cannot")


def test_a_grantee_cannot_share_further_or_see_the_grants(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn, carol: SignedIn
) -> None:
    meta = upload(client, alice, b"mine")
    grant = share(app, alice, meta["id"], bob.username).get_json()
    assert share(app, bob, meta["id"], carol.username).status_code == 403
    assert call(app, "GET", f"/files/{meta['id']}/grants", bob).status_code == 403
    revoke = call(app, "DELETE", f"/files/{meta['id']}/grants/{grant['id']}", bob)
    assert revoke.status_code == 403
    assert len(grants_in_db(app, meta["id"])) == 1


def test_revocation_takes_effect_on_the_next_request(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    meta = upload(client, alice, b"secret plans")
    grant = share(app, alice, meta["id"], bob.username).get_json()
    assert download(client, bob, meta["id"]).status_code == 200
    revoked = call(app, "DELETE", f"/files/{meta['id']}/grants/{grant['id']}", alice)
    assert revoked.status_code == 204
    # The same session, replayed: the file is now unknown to bob.
    assert download(client, bob, meta["id"]).status_code == 404
    assert call(app, "GET", f"/files/{meta['id']}", bob).status_code == 404
    assert call(app, "GET", "/shared", bob).get_json()["total"] == 0
    tags = [e.tag for e in entries_about(app, meta["id"])]
    assert tags[-3:] == ["grant:revoke", "access:denied", "access:denied"]


def test_an_expired_grant_gives_no_access_and_can_be_extended(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn, clock: FakeClock
) -> None:
    meta = upload(client, alice, b"for a day")
    until = clock.now() + timedelta(minutes=5)
    grant = share(app, alice, meta["id"], bob.username, expires_at=until.isoformat()).get_json()
    assert download(client, bob, meta["id"]).status_code == 200
    clock.advance(minutes=5, seconds=1)
    assert download(client, bob, meta["id"]).status_code == 404
    assert call(app, "GET", "/shared", bob).get_json()["total"] == 0
    listed = call(app, "GET", f"/files/{meta['id']}/grants", alice).get_json()["items"]
    assert [g["active"] for g in listed] == [False]
    changed = call(
        app, "PATCH", f"/files/{meta['id']}/grants/{grant['id']}", alice, json={"expires_at": None}
    )
    assert changed.status_code == 200
    assert changed.get_json()["expires_at"] is None
    assert download(client, bob, meta["id"]).status_code == 200


def test_an_expiry_in_the_past_or_without_a_time_zone_is_refused(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn, clock: FakeClock
) -> None:
    meta = upload(client, alice, b"x")
    past = (clock.now() - timedelta(minutes=1)).isoformat()
    refused = share(app, alice, meta["id"], bob.username, expires_at=past)
    assert refused.status_code == 422
    assert refused.get_json()["type"] == PROBLEM + "cannot-share"
    naive = share(app, alice, meta["id"], bob.username, expires_at="2030-01-01T00:00:00")
    assert naive.status_code == 422
    assert grants_in_db(app, meta["id"]) == []


def test_unknown_and_disabled_users_get_the_same_answer(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    meta = upload(client, alice, b"x")
    boss = make_admin(app)
    off = {"status": "disabled"}
    disabled = call(app, "PATCH", f"/admin/users/{bob.user['id']}", boss, json=off)
    assert disabled.status_code == 200
    unknown = share(app, alice, meta["id"], "nobody-here")
    inactive = share(app, alice, meta["id"], bob.username)
    assert unknown.status_code == inactive.status_code == 422
    assert unknown.get_json()["type"] == inactive.get_json()["type"] == PROBLEM + "cannot-share"
    assert unknown.get_json()["detail"] == inactive.get_json()["detail"]
    assert grants_in_db(app, meta["id"]) == []


def test_sharing_with_oneself_or_twice_is_refused(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    meta = upload(client, alice, b"x")
    itself = share(app, alice, meta["id"], alice.username)
    assert itself.status_code == 422
    assert itself.get_json()["type"] == PROBLEM + "cannot-share"
    assert share(app, alice, meta["id"], bob.username).status_code == 201
    again = share(app, alice, meta["id"], bob.username.upper())
    assert again.status_code == 409
    assert again.get_json()["type"] == PROBLEM + "already-shared"
    assert len(grants_in_db(app, meta["id"])) == 1


def test_share_with_at_upload_in_the_query(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn, carol: SignedIn
) -> None:
    response = client.post(
        f"{API}/files?share_with={bob.username},{carol.username}",
        data=b"for both",
        content_type="application/octet-stream",
        headers={"X-File-Name": "both.txt", "Authorization": f"Bearer {alice.token}"},
    )
    assert response.status_code == 201, response.get_json()
    file_id = response.get_json()["id"]
    assert download(client, bob, file_id).data == b"for both"
    assert download(client, carol, file_id).data == b"for both"
    tags = [e.tag for e in entries_about(app, file_id)]
    assert tags[:3] == ["file:upload", "grant:create", "grant:create"]


def test_share_with_at_upload_in_a_form_field_after_the_file(
    app: APIFlask, alice: SignedIn, bob: SignedIn
) -> None:
    browser = app.test_client()
    signed = new_account(browser, "dora")  # a cookie session: the form path with CSRF
    response = browser.post(
        f"{API}/files",
        data={
            "csrf_token": signed.csrf_token,
            "file": (io.BytesIO(b"by form"), "form.txt"),
            "share_with": bob.username,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    assert download(app.test_client(), bob, response.get_json()["id"]).data == b"by form"


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        ("nobody-at-all", "cannot-share"),
        ("{self}", "cannot-share"),
        (",".join(f"user{i}" for i in range(10_000)), "too-many-recipients"),
    ],
    ids=["unknown", "self", "ten-thousand"],
)
def test_a_bad_share_with_stores_nothing(
    app: APIFlask, client: FlaskClient, alice: SignedIn, names: str, problem: str
) -> None:
    before = blob_keys(app)
    refused = client.post(
        f"{API}/files",
        query_string={"share_with": names.replace("{self}", alice.username)},
        data=b"never stored",
        content_type="application/octet-stream",
        headers={"X-File-Name": "x.txt", "Authorization": f"Bearer {alice.token}"},
    )
    assert refused.status_code in {400, 422}
    assert refused.get_json()["type"] in {PROBLEM + problem, PROBLEM + "validation-failed"}
    assert blob_keys(app) == before
    listed = call(app, "GET", "/files", alice).get_json()
    assert listed["total"] == 0


def test_more_than_the_bound_of_names_is_refused_clearly(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    names = ",".join(f"user{i}" for i in range(MAX_RECIPIENTS + 1))
    refused = client.post(
        f"{API}/files",
        query_string={"share_with": names},
        data=b"x",
        content_type="application/octet-stream",
        headers={"X-File-Name": "x.txt", "Authorization": f"Bearer {alice.token}"},
    )
    assert refused.status_code == 422
    assert refused.get_json()["type"] == PROBLEM + "too-many-recipients"
    assert str(MAX_RECIPIENTS) in refused.get_json()["detail"]


def test_an_admin_cannot_read_a_users_file(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    meta = upload(client, alice, b"private")
    boss = make_admin(app)
    assert download(client, boss, meta["id"]).status_code == 404
    assert call(app, "GET", f"/files/{meta['id']}", boss).status_code == 404
    assert call(app, "GET", f"/files/{meta['id']}/grants", boss).status_code == 404
    denied = [e for e in entries_about(app, meta["id"]) if e.tag == "access:denied"]
    assert [d.details["reason"] for d in denied] == ["admin without a grant"] * 3


def test_a_token_without_files_read_cannot_download_a_shared_file(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    meta = upload(client, alice, b"x")
    share(app, alice, meta["id"], bob.username)
    made = call(app, "POST", "/me/tokens", bob, json={"name": "ci", "scopes": ["files:write"]})
    assert made.status_code == 201, made.get_json()
    token = made.get_json()["token"]
    refused = app.test_client().get(
        f"{API}/files/{meta['id']}/content", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403
    denied = [e for e in entries_about(app, meta["id"]) if e.tag == "access:denied"]
    assert [(d.actor, d.details["reason"]) for d in denied] == [
        (f"user:{bob.user['id']}", "token lacks the files:read scope")
    ]
    assert denied[0].details["action"] == "files:file:download"


def test_a_recipient_can_drop_a_share_from_their_list(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    meta = upload(client, alice, b"x")
    share(app, alice, meta["id"], bob.username)
    assert call(app, "DELETE", f"/shared/{meta['id']}", bob).status_code == 204
    assert call(app, "GET", "/shared", bob).get_json()["total"] == 0
    assert download(client, bob, meta["id"]).status_code == 404
    assert call(app, "DELETE", f"/shared/{meta['id']}", bob).status_code == 404
    assert "grant:decline" in [e.tag for e in entries_about(app, meta["id"])]


def test_shared_with_me_is_paged(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    ids = [upload(client, alice, b"x", f"f{i}.txt")["id"] for i in range(5)]
    for file_id in ids:
        share(app, alice, file_id, bob.username)
    first = call(app, "GET", "/shared?limit=2", bob).get_json()
    rest = call(app, "GET", "/shared?limit=10&offset=2", bob).get_json()
    assert first["total"] == rest["total"] == 5
    seen = [i["file"]["id"] for i in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(ids)


def test_deleting_the_file_or_the_grantee_removes_the_grants(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn, carol: SignedIn
) -> None:
    first = upload(client, alice, b"one")
    second = upload(client, alice, b"two")
    share(app, alice, first["id"], bob.username)
    share(app, alice, second["id"], carol.username)
    assert call(app, "DELETE", f"/files/{first['id']}", alice).status_code == 204
    assert grants_in_db(app, first["id"]) == []
    boss = make_admin(app)
    gone = call(app, "DELETE", f"/admin/users/{carol.user['id']}", boss)
    assert gone.status_code in {200, 204}, gone.get_json()
    assert grants_in_db(app, second["id"]) == []


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"name": "x.txt"}),
        ("DELETE", "", None),
        ("GET", "/content", None),
        ("GET", "/grants", None),
        ("POST", "/grants", {"username": "someone"}),
    ],
)
def test_other_users_cannot_tell_a_file_exists(
    app: APIFlask,
    client: FlaskClient,
    alice: SignedIn,
    carol: SignedIn,
    method: str,
    suffix: str,
    body: dict[str, str] | None,
) -> None:
    meta = upload(client, alice, b"x")
    real = call(app, method, f"/files/{meta['id']}{suffix}", carol, json=body)
    invented = call(app, method, f"/files/AAAAAAAAAAAAAAAAAAAAAAAA{suffix}", carol, json=body)
    assert real.status_code == invented.status_code == 404
    assert real.get_json() == {**invented.get_json(), "instance": real.get_json()["instance"]} or (
        real.get_json()["type"] == invented.get_json()["type"]
    )


def test_revoking_during_a_download_lets_it_finish_and_refuses_the_next(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    # Authorization happens when a request starts; a transfer under way completes (it
    # holds no lock that would block the revocation), and the next request is refused.
    data = random_bytes(3 * 1024 * 1024 + 5)
    meta = upload(client, alice, data)
    grant = share(app, alice, meta["id"], bob.username).get_json()
    streaming = download(client, bob, meta["id"])
    assert streaming.status_code == 200
    pieces = iter(streaming.response)
    received = bytearray(next(pieces))
    assert len(received) < len(data)
    revoked = call(app, "DELETE", f"/files/{meta['id']}/grants/{grant['id']}", alice)
    assert revoked.status_code == 204
    for piece in pieces:
        received += piece
    streaming.close()
    assert bytes(received) == data
    assert download(client, bob, meta["id"]).status_code == 404
