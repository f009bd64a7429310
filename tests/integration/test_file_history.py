"""A file's history: every event about it, each proven against a signed checkpoint
that anyone can check with the log's public key — and only its owner may read it."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from strongroom.ledger.merkle import ProofError, leaf_hash, verify_inclusion
from strongroom.ledger.note import Verifier, open_checkpoint
from tests.auth_helpers import SignedIn, make_admin, new_account
from tests.files_helpers import API, download, upload
from tests.integration.test_grants import call, share


def history(app: APIFlask, who: SignedIn, file_id: str, **query: Any) -> Any:
    return call(app, "GET", f"/files/{file_id}/history", who, query_string=query)


def check_proofs(app: APIFlask, body: dict[str, Any]) -> None:
    """What a client does: verify the checkpoint's signature with the published key,
    recompute each leaf from its salt and canonical bytes, and check its proof."""
    key = app.test_client().get(f"{API}/ledger/public-key").get_data(as_text=True)
    checkpoint = open_checkpoint(body["checkpoint"]["note"], Verifier.parse(key))
    assert checkpoint.size == body["checkpoint"]["size"]
    for item in body["items"]:
        entry = item["entry"]
        leaf = base64.b64decode(entry["salt"]) + entry["canonical"].encode("utf-8")
        assert leaf_hash(leaf) == base64.b64decode(entry["leaf_hash"])
        proof = [base64.b64decode(p) for p in item["proof"]]
        verify_inclusion(leaf_hash(leaf), item["index"], checkpoint.size, proof, checkpoint.root)


def test_the_owner_sees_every_event_each_proven(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    meta = upload(client, alice, b"audited", "a.txt")
    grant = share(app, alice, meta["id"], bob.username).get_json()
    assert download(client, bob, meta["id"]).data == b"audited"
    call(app, "PATCH", f"/files/{meta['id']}", bob, json={"name": "b.txt"})  # refused
    call(app, "DELETE", f"/files/{meta['id']}/grants/{grant['id']}", alice)
    response = history(app, alice, meta["id"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    tags = [i["entry"]["event"]["tag"] for i in body["items"]]
    assert tags == ["file:upload", "grant:create", "file:download", "access:denied", "grant:revoke"]
    assert body["total"] == 5
    actors = [i["entry"]["event"]["actor"] for i in body["items"]]
    assert actors[2] == actors[3] == f"user:{bob.user['id']}"
    check_proofs(app, body)


def test_a_tampered_proof_or_event_fails_verification(
    app: APIFlask, client: FlaskClient, alice: SignedIn
) -> None:
    meta = upload(client, alice, b"x")
    download(client, alice, meta["id"])
    body = history(app, alice, meta["id"]).get_json()
    check_proofs(app, body)
    forged = {**body, "items": [dict(body["items"][0])]}
    event = forged["items"][0]["entry"]
    forged["items"][0]["entry"] = {**event, "canonical": event["canonical"].replace("x", "y", 1)}
    with pytest.raises((ProofError, AssertionError)):
        check_proofs(app, forged)


def test_history_is_paged(app: APIFlask, client: FlaskClient, alice: SignedIn) -> None:
    meta = upload(client, alice, b"x")
    for _ in range(4):
        download(client, alice, meta["id"]).close()
    first = history(app, alice, meta["id"], limit=2).get_json()
    rest = history(app, alice, meta["id"], offset=2, limit=10).get_json()
    assert first["total"] == 5
    assert [i["index"] for i in first["items"] + rest["items"]] == sorted(
        i["index"] for i in first["items"] + rest["items"]
    )
    assert len(first["items"] + rest["items"]) == 5
    check_proofs(app, rest)


def test_grantees_admins_and_others_cannot_read_the_history(
    app: APIFlask, client: FlaskClient, alice: SignedIn, bob: SignedIn
) -> None:
    meta = upload(client, alice, b"x")
    share(app, alice, meta["id"], bob.username)
    assert history(app, bob, meta["id"]).status_code == 403  # knows the file, not its history
    carol = new_account(app.test_client(), "carol")
    assert history(app, carol, meta["id"]).status_code == 404
    assert history(app, make_admin(app), meta["id"]).status_code == 404
    assert call(app, "GET", f"/files/{meta['id']}/history", None).status_code == 401
