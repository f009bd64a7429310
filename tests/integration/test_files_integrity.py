"""Damaged blobs, wrong master keys and hostile names: downloads fail closed, the
damage is logged and ledgered, and corrupted plaintext is never sent."""

from __future__ import annotations

import base64
import secrets
import unicodedata
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from strongroom.crypto.format import HEADER_SIZE, TAG_SIZE
from strongroom.files.exceptions import FileCorrupted
from strongroom.storage.interfaces import BlobReader
from tests.auth_helpers import SignedIn
from tests.conftest import AppFactory
from tests.files_helpers import (
    API,
    blob_keys,
    download,
    file_deps,
    random_bytes,
    row_of,
    upload,
)
from tests.integration.test_files_api import PROBLEM, SEGMENT, entries_about


@pytest.fixture
def app(make_app: AppFactory) -> APIFlask:
    return make_app(file_segment_size=SEGMENT)


def rewrite_blob(app: APIFlask, file_id: str, change: object) -> None:
    """Replace the file's blob with ``change(old_bytes)`` behind the app's back."""
    row = row_of(app, file_id)
    assert row is not None
    store = file_deps(app).store
    old = b"".join(store.open(row.blob_key))
    with store.create(row.blob_key) as writer:
        writer.write(change(old))  # type: ignore[operator]
        writer.commit()


def drain(response: Any, received: bytearray) -> None:
    """Read a streamed body into ``received`` until it ends or raises."""
    for piece in response.response:
        received += piece


def flip(offset: int) -> object:
    def change(data: bytes) -> bytes:
        damaged = bytearray(data)
        damaged[offset] ^= 0x01
        return bytes(damaged)

    return change


def test_damage_in_the_first_segment_is_an_error_response(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    meta = upload(client, alice, random_bytes(3 * SEGMENT))
    rewrite_blob(app, meta["id"], flip(HEADER_SIZE + 10))
    response = download(client, alice, meta["id"])
    assert response.status_code == 500
    assert response.get_json()["type"] == PROBLEM + "file-corrupted"
    damage = [e for e in entries_about(app, meta["id"]) if e.tag == "file:corrupt"]
    assert len(damage) == 1
    assert damage[0].details["during"] == "download"
    assert "SegmentAuthError" in damage[0].details["reason"]


def test_damage_further_in_stops_the_stream_after_only_verified_bytes(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    data = random_bytes(1000 * SEGMENT)  # several 1 MiB output pieces before the damage
    meta = upload(client, alice, data)
    segment = SEGMENT + TAG_SIZE
    rewrite_blob(app, meta["id"], flip(HEADER_SIZE + 700 * segment + 7))
    response = download(client, alice, meta["id"])
    assert response.status_code == 200  # the first pieces were fine
    received = bytearray()
    with pytest.raises(FileCorrupted):
        drain(response, received)
    assert 0 < len(received) <= 700 * SEGMENT
    assert bytes(received) == data[: len(received)]
    assert [e.tag for e in entries_about(app, meta["id"])][-1] == "file:corrupt"


class TrackedReader:
    """A blob reader that remembers whether it was closed."""

    def __init__(self, inner: BlobReader) -> None:
        self.inner = inner
        self.closed = False

    def __iter__(self) -> TrackedReader:
        return self

    def __next__(self) -> bytes:
        return next(self.inner)

    def close(self) -> None:
        self.closed = True
        self.inner.close()


@pytest.fixture
def readers(app: APIFlask, monkeypatch: pytest.MonkeyPatch) -> list[TrackedReader]:
    """Every reader the app's blob store opens from now on."""
    store = file_deps(app).store
    real_open = store.open
    opened: list[TrackedReader] = []

    def tracking_open(key: str, *, start: int = 0, end: int | None = None) -> TrackedReader:
        reader = TrackedReader(real_open(key, start=start, end=end))
        opened.append(reader)
        return reader

    monkeypatch.setattr(store, "open", tracking_open)
    return opened


@pytest.mark.parametrize(
    "range_header",
    [None, f"bytes=0-{1000 * SEGMENT - 1}"],
    ids=["whole", "range"],
)
def test_a_download_stopped_by_damage_closes_its_blob_readers_at_once(
    app: APIFlask,
    client: FlaskClient,
    alice: SignedIn,
    readers: list[TrackedReader],
    range_header: str | None,
) -> None:
    # Not left to the garbage collector: an S3 reader holds a connection, and one
    # collected late is a leaked socket for as long as the exception is referenced.
    meta = upload(client, alice, random_bytes(1000 * SEGMENT))
    rewrite_blob(app, meta["id"], flip(HEADER_SIZE + 700 * (SEGMENT + TAG_SIZE) + 7))
    readers.clear()
    headers = {} if range_header is None else {"Range": range_header}
    response = download(client, alice, meta["id"], **headers)
    assert response.status_code in {200, 206}
    with pytest.raises(FileCorrupted):
        drain(response, bytearray())
    assert readers
    assert all(reader.closed for reader in readers)


def test_an_abandoned_download_closes_its_blob_readers(
    app: APIFlask, client: FlaskClient, alice: SignedIn, readers: list[TrackedReader]
) -> None:
    meta = upload(client, alice, random_bytes(1000 * SEGMENT))
    response = download(client, alice, meta["id"])
    assert response.status_code == 200
    first = next(iter(response.response))
    assert first
    response.close()  # the client went away after the first piece
    assert readers
    assert all(reader.closed for reader in readers)


@pytest.mark.parametrize(
    ("change", "label"),
    [
        (lambda data: data[:-10], "truncated inside the last segment"),
        (lambda data: data[: HEADER_SIZE + SEGMENT + TAG_SIZE], "cut at a segment boundary"),
        (lambda data: data + b"\x00" * 16, "trailing bytes"),
        (lambda data: data[:HEADER_SIZE], "header only"),
        (lambda data: b"", "empty"),
        (lambda data: b"PK\x03\x04" + data[4:], "magic replaced"),
    ],
)
def test_truncated_or_extended_blobs_fail_closed(
    app: APIFlask, client: FlaskClient, alice: SignedIn, change: object, label: str
) -> None:
    data = random_bytes(2 * SEGMENT + 5)
    meta = upload(client, alice, data)
    rewrite_blob(app, meta["id"], change)
    response = download(client, alice, meta["id"])
    received = bytearray()
    if response.status_code == 200:
        with pytest.raises(FileCorrupted):
            drain(response, received)
    else:
        assert response.status_code == 500, label
        assert response.get_json()["type"] == PROBLEM + "file-corrupted", label
    assert bytes(received) == data[: len(received)], label
    assert len(received) < len(data), label


def test_a_missing_blob_is_reported(app: APIFlask, client: FlaskClient, alice: SignedIn) -> None:
    meta = upload(client, alice, b"soon gone")
    row = row_of(app, meta["id"])
    assert row is not None
    file_deps(app).store.delete(row.blob_key)
    response = download(client, alice, meta["id"])
    assert response.status_code == 500
    assert response.get_json()["type"] == PROBLEM + "file-corrupted"


def test_a_damaged_range_fails_before_anything_is_sent(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    meta = upload(client, alice, random_bytes(4 * SEGMENT))
    rewrite_blob(app, meta["id"], flip(HEADER_SIZE + 2 * (SEGMENT + TAG_SIZE) + 1))
    fine = download(client, alice, meta["id"], Range=f"bytes=0-{SEGMENT - 1}")
    assert fine.status_code == 206
    damaged = download(client, alice, meta["id"], Range=f"bytes={2 * SEGMENT}-{2 * SEGMENT + 9}")
    assert damaged.status_code == 500
    assert damaged.get_json()["type"] == PROBLEM + "file-corrupted"


def other_keys(version: str = "1") -> str:
    return f"{version}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (other_keys("1"), "does not open with the configured master key"),
        (other_keys("2"), "Master key version 1 is not configured"),
    ],
)
def test_a_wrong_or_missing_master_key_is_a_clear_error(
    make_app: AppFactory,
    app: APIFlask,
    client: FlaskClient,
    alice: SignedIn,
    keys: str,
    message: str,
) -> None:
    data = random_bytes(1000)
    meta = upload(client, alice, data)
    wrong = make_app(file_segment_size=SEGMENT, master_keys=keys).test_client()
    response = download(wrong, alice, meta["id"])
    assert response.status_code == 500
    body = response.get_json()
    assert body["type"] == PROBLEM + "key-unavailable"
    assert message in body["detail"]
    assert download(client, alice, meta["id"]).get_data() == data  # the right key still works


BAD_NAMES = {
    "nul": "a\x00b.txt",
    "newline": "report\n.txt",
    "escape": "\x1b[31mred.txt",
    "dot-dot": "..",
    "dot": ".",
    "empty": "",
    "whitespace only": "   ",
    "1,000 characters": "a" * 996 + ".txt",
    "trailing slash": "folder/",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_unusable_names_are_refused_before_anything_is_stored(
    app: APIFlask, client: FlaskClient, alice: SignedIn, name: str
) -> None:
    response = client.post(
        f"{API}/files",
        query_string={"name": name},
        data=b"data",
        content_type="application/octet-stream",
        headers=alice.bearer,
    )
    assert response.status_code in {400, 422}, response.get_json()
    assert response.get_json()["type"] in {
        PROBLEM + "invalid-file-name",
        PROBLEM + "validation-failed",
        PROBLEM + "bad-upload",
    }
    assert blob_keys(app) == set()


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\eve\\report.pdf", "report.pdf"),
        ("invoice\u202etxt.exe", "invoicetxt.exe"),
        (unicodedata.normalize("NFD", "caf\u00e9.txt"), "caf\u00e9.txt"),
        ("  spaced name.txt  ", "spaced name.txt"),
    ],
)
def test_names_are_cleaned_and_the_original_kept(
    client: FlaskClient, alice: SignedIn, sent: str, kept: str
) -> None:
    response = client.post(
        f"{API}/files",
        query_string={"name": sent},
        data=b"data",
        content_type="application/octet-stream",
        headers=alice.bearer,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == kept
    assert body["original_name"] == sent
    disposition = download(client, alice, body["id"]).headers["Content-Disposition"]
    assert "\n" not in disposition
    assert "/" not in disposition.split(";", 1)[1]


def test_names_equal_after_normalisation_are_found_by_either(
    client: FlaskClient, alice: SignedIn
) -> None:
    nfd = unicodedata.normalize("NFD", "Caf\u00e9 menu.txt")
    upload(client, alice, b"x", nfd)
    found = client.get(f"{API}/files", query_string={"q": "caf\u00e9"}, headers=alice.bearer)
    assert [f["name"] for f in found.get_json()["items"]] == ["Caf\u00e9 menu.txt"]


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + b"\x00" * 64


@pytest.mark.parametrize(
    ("name", "data", "content_type", "inline"),
    [
        ("picture.txt", PNG, "image/png", True),
        ("page.png", b"<html><script>alert(1)</script></html>", "text/plain", True),
        ("page.html", b"<html><body>hi</body></html>", "text/plain", True),
        ("doc.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf", False),
        ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "text/plain", True),
        ("blob.bin", bytes(range(256)), "application/octet-stream", False),
    ],
)
def test_content_type_comes_from_the_content(
    client: FlaskClient, alice: SignedIn, name: str, data: bytes, content_type: str, inline: bool
) -> None:
    meta = upload(client, alice, data, name)
    assert meta["content_type"].split(";")[0] == content_type
    response = client.get(
        f"{API}/files/{meta['id']}/content?disposition=inline", headers=alice.bearer
    )
    assert response.mimetype == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline" if inline else "attachment")
    plain = download(client, alice, meta["id"])
    assert plain.headers["Content-Disposition"].startswith("attachment")


def test_an_empty_file(client: FlaskClient, alice: SignedIn) -> None:
    meta = upload(client, alice, b"", "empty.txt")
    assert meta["size"] == 0
    response = download(client, alice, meta["id"])
    assert response.status_code == 200
    assert response.get_data() == b""
    assert download(client, alice, meta["id"], Range="bytes=0-0").status_code == 416
