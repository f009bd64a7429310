"""Request ids: accepted when well-formed, generated otherwise, refused with control chars."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

GENERATED = re.compile(r"^[0-9a-f]{32}$")


def test_generated_when_absent(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert GENERATED.match(first)
    assert first != second


@pytest.mark.parametrize(
    "incoming", ["abc-123", "lb:7f3a.9", "A" * 128, "0f8fad5b-d9cb-469f-a165-70867728950e"]
)
def test_well_formed_ids_are_echoed(client: FlaskClient, incoming: str) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
        == incoming
    )


@pytest.mark.parametrize(
    "incoming", ["A" * 129, "has space", "ünïcode", "-leading-dash", "a/b", "\xff\xfe"]
)
def test_odd_ids_are_replaced(client: FlaskClient, incoming: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert response.status_code == 200
    assert GENERATED.match(response.headers["X-Request-ID"])


@pytest.mark.parametrize("incoming", ["abc\x00def", "abc\x1b[31m", "tab\there", "del\x7f"])
def test_control_characters_are_refused(client: FlaskClient, incoming: str) -> None:
    response = client.get("/api/v1/openapi.json", headers={"X-Request-ID": incoming})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["type"] == "urn:strongroom:problem:invalid-header"
    assert "X-Request-ID" in body["detail"]
    assert GENERATED.match(response.headers["X-Request-ID"])
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_request_id_is_in_the_problem_body(client: FlaskClient) -> None:
    response = client.get("/api/v1/missing", headers={"X-Request-ID": "trace-42"})
    assert response.get_json()["request_id"] == "trace-42"
    assert response.get_json()["instance"] == "urn:strongroom:request:trace-42"
