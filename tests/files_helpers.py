"""Helpers for the file tests: upload through the API, read blobs behind its back."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from apiflask import APIFlask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from strongroom.context import get_database
from strongroom.files.deps import FileDeps
from strongroom.files.models import StoredFile
from tests.auth_helpers import SignedIn

API = "/api/v1"


def file_deps(app: APIFlask) -> FileDeps:
    deps: FileDeps = app.extensions["strongroom.files"]
    return deps


def upload_raw(
    client: FlaskClient, data: bytes, name: str = "notes.txt", **headers: str
) -> TestResponse:
    """Upload ``data`` as a raw body (the client's session or ``headers`` authenticate);
    a non-ASCII name goes in the header's RFC 8187 form."""
    if not name.isascii():
        name = "UTF-8''" + quote(name, safe="")
    return client.post(
        f"{API}/files",
        data=data,
        content_type="application/octet-stream",
        headers={"X-File-Name": name, **headers},
    )


def upload(
    client: FlaskClient, who: SignedIn, data: bytes, name: str = "notes.txt"
) -> dict[str, Any]:
    response = upload_raw(client, data, name, Authorization=f"Bearer {who.token}")
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def download(client: FlaskClient, who: SignedIn, file_id: str, **headers: str) -> TestResponse:
    return client.get(
        f"{API}/files/{file_id}/content",
        headers={"Authorization": f"Bearer {who.token}", **headers},
    )


def blob_keys(app: APIFlask) -> set[str]:
    return {info.key for info in file_deps(app).store.list()}


def row_of(app: APIFlask, file_id: str) -> StoredFile | None:
    with app.app_context(), get_database().session(write=False) as db:
        return db.get(StoredFile, file_id)


def random_bytes(size: int) -> bytes:
    return secrets.token_bytes(size)
