"""``GET /metrics`` through the app: who may scrape, and that the counts move.

The metrics are the process's, shared by every app a test run builds, so each test
compares a scrape before and after what it does.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from strongroom.context import get_database
from strongroom.ledger.checkpoints import make_checkpoint
from strongroom.ledger.models import LedgerHead
from strongroom.ops.metrics_db import LedgerCollector
from tests.auth_helpers import STRONG_PASSWORD, new_account, register, sign_in
from tests.conftest import AppFactory
from tests.files_helpers import API, download, random_bytes, upload

TOKEN = secrets.token_urlsafe(32)
PROBLEM = "urn:strongroom:problem:"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return parse(response.get_data(as_text=True))


@pytest.fixture
def app(make_app: AppFactory) -> APIFlask:
    return make_app(metrics_token=TOKEN)


# --- who may scrape --------------------------------------------------------------------


def test_not_configured_is_404(make_app: AppFactory) -> None:
    client = make_app().test_client()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer"],
    ids=["missing", "wrong", "other-scheme", "longer", "shorter", "empty"],
)
def test_without_the_token_is_401(client: FlaskClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == PROBLEM + "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"strongroom_" not in response.get_data()


def test_with_the_token_is_the_exposition(client: FlaskClient) -> None:
    response = client.get("/metrics", headers={"Authorization": f"bearer  {TOKEN} "})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "strongroom_http_requests",
        "strongroom_http_request_duration_seconds",
        "strongroom_ledger_entries",
        "strongroom_db_pool_size",
    } <= names


def test_openmetrics_is_negotiated(client: FlaskClient) -> None:
    response = client.get(
        "/metrics",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/openmetrics-text; version=1.0.0",
        },
    )
    assert response.status_code == 200
    assert response.mimetype == "application/openmetrics-text"
    assert response.text.endswith("# EOF\n")


def test_the_token_is_never_logged(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}-nope"})
    assert caplog.records
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.__dict__)


@pytest.mark.parametrize(("path", "spends_budget"), [("/metrics", False), ("/healthz", True)])
def test_a_scrape_is_no_user_credential(
    make_app: AppFactory, path: str, spends_budget: bool
) -> None:
    """The metrics token is not looked up as a user's token, nor counted as a failed
    one: scrapes with a wrong token leave the network's token budget alone (a wrong
    bearer token on another public route, the control, spends it)."""
    app = make_app(metrics_token=TOKEN, rate_limit_token_failures_ip="5/minute")
    client = app.test_client()
    alice = new_account(client)
    for _ in range(6):
        client.get(path, headers={"Authorization": "Bearer nope"})
    response = app.test_client().get(f"{API}/me", headers=alice.bearer)
    assert response.status_code == (429 if spends_budget else 200), response.get_json()


# --- counts --------------------------------------------------------------------------


def test_requests_are_counted_by_route_template(client: FlaskClient) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    client.get("/no/such/page-with-a-secret-path")
    client.open("/healthz", method="BREW")
    after = scrape(client)
    ok = {"route": "/healthz", "method": "GET", "status": "200"}
    requests = "strongroom_http_requests_total"
    assert value(after, requests, **ok) - value(before, requests, **ok) == 3
    durations = "strongroom_http_request_duration_seconds_count"
    assert value(after, durations, **ok) - value(before, durations, **ok) == 3
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, requests, **unmatched) - value(before, requests, **unmatched) == 1
    other = {"route": "unmatched", "method": "other", "status": "405"}
    assert value(after, requests, **other) - value(before, requests, **other) == 1
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert "page-with-a-secret-path" not in text
    assert "BREW" not in text


def test_file_routes_are_labelled_by_template(client: FlaskClient) -> None:
    alice = new_account(client)
    file_id = upload(client, alice, b"hello")["id"]
    [template] = [
        rule.rule
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint == "files.metadata"
    ]
    assert "<" in template
    labels = {"route": template, "method": "GET", "status": "200"}
    before = scrape(client)
    assert client.get(f"{API}/files/{file_id}", headers=alice.bearer).status_code == 200
    after = scrape(client)
    requests = "strongroom_http_requests_total"
    assert value(after, requests, **labels) - value(before, requests, **labels) == 1
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert file_id not in text


def test_sign_ins_are_counted(client: FlaskClient) -> None:
    name = register(client)
    before = scrape(client)
    response = client.post("/api/v1/auth/login", json={"username": name, "password": "wrong!"})
    assert response.status_code == 401
    sign_in(client, name, STRONG_PASSWORD)
    after = scrape(client)
    signins = "strongroom_signins_total"
    assert value(after, signins, result="failure") - value(before, signins, result="failure") == 1
    assert value(after, signins, result="success") - value(before, signins, result="success") == 1


def test_throttled_sign_ins_are_counted(make_app: AppFactory) -> None:
    app = make_app(metrics_token=TOKEN, rate_limit_signin_account_ip="2/minute")
    client = app.test_client()
    name = register(client)
    before = scrape(client)
    statuses = [
        client.post("/api/v1/auth/login", json={"username": name, "password": "wrong!"}).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    after = scrape(client)
    signins = "strongroom_signins_total"
    throttled = {"result": "throttled"}
    assert value(after, signins, **throttled) - value(before, signins, **throttled) == 1
    limited = "strongroom_rate_limited_total"
    limit = {"limit": "signin-account-ip"}
    assert value(after, limited, **limit) - value(before, limited, **limit) == 1


def test_uploads_and_downloads_are_counted(client: FlaskClient) -> None:
    alice = new_account(client)
    data = random_bytes(70_000)
    before = scrape(client)
    file_id = upload(client, alice, data)["id"]
    response = download(client, alice, file_id)
    assert response.get_data() == data
    response.close()
    ranged = download(client, alice, file_id, Range="bytes=0-99")
    assert len(ranged.get_data()) == 100
    ranged.close()
    head = client.head(f"{API}/files/{file_id}/content", headers=alice.bearer)
    head.close()
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("strongroom_upload_bytes_total") == len(data)
    assert delta("strongroom_upload_duration_seconds_count", outcome="stored") == 1
    route = f"{API}/files/<file_id>/content"
    [label] = {
        dict(labels)["route"]
        for (name, labels) in after
        if name == "strongroom_download_bytes_total" and dict(labels)["route"].endswith("/content")
        and dict(labels)["route"].startswith(f"{API}/files/")
    }  # fmt: skip
    route = label
    assert delta("strongroom_download_bytes_total", route=route) == len(data) + 100
    assert delta("strongroom_download_duration_seconds_count", route=route, outcome="complete") == 2


def test_an_abandoned_download_is_incomplete(client: FlaskClient) -> None:
    alice = new_account(client)
    data = random_bytes(3 * 1024 * 1024)
    file_id = upload(client, alice, data)["id"]
    before = scrape(client)
    response = client.get(f"{API}/files/{file_id}/content", headers=alice.bearer, buffered=False)
    first = next(iter(response.response))
    response.close()  # the client went away after the first piece
    after = scrape(client)
    [(_, labels)] = [
        key
        for key in after
        if key[0] == "strongroom_download_duration_seconds_count"
        and dict(key[1])["outcome"] == "incomplete"
        and after[key] != before.get(key, 0.0)
    ]
    route = dict(labels)["route"]
    sent = value(after, "strongroom_download_bytes_total", route=route) - value(
        before, "strongroom_download_bytes_total", route=route
    )
    assert 0 < len(first) <= sent < len(data)


def test_a_failed_upload_is_counted(client: FlaskClient) -> None:
    alice = new_account(client)
    before = scrape(client)
    response = client.post(
        f"{API}/files",
        data=b"x" * 10,
        content_type="application/octet-stream",
        headers=alice.bearer,  # no file name: refused
    )
    assert response.status_code == 400
    after = scrape(client)
    name = "strongroom_upload_duration_seconds_count"
    assert value(after, name, outcome="failed") - value(before, name, outcome="failed") == 1
    assert value(after, "strongroom_upload_bytes_total") == value(
        before, "strongroom_upload_bytes_total"
    )


def test_share_link_downloads_are_counted(client: FlaskClient, app: APIFlask) -> None:
    alice = new_account(client)
    data = random_bytes(5000)
    file_id = upload(client, alice, data)["id"]
    made = client.post(f"{API}/files/{file_id}/links", headers=alice.bearer, json={})
    assert made.status_code == 201, made.get_json()
    token = made.get_json()["url"].rpartition("/s/")[2]
    before = scrape(client)
    response = app.test_client().get(f"/s/{token}/content")
    assert response.status_code == 200
    assert response.get_data() == data
    response.close()
    after = scrape(client)
    route = "/s/<token>/content"
    assert value(after, "strongroom_download_bytes_total", route=route) - value(
        before, "strongroom_download_bytes_total", route=route
    ) == len(data)
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert token not in text


def test_pool_gauges_follow_the_pool(client: FlaskClient) -> None:
    samples = scrape(client)
    assert value(samples, "strongroom_db_pool_size") >= 1
    assert value(samples, "strongroom_db_pool_checked_out_connections") >= 0
    assert value(samples, "strongroom_db_pool_open_connections") >= 0


# --- the ledger, read at scrape time -------------------------------------------------------


def test_ledger_gauges_come_from_the_database(app: APIFlask) -> None:
    client = app.test_client()
    new_account(client)  # ledgers a registration and a sign-in
    with app.app_context(), get_database().session() as db:
        make_checkpoint(db, app.extensions["strongroom.ledger"].signer, at=datetime.now(UTC))
        db.commit()
    new_account(client)
    with app.app_context(), get_database().session(write=False) as db:
        size = db.scalar(select(LedgerHead.size))
    samples = scrape(client)
    assert value(samples, "strongroom_ledger_collector_up") == 1
    assert value(samples, "strongroom_ledger_entries") == size
    signed = value(samples, "strongroom_ledger_checkpoint_entries")
    assert 0 < signed < size
    assert value(samples, "strongroom_ledger_unsigned_entries") == size - signed
    assert 0 <= value(samples, "strongroom_ledger_last_checkpoint_age_seconds") < 60
    assert 0 <= value(samples, "strongroom_ledger_unsigned_entry_age_seconds") < 60


def test_ledger_ages_use_the_clock(app: APIFlask) -> None:
    with app.app_context():
        database = get_database()
        with database.session() as db:
            make_checkpoint(db, app.extensions["strongroom.ledger"].signer, at=datetime.now(UTC))
            db.commit()
        later = (datetime.now(UTC) + timedelta(hours=3)).timestamp()
        collector = LedgerCollector(lambda: database.session(write=False), clock=lambda: later)
        families = {family.name: family for family in collector.collect()}
    age = families["strongroom_ledger_last_checkpoint_age_seconds"].samples[0].value
    assert 3 * 3600 - 60 < age <= 3 * 3600 + 1
