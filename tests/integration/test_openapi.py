"""The OpenAPI document is generated from the schemas the views validate with."""

from __future__ import annotations

from flask.testing import FlaskClient
from openapi_spec_validator import validate

from strongroom.errors import PROBLEM_TYPE_BASE


def test_spec_is_served_and_valid(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Strongroom API"
    assert {"/healthz", "/readyz"} <= set(spec["paths"])


def test_request_schemas_and_problem_responses_are_described(probe: FlaskClient) -> None:
    spec = probe.get("/api/v1/openapi.json").get_json()
    validate(spec)
    echo = spec["paths"]["/api/v1/probe/echo"]["post"]
    body_ref = echo["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    echo_schema = spec["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert echo_schema["required"] == ["name"]
    assert echo_schema["properties"]["name"]["maxLength"] == 20
    assert "422" in echo["responses"]
    search = spec["paths"]["/api/v1/probe/search"]["get"]
    assert {p["name"] for p in search["parameters"]} == {"q", "page"}
    assert PROBLEM_TYPE_BASE in str(spec["components"]["schemas"])


def test_no_docs_ui_that_would_load_from_a_cdn(client: FlaskClient) -> None:
    assert client.get("/docs").status_code == 404


def test_errors_are_documented_as_problem_json(probe: FlaskClient) -> None:
    spec = probe.get("/api/v1/openapi.json").get_json()
    echo = spec["paths"]["/api/v1/probe/echo"]["post"]["responses"]
    for status in ("400", "413", "415", "422"):
        assert list(echo[status]["content"]) == ["application/problem+json"], status
    ready_503 = spec["paths"]["/readyz"]["get"]["responses"]["503"]
    assert ready_503["content"]["application/json"]["schema"]["$ref"].endswith("/ReadinessOut")
