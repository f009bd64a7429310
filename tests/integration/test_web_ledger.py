"""The file history page and the ledger explorer, from a browser without JavaScript:
who may see what (as the API decides), every event listed, and the data the page's
scripts verify."""

from __future__ import annotations

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from tests.auth_helpers import STRONG_PASSWORD, SignedIn
from tests.files_helpers import download, upload
from tests.integration.test_web_pages import sign_in_page


@pytest.fixture
def app(clocked_app: APIFlask) -> APIFlask:
    return clocked_app


def signed_in(app: APIFlask, who: SignedIn) -> FlaskClient:
    browser = app.test_client()
    assert sign_in_page(browser, who.username, STRONG_PASSWORD).status_code == 303
    return browser


def test_the_owner_sees_every_event_of_the_file(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    stored = upload(client, alice, b"hello", "report.pdf")
    download(client, alice, stored["id"])
    page = signed_in(app, alice).get(f"/files/{stored['id']}/history")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "report.pdf" in html
    assert "file:upload" in html
    assert "file:download" in html


def test_someone_else_gets_not_found(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    stored = upload(client, alice, b"hello", "report.pdf")
    page = signed_in(app, bob).get(f"/files/{stored['id']}/history")
    assert page.status_code == 404
    assert "report.pdf" not in page.get_data(as_text=True)
