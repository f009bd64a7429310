"""The files API end to end: upload (raw and multipart), download (whole and ranges),
list, rename, delete, usage and quota, on the run's database and blob store."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from strongroom.context import get_database
from strongroom.files import storing
from strongroom.ledger.models import LedgerEntry
from tests.auth_helpers import SignedIn, make_admin, new_account
from tests.conftest import AppFactory
from tests.files_helpers import (
    API,
    blob_keys,
    download,
    random_bytes,
    row_of,
    upload,
    upload_raw,
)

SEGMENT = 4096
PROBLEM = "urn:strongroom:problem:"


@pytest.fixture
def app(make_app: AppFactory) -> APIFlask:
    return make_app(file_segment_size=SEGMENT)


def entries_about(app: APIFlask, file_id: str) -> list[LedgerEntry]:
    with app.app_context(), get_database().session(write=False) as db:
        return list(
            db.query(LedgerEntry).filter_by(target=f"file:{file_id}").order_by(LedgerEntry.index)
        )


@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 17]
)
def test_round_trip_at_segment_boundaries(
    app: APIFlask, client: FlaskClient, alice: SignedIn, size: int
) -> None:
    data = random_bytes(size)
    meta = upload(client, alice, data, "data.bin")
    assert meta["size"] == size
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    response = download(client, alice, meta["id"])
    assert response.status_code == 200
    assert response.get_data() == data
    assert response.headers["Content-Length"] == str(size)
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert response.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["ETag"].startswith('"')
    row = row_of(app, meta["id"])
    assert row is not None
    assert row.blob_key in blob_keys(app)
    assert data[:64] not in _raw_blob(app, row.blob_key) or size < 16  # stored encrypted


def _raw_blob(app: APIFlask, key: str) -> bytes:
    return b"".join(app.extensions["strongroom.files"].store.open(key))


def test_upload_answers_metadata_and_location(client: FlaskClient, alice: SignedIn) -> None:
    response = upload_raw(client, b"hello", "hello.txt", Authorization=f"Bearer {alice.token}")
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/files/{body['id']}")
    assert body["name"] == "hello.txt"
    assert body["owner"] == alice.username
    assert body["content_type"].startswith("text/plain")
    assert len(body["id"]) == 24
    again = client.get(f"{API}/files/{body['id']}", headers=alice.bearer)
    assert again.get_json() == body


def test_name_in_the_query_string(client: FlaskClient, alice: SignedIn) -> None:
    response = client.post(
        f"{API}/files?name=q.txt",
        data=b"x",
        headers=alice.bearer,
        content_type="application/octet-stream",
    )
    assert response.status_code == 201
    assert response.get_json()["name"] == "q.txt"


def test_raw_upload_without_a_name_is_refused(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    response = client.post(
        f"{API}/files", data=b"x", headers=alice.bearer, content_type="application/octet-stream"
    )
    assert response.status_code == 400
    assert response.get_json()["type"] == PROBLEM + "bad-upload"
    assert blob_keys(app) == set()


def multipart(fields: list[tuple[str, object]]) -> tuple[bytes, str]:
    boundary = "----strongroomtest"
    out = io.BytesIO()
    for name, value in fields:
        out.write(f"--{boundary}\r\n".encode())
        if isinstance(value, tuple):
            filename, data = value
            out.write(
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n".encode()
            )
            out.write(data)
        else:
            out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode())
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def test_browser_form_upload_with_the_csrf_field(client: FlaskClient, alice: SignedIn) -> None:
    data = random_bytes(3 * SEGMENT + 5)
    body, content_type = multipart(
        [("csrf_token", alice.csrf_token), ("file", ("R\u00e9sum\u00e9.pdf", data))]
    )
    response = client.post(f"{API}/files", data=body, content_type=content_type)
    assert response.status_code == 201, response.get_json()
    meta = response.get_json()
    assert meta["name"] == "R\u00e9sum\u00e9.pdf"
    assert client.get(f"{API}/files/{meta['id']}/content").get_data() == data


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param([("file", ("a.txt", b"abc"))], id="no token"),
        pytest.param([("csrf_token", "nope"), ("file", ("a.txt", b"abc"))], id="wrong token"),
        pytest.param([("file", ("a.txt", b"abc")), ("csrf_token", "x")], id="token after file"),
    ],
)
def test_browser_form_without_a_valid_csrf_field_stores_nothing(
    app: APIFlask, client: FlaskClient, alice: SignedIn, fields: list[tuple[str, object]]
) -> None:
    if fields[-1][0] == "csrf_token":
        fields = [fields[0], ("csrf_token", alice.csrf_token)]
    body, content_type = multipart(fields)
    response = client.post(f"{API}/files", data=body, content_type=content_type)
    assert response.status_code == 403
    assert response.get_json()["type"] == PROBLEM + "csrf-failed"
    assert client.get(f"{API}/files").get_json()["total"] == 0
    assert blob_keys(app) == set()


@pytest.mark.parametrize(
    "media_type",
    ["Multipart/Form-Data", "MULTIPART/FORM-DATA", "multipart/Form-data"],
)
def test_a_form_whose_media_type_has_other_capitals_still_needs_the_csrf_field(
    app: APIFlask, client: FlaskClient, alice: SignedIn, media_type: str
) -> None:
    # Media types are case-insensitive; a browser sends these without a preflight. A
    # cookie-session upload must not slip past CSRF by looking like a raw body.
    body, content_type = multipart([("file", ("a.txt", b"abc"))])
    response = client.post(
        f"{API}/files?name=forged.txt",
        data=body,
        content_type=content_type.replace("multipart/form-data", media_type),
    )
    assert response.status_code == 403
    assert response.get_json()["type"] == PROBLEM + "csrf-failed"
    assert client.get(f"{API}/files").get_json()["total"] == 0
    assert blob_keys(app) == set()


def test_a_commit_that_raises_after_succeeding_keeps_the_blob(
    app: APIFlask, client: FlaskClient, alice: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The connection drops after COMMIT reached the server: the row is there, so its
    # blob must not be discarded (a committed file without content).
    real_record = storing.record_upload

    def record_then_lose_the_answer(db: Any, *args: Any, **kwargs: Any) -> Any:
        real_record(db, *args, **kwargs)
        db.commit()
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(storing, "record_upload", record_then_lose_the_answer)
    data = random_bytes(1000)
    response = upload_raw(client, data, Authorization=f"Bearer {alice.token}")
    assert response.status_code in {500, 503}
    monkeypatch.undo()
    listed = client.get(f"{API}/files", headers=alice.bearer).get_json()
    assert listed["total"] == 1
    file_id = listed["items"][0]["id"]
    assert download(client, alice, file_id).get_data() == data


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ([("other", "x")], "no file part"),
        ([("file", ("a.txt", b"a")), ("file", ("b.txt", b"b"))], "two files"),
        ([("comment", "hello"), ("file", ("a.txt", b"a"))], "unknown field"),
        ([("upload", ("a.txt", b"a"))], "file part under another name"),
    ],
)
def test_malformed_forms_are_refused(
    app: APIFlask,
    client: FlaskClient,
    alice: SignedIn,
    fields: list[tuple[str, object]],
    reason: str,
) -> None:
    body, content_type = multipart(fields)
    response = client.post(
        f"{API}/files", data=body, content_type=content_type, headers=alice.bearer
    )
    assert response.status_code == 400, reason
    assert response.get_json()["type"] == PROBLEM + "bad-upload", reason
    assert blob_keys(app) == set(), reason


def test_a_truncated_multipart_body_stores_nothing(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    body, content_type = multipart([("file", ("a.txt", random_bytes(10_000)))])
    response = client.post(
        f"{API}/files", data=body[:5000], content_type=content_type, headers=alice.bearer
    )
    assert response.status_code == 400
    assert blob_keys(app) == set()


@pytest.mark.parametrize(
    ("header", "status", "expected"),
    [
        ("bytes=0-0", 206, slice(0, 1)),
        ("bytes=0-", 206, slice(0, None)),
        ("bytes=4090-4200", 206, slice(4090, 4201)),
        ("bytes=-5", 206, slice(-5, None)),
        ("bytes=8191-8192", 206, slice(8191, 8193)),
        ("bytes=100-99999999", 206, slice(100, None)),
        ("bytes=0-1,5-6", 200, slice(0, None)),  # several ranges: the whole file
        ("items=0-1", 200, slice(0, None)),
    ],
)
def test_ranges(
    client: FlaskClient, alice: SignedIn, header: str, status: int, expected: slice
) -> None:
    data = random_bytes(3 * SEGMENT + 100)
    meta = upload(client, alice, data)
    response = download(client, alice, meta["id"], Range=header)
    assert response.status_code == status
    assert response.get_data() == data[expected]
    assert response.headers["Content-Length"] == str(len(data[expected]))
    if status == 206:
        start = expected.start if expected.start >= 0 else len(data) + expected.start
        end = start + len(data[expected]) - 1
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"


def test_unsatisfiable_range_is_416(client: FlaskClient, alice: SignedIn) -> None:
    meta = upload(client, alice, b"0123456789")
    response = download(client, alice, meta["id"], Range="bytes=10-20")
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */10"
    assert response.mimetype == "application/problem+json"


def test_if_range_with_another_etag_sends_the_whole_file(
    client: FlaskClient, alice: SignedIn
) -> None:
    data = random_bytes(100)
    meta = upload(client, alice, data)
    etag = download(client, alice, meta["id"]).headers["ETag"]
    same = download(client, alice, meta["id"], Range="bytes=0-9", **{"If-Range": etag})
    assert same.status_code == 206
    other = download(client, alice, meta["id"], Range="bytes=0-9", **{"If-Range": '"other"'})
    assert other.status_code == 200
    assert other.get_data() == data


def test_list_sort_filter_and_page(client: FlaskClient, alice: SignedIn) -> None:
    for name, size in (("b.txt", 3), ("A.txt", 1), ("c-report.txt", 2), ("report-2.txt", 4)):
        upload(client, alice, b"x" * size, name)

    def names(query: str) -> list[str]:
        page = client.get(f"{API}/files?{query}", headers=alice.bearer).get_json()
        return [f["name"] for f in page["items"]]

    assert names("sort=name") == ["A.txt", "b.txt", "c-report.txt", "report-2.txt"]
    assert names("sort=-size") == ["report-2.txt", "b.txt", "c-report.txt", "A.txt"]
    assert names("sort=name&q=REPORT") == ["c-report.txt", "report-2.txt"]
    assert names("sort=name&offset=1&limit=2") == ["b.txt", "c-report.txt"]
    assert names("q=%25") == []  # a LIKE wildcard is taken literally
    page = client.get(f"{API}/files?limit=1", headers=alice.bearer).get_json()
    assert page["total"] == 4
    assert len(page["items"]) == 1
    bad = client.get(f"{API}/files?limit=100000", headers=alice.bearer)
    assert bad.status_code == 422


def test_rename_and_delete(app: APIFlask, client: FlaskClient, alice: SignedIn) -> None:
    meta = upload(client, alice, b"content", "old.txt")
    renamed = client.patch(
        f"{API}/files/{meta['id']}", json={"name": "dir/new.txt"}, headers=alice.bearer
    )
    assert renamed.status_code == 200
    assert renamed.get_json()["name"] == "new.txt"
    blob = row_of(app, meta["id"]).blob_key  # type: ignore[union-attr]
    gone = client.delete(f"{API}/files/{meta['id']}", headers=alice.bearer)
    assert gone.status_code == 204
    assert client.get(f"{API}/files/{meta['id']}", headers=alice.bearer).status_code == 404
    assert download(client, alice, meta["id"]).status_code == 404
    assert client.delete(f"{API}/files/{meta['id']}", headers=alice.bearer).status_code == 404
    assert blob not in blob_keys(app)
    tags = [e.tag for e in entries_about(app, meta["id"])]
    assert tags[:2] == ["file:upload", "file:rename"]
    # The three attempts after the delete are refused, and each refusal is ledgered.
    assert tags[-4:] == ["file:delete", "access:denied", "access:denied", "access:denied"]


def test_the_ledger_commits_to_the_content(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    data = random_bytes(5000)
    meta = upload(client, alice, data)
    download(client, alice, meta["id"], Range="bytes=0-9")
    download(client, alice, meta["id"])
    entries = entries_about(app, meta["id"])
    assert [e.tag for e in entries] == ["file:upload", "file:download", "file:download"]
    upload_entry = entries[0]
    assert upload_entry.index == meta["upload_entry"]
    row = row_of(app, meta["id"])
    assert row is not None
    assert upload_entry.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert upload_entry.details["ciphertext_sha256"] == row.ciphertext_sha256.hex()
    assert upload_entry.details["size"] == 5000
    assert upload_entry.details["key_version"] == row.key_version
    assert upload_entry.actor == f"user:{alice.user['id']}"
    assert entries[1].details["range"] == "0-9"


def test_other_users_and_admins_cannot_tell_a_file_exists(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    meta = upload(client, alice, b"secret")
    bob = new_account(app.test_client(), "bob")
    admin = make_admin(app)
    for intruder in (bob, admin):
        other = app.test_client()
        headers = intruder.bearer
        path = f"{API}/files/{meta['id']}"
        assert other.get(path, headers=headers).status_code == 404
        assert other.get(f"{path}/content", headers=headers).status_code == 404
        assert other.patch(path, json={"name": "x"}, headers=headers).status_code == 404
        assert other.delete(path, headers=headers).status_code == 404
        assert other.get(f"{API}/files", headers=headers).get_json()["total"] == 0
    assert download(client, alice, meta["id"]).get_data() == b"secret"


def test_token_scopes(app: APIFlask, client: FlaskClient, alice: SignedIn) -> None:
    def token(scopes: list[str]) -> dict[str, str]:
        made = client.post(
            f"{API}/me/tokens",
            json={"name": "t", "scopes": scopes},
            headers={"X-CSRF-Token": alice.csrf_token},
        )
        return {"Authorization": f"Bearer {made.get_json()['token']}"}

    reader, writer = token(["files:read"]), token(["files:write"])
    meta = upload(client, alice, b"data")
    other = app.test_client()
    assert upload_raw(other, b"x", **reader).status_code == 403
    assert other.get(f"{API}/files/{meta['id']}/content", headers=reader).get_data() == b"data"
    assert upload_raw(other, b"x", **writer).status_code == 201
    assert other.get(f"{API}/files/{meta['id']}/content", headers=writer).status_code == 403


def test_usage_and_quota(make_app: AppFactory) -> None:
    app = make_app(user_quota=10_000, file_segment_size=SEGMENT)
    client = app.test_client()
    alice = new_account(client, "quota")
    upload(client, alice, random_bytes(8_000))
    refused = upload_raw(client, random_bytes(4_000), Authorization=f"Bearer {alice.token}")
    assert refused.status_code == 507
    assert refused.get_json()["type"] == PROBLEM + "quota-exceeded"
    usage = client.get(f"{API}/storage/usage", headers=alice.bearer).get_json()
    assert usage == {"bytes": 8_000, "files": 1, "quota": 10_000, "available": 2_000}
    assert len(blob_keys(app)) == 1
    assert (
        upload_raw(client, random_bytes(2_000), Authorization=f"Bearer {alice.token}").status_code
        == 201
    )


def test_max_upload_size(make_app: AppFactory) -> None:
    app = make_app(max_upload_size=5_000, file_segment_size=SEGMENT)
    client = app.test_client()
    alice = new_account(client, "max")
    declared = upload_raw(client, random_bytes(5_001), Authorization=f"Bearer {alice.token}")
    assert declared.status_code == 413
    # Sent without a length (chunked): refused while streaming.
    chunked = client.post(
        f"{API}/files",
        input_stream=io.BytesIO(random_bytes(9_000)),
        headers={
            **alice.bearer,
            "X-File-Name": "big.bin",
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/octet-stream",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )  # as gunicorn does
    assert chunked.status_code == 413
    assert blob_keys(app) == set()
    assert (
        upload_raw(client, random_bytes(5_000), Authorization=f"Bearer {alice.token}").status_code
        == 201
    )


def test_a_client_that_goes_away_mid_upload_leaves_nothing(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    response = client.post(
        f"{API}/files",
        input_stream=io.BytesIO(random_bytes(10_000)),
        headers={
            **alice.bearer,
            "X-File-Name": "cut.bin",
            "Content-Type": "application/octet-stream",
        },
        environ_overrides={"CONTENT_LENGTH": "50000"},
    )  # 40 kB never come
    assert response.status_code == 400
    assert response.get_json()["type"] == PROBLEM + "upload-incomplete"
    assert blob_keys(app) == set()
    assert client.get(f"{API}/files", headers=alice.bearer).get_json()["total"] == 0


def test_admin_storage_overview(app: APIFlask, client: FlaskClient, alice: SignedIn) -> None:
    upload(client, alice, b"12345")
    admin = make_admin(app)
    body = app.test_client().get(f"{API}/admin/storage", headers=admin.bearer).get_json()
    assert {"user_id": alice.user["id"], "username": alice.username, "bytes": 5, "files": 1} in (
        body["users"]
    )
    assert body["current_key_version"] == "1"
    assert body["key_versions"] == [{"version": "1", "files": body["total_files"]}]


def test_readiness_probes_the_blob_store(client: FlaskClient) -> None:
    body = client.get("/readyz").get_json()
    assert body["checks"]["blob_store"]["ok"] is True


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "R\u00e9sum\u00e9 \u65e5\u672c.pdf".encode().decode("latin-1"),
            "R\u00e9sum\u00e9 \u65e5\u672c.pdf",
        ),
        ("UTF-8''R%C3%A9sum%C3%A9%20%E6%97%A5%E6%9C%AC.pdf", "R\u00e9sum\u00e9 \u65e5\u672c.pdf"),
        ("plain.txt", "plain.txt"),
    ],
)
def test_the_name_header_takes_utf8(
    client: FlaskClient, alice: SignedIn, header: str, expected: str
) -> None:
    response = client.post(
        f"{API}/files",
        data=b"x",
        content_type="application/octet-stream",
        headers={**alice.bearer, "X-File-Name": header},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == expected


@pytest.mark.parametrize("header", ["caf\u00e9.txt", "UTF-8''%FF.txt"])
def test_a_name_header_that_is_not_utf8_is_refused(
    app: APIFlask, client: FlaskClient, alice: SignedIn, header: str
) -> None:
    response = client.post(
        f"{API}/files",
        data=b"x",
        content_type="application/octet-stream",
        headers={**alice.bearer, "X-File-Name": header},
    )
    assert response.status_code == 400
    assert "?name=" in response.get_json()["detail"]
    assert blob_keys(app) == set()


def test_head_gives_the_headers_without_reading_or_ledgering(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    data = random_bytes(3000)
    meta = upload(client, alice, data)
    response = client.head(f"{API}/files/{meta['id']}/content", headers=alice.bearer)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "3000"
    assert response.get_data() == b""
    assert [e.tag for e in entries_about(app, meta["id"])] == ["file:upload"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"caf\xe9 au lait, 8-bit text\n" * 4, "text/plain"),
        ("caf\u00e9 UTF-8 text\n".encode() * 4, "text/plain; charset=utf-8"),
        ("\ufeffUTF-16 text\n".encode("utf-16-le") * 4, "text/plain; charset=utf-16"),
    ],
    ids=["8-bit", "utf-8", "utf-16"],
)
def test_a_download_is_labelled_with_the_detected_charset_only(
    client: FlaskClient, alice: SignedIn, data: bytes, expected: str
) -> None:
    meta = upload(client, alice, data, "notes.txt")
    response = download(client, alice, meta["id"])
    assert response.headers["Content-Type"] == meta["content_type"] == expected
    assert response.get_data() == data
