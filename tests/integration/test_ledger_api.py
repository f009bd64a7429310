"""The ledger API: public checkpoints, keys and proofs; event bodies only for the
people allowed to see them; redaction that keeps every proof valid."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from strongroom.context import get_database
from strongroom.ledger.checkpoints import make_checkpoint
from strongroom.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from strongroom.ledger.note import Checkpoint, Verifier, open_checkpoint
from strongroom.ledger.verify import verify_ledger
from tests.auth_helpers import SignedIn, make_admin, new_account
from tests.integration.test_ledger_storage import ledger_app  # noqa: F401  # fixture

API = "/api/v1/ledger"


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def fresh_checkpoint(client: FlaskClient, verifier: Verifier) -> Checkpoint:
    with client.application.app_context(), get_database().session() as db:
        make_checkpoint(db, client.application.extensions["strongroom.ledger"].signer,
                        at=client.application.extensions["strongroom.auth"].now())  # fmt: skip
        db.commit()
    response = client.get(f"{API}/checkpoint")
    assert response.mimetype == "text/plain"
    return open_checkpoint(response.get_data(as_text=True), verifier)


@pytest.fixture
def scene(ledger_app: APIFlask) -> dict[str, Any]:  # noqa: F811
    client = ledger_app.test_client()
    key = client.get(f"{API}/public-key").get_data(as_text=True)
    verifier = Verifier.parse(key)
    ann = new_account(ledger_app.test_client(), "ann")
    bob = new_account(ledger_app.test_client(), "bob")
    admin = make_admin(ledger_app)
    return {"app": ledger_app, "client": client, "verifier": verifier, "ann": ann,
            "bob": bob, "admin": admin}  # fmt: skip


def test_the_first_checkpoint_is_signed_on_demand(ledger_app: APIFlask) -> None:  # noqa: F811
    client = ledger_app.test_client()
    verifier = Verifier.parse(client.get(f"{API}/public-key").get_data(as_text=True))
    note = client.get(f"{API}/checkpoint")
    assert note.status_code == 200
    checkpoint = open_checkpoint(note.get_data(as_text=True), verifier)
    assert checkpoint.size == 0


def test_entries_show_events_only_to_those_allowed(scene: dict[str, Any]) -> None:
    client: FlaskClient = scene["client"]
    ann: SignedIn = scene["ann"]
    assert client.get(f"{API}/entries").status_code == 401
    page = client.get(f"{API}/entries", headers=ann.bearer).get_json()
    mine = f"user:{ann.user['id']}"
    for entry in page["entries"]:
        if entry["visible"]:
            assert mine in {entry["event"]["actor"], entry["event"]["target"]}
            leaf = b64(entry["salt"]) + entry["canonical"].encode("utf-8")
            assert leaf_hash(leaf) == b64(entry["leaf_hash"])
        else:
            assert entry["event"] is None
            assert entry["canonical"] is None
    assert any(e["visible"] for e in page["entries"])
    assert not all(e["visible"] for e in page["entries"])
    everything = client.get(f"{API}/entries", headers=scene["admin"].bearer).get_json()
    assert all(e["visible"] for e in everything["entries"])


def test_inclusion_and_consistency_proofs_verify(scene: dict[str, Any]) -> None:
    client: FlaskClient = scene["client"]
    verifier: Verifier = scene["verifier"]
    early = fresh_checkpoint(client, verifier)
    new_account(scene["app"].test_client(), "carol")
    late = fresh_checkpoint(client, verifier)
    assert late.size > early.size
    for index in (0, early.size - 1, late.size - 1):
        body = client.get(f"{API}/entries/{index}?tree_size={late.size}").get_json()
        proof = [b64(p) for p in body["proof"]]
        verify_inclusion(b64(body["leaf_hash"]), index, late.size, proof, late.root)
        assert body["entry"]["visible"] is False  # anonymous: hashes only
    body = client.get(f"{API}/consistency?from={early.size}&to={late.size}").get_json()
    verify_consistency(early.size, late.size, early.root, late.root,
                       [b64(p) for p in body["proof"]])  # fmt: skip
    assert client.get(f"{API}/consistency?from=0&to={late.size}").get_json()["proof"] == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/entries/0?tree_size=100000", 422),
        ("/entries/5?tree_size=5", 422),
        ("/entries/0", 422),
        ("/entries/0?tree_size=0", 422),
        ("/entries/-1?tree_size=3", 404),
        ("/entries/99999999999999999999999999?tree_size=3", 404),
        ("/consistency?from=5&to=3", 422),
        ("/consistency?from=1&to=100000", 422),
        ("/consistency?from=-1&to=3", 422),
        ("/consistency?from=1", 422),
        ("/consistency?from=0&to=100000", 422),
        ("/entries?limit=100000", 422),
        ("/entries?start=-5", 422),
        ("/entries?color=red", 422),
    ],
)
def test_impossible_requests_are_clear_4xx(scene: dict[str, Any], path: str, status: int) -> None:
    response = scene["client"].get(API + path, headers=scene["admin"].bearer)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"


def test_a_user_sees_their_own_events_and_no_one_elses(scene: dict[str, Any]) -> None:
    client: FlaskClient = scene["client"]
    ann, bob = scene["ann"], scene["bob"]
    own = client.get(f"{API}/users/{ann.user['id']}/events", headers=ann.bearer)
    assert own.status_code == 200
    tags = [e["event"]["tag"] for e in own.get_json()["entries"]]
    assert "account:register" in tags
    assert "account:signin:success" in tags
    assert client.get(f"{API}/users/{bob.user['id']}/events", headers=ann.bearer).status_code == 404
    by_admin = client.get(f"{API}/users/{bob.user['id']}/events", headers=scene["admin"].bearer)
    assert by_admin.status_code == 200
    assert by_admin.get_json()["entries"]


def test_redaction_erases_the_event_and_keeps_every_proof(scene: dict[str, Any]) -> None:
    client: FlaskClient = scene["client"]
    verifier: Verifier = scene["verifier"]
    admin: SignedIn = scene["admin"]
    before = fresh_checkpoint(client, verifier)
    page = client.get(f"{API}/users/{scene['ann'].user['id']}/events", headers=admin.bearer)
    target = page.get_json()["entries"][0]
    index = target["index"]
    url = f"/api/v1/admin/ledger/entries/{index}/redact"
    assert client.post(url, json={"reason": "x"}, headers=scene["ann"].bearer).status_code == 403
    redacted = client.post(url, json={"reason": "erasure request 42"}, headers=admin.bearer)
    assert redacted.status_code == 200, redacted.get_json()
    again = client.post(url, json={"reason": "twice"}, headers=admin.bearer)
    assert again.status_code == 409
    redaction_index = redacted.get_json()["redaction_index"]
    of_redaction = f"/api/v1/admin/ledger/entries/{redaction_index}/redact"
    assert client.post(of_redaction, json={"reason": "no"}, headers=admin.bearer).status_code == 409

    after = fresh_checkpoint(client, verifier)
    shown = client.get(f"{API}/entries/{index}?tree_size={after.size}", headers=admin.bearer)
    body = shown.get_json()
    assert body["entry"]["redacted"] is True
    assert body["entry"]["event"] is None
    assert body["leaf_hash"] == target["leaf_hash"]  # the hash stays
    verify_inclusion(b64(body["leaf_hash"]), index, after.size,
                     [b64(p) for p in body["proof"]], after.root)  # fmt: skip
    proof = client.get(f"{API}/consistency?from={before.size}&to={after.size}").get_json()
    verify_consistency(before.size, after.size, before.root, after.root,
                       [b64(p) for p in proof["proof"]])  # fmt: skip
    with scene["app"].app_context(), get_database().session() as db:
        report = verify_ledger(db, verifier)
    assert report.redacted == 1


def test_redaction_needs_a_session_not_a_token(scene: dict[str, Any]) -> None:
    client: FlaskClient = scene["client"]
    created = client.post(
        "/api/v1/me/tokens", json={"name": "t", "scopes": ["admin"]}, headers=scene["admin"].bearer
    )
    token = {"Authorization": f"Bearer {created.get_json()['token']}"}
    response = client.post("/api/v1/admin/ledger/entries/0/redact", json={"reason": "x"},
                           headers=token)  # fmt: skip
    assert response.get_json()["type"] == "urn:strongroom:problem:session-required"
