"""The file history page and the ledger explorer, from a browser without JavaScript:
who may see what (as the API decides), every event listed in words, the hint that
checking needs JavaScript, and the data the pages' scripts verify."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from strongroom.context import get_database
from strongroom.ledger import services
from strongroom.ledger.models import LedgerEntry
from tests.auth_helpers import STRONG_PASSWORD, SignedIn, make_admin
from tests.files_helpers import API, download, upload
from tests.integration.test_web_pages import sign_in_page


@pytest.fixture
def app(clocked_app: APIFlask) -> APIFlask:
    return clocked_app


def signed_in(app: APIFlask, who: SignedIn) -> FlaskClient:
    browser = app.test_client()
    assert sign_in_page(browser, who.username, STRONG_PASSWORD).status_code == 303
    return browser


def text_of(page_html: str) -> str:
    """The page's visible words, roughly: tags out, spaces folded."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page_html)))


def attribute(page_html: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', page_html)
    assert found, f"no {name}"
    return html.unescape(found.group(1))


def test_the_owner_sees_every_event_in_words(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    stored = upload(client, alice, b"hello", "report.pdf")
    download(client, alice, stored["id"])
    client.post(
        f"{API}/files/{stored['id']}/grants", json={"username": bob.username}, headers=alice.bearer
    )
    page = signed_in(app, alice).get(f"/files/{stored['id']}/history")
    body = page.get_data(as_text=True)
    words = text_of(body)
    assert page.status_code == 200
    assert re.search(r"History of “ ?report\.pdf ?”", words)
    assert f"Uploaded by {alice.username}" in words
    assert f"Downloaded by {alice.username}" in words
    assert f"Shared with a person by {alice.username}" in words
    assert words.count("not verified") == 3
    assert "needs JavaScript" in words
    assert "strongroom ledger verify-export" in words
    # What the script checks: the API's own history of this file, and this file only.
    assert attribute(body, "data-api") == f"/api/v1/files/{stored['id']}/history?offset=0&limit=100"
    assert attribute(body, "data-target") == f"file:{stored['id']}"
    assert 'src="/static/js/history.js"' in body


def test_the_history_page_and_its_script_agree_with_the_api(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    stored = upload(client, alice, b"hello", "report.pdf")
    browser = signed_in(app, alice)
    body = browser.get(f"/files/{stored['id']}/history").get_data(as_text=True)
    listed = [int(i) for i in re.findall(r'<li class="event" data-index="(\d+)"', body)]
    served = browser.get(attribute(body, "data-api")).get_json()
    assert listed == [item["index"] for item in served["items"]]
    assert all(item["entry"]["canonical"] and item["entry"]["salt"] for item in served["items"])


def test_only_the_owner_may_read_the_history(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn, carol: SignedIn
) -> None:
    stored = upload(client, alice, b"hello", "report.pdf")
    client.post(
        f"{API}/files/{stored['id']}/grants", json={"username": bob.username}, headers=alice.bearer
    )
    # As the API answers: the grantee knows the file (403), a stranger does not (404).
    for who, path, status in (
        (bob, f"/files/{stored['id']}/history", 403),
        (carol, f"/files/{stored['id']}/history", 404),
        (carol, "/files/no-such-file/history", 404),
    ):
        page = signed_in(app, who).get(path)
        assert page.status_code == status
        assert (
            client.get(path.replace("/files", f"{API}/files"), headers=who.bearer).status_code
            == status
        )
        assert "hello" not in page.get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(app: APIFlask) -> None:
    for path in ("/files/anything/history", "/ledger", "/ledger/entries/0"):
        answer = app.test_client().get(path)
        assert answer.status_code == 303
        assert answer.headers["Location"] == "/login"


def test_a_user_sees_their_own_events_and_only_hashes_of_others(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    upload(client, bob, b"bob's", "bobs-secret-plan.txt")
    upload(client, alice, b"alice's", "alices-notes.txt")
    browser = signed_in(app, alice)
    mine = text_of(browser.get("/ledger").get_data(as_text=True))
    assert f"Uploaded {alice.username} “alices-notes.txt”" in mine
    assert "Your events" in mine
    assert "Latest signed checkpoint" in mine
    assert f"Signed in {alice.username}" in mine
    assert bob.username not in mine
    everything = browser.get("/ledger?show=all").get_data(as_text=True)
    assert "Not about you: only its hash is shown." in text_of(everything)
    assert "bobs-secret-plan" not in everything
    assert bob.username not in everything


def test_an_admin_reads_every_entry(app: APIFlask, client: FlaskClient, bob: SignedIn) -> None:
    upload(client, bob, b"bob's", "plan.txt")
    admin = make_admin(app)
    words = text_of(signed_in(app, admin).get("/ledger").get_data(as_text=True))
    assert "All entries" in words
    assert f"Uploaded {bob.username}" in words
    assert "Not about you" not in words


def test_an_entry_page_shows_its_event_and_proof(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    stored = upload(client, alice, b"hello", "report.pdf")
    with app.app_context(), get_database().session() as db:
        index = (
            db.query(LedgerEntry.index)
            .filter_by(target=f"file:{stored['id']}", tag="file:upload")
            .scalar()
        )
    page = signed_in(app, alice).get(f"/ledger/entries/{index}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"Ledger entry #{index}" in text_of(body)
    assert "&#34;tag&#34;:&#34;file:upload&#34;" in body or '"tag":"file:upload"' in html.unescape(
        body
    )
    assert attribute(body, "data-api").startswith(f"/api/v1/ledger/entries/{index}?tree_size=")
    assert "— " in attribute(body, "data-note")  # the signed note, for the script to check
    assert "Inclusion proof" in text_of(body)
    # Someone the event is not about sees the hash and the proof, not the event.
    other = signed_in(app, bob).get(f"/ledger/entries/{index}").get_data(as_text=True)
    assert "report.pdf" not in other
    assert "only its hash is shown" in text_of(other)


def test_an_entry_beyond_the_ledger_is_not_found(app: APIFlask, alice: SignedIn) -> None:
    assert signed_in(app, alice).get("/ledger/entries/999999").status_code == 404


def test_an_erased_entry_names_its_redaction(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    stored = upload(client, alice, b"hello", "report.pdf")
    download(client, alice, stored["id"])
    with app.app_context(), get_database().session() as db:
        erased, emptied = (
            db.query(LedgerEntry.index).filter_by(target=f"file:{stored['id']}", tag=tag).scalar()
            for tag in ("file:upload", "file:download")
        )
        redaction = services.redact_entry(
            db, erased, actor="system:test", reason="GDPR request", at=datetime.now(UTC)
        ).index
        # A row emptied behind the ledger's back: no redaction records it.
        row = db.get(LedgerEntry, emptied)
        assert row is not None
        row.event, row.salt = None, None
        db.commit()
    admin = signed_in(app, make_admin(app))
    # An admin may see every event, but an erased one has none to show (this was a 500).
    page = admin.get(f"/ledger/entries/{erased}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"The erasure is recorded in entry #{redaction}" in text_of(body)
    assert attribute(body, "data-redaction") == str(redaction)
    body = admin.get(f"/ledger/entries/{emptied}").get_data(as_text=True)
    assert "No redaction of it is recorded in the ledger." in text_of(body)
    assert attribute(body, "data-redaction") == ""
    # The explorer's rows point the script at the same redactions.
    listing = admin.get("/ledger?show=all").get_data(as_text=True)
    assert f'<tr data-index="{erased}" data-redaction="{redaction}">' in listing
    assert f'<tr data-index="{emptied}" data-redaction="">' in listing
    assert text_of(listing).count("Erased (personal data removed)") == 2
