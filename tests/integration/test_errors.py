"""Every error class comes back as problem+json (API) or a plain page (browser)."""

from __future__ import annotations

import io
import json

import pytest
from flask.testing import FlaskClient

from strongroom.errors import PROBLEM_MIMETYPE
from tests.conftest import AppFactory

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(response, status: int, slug: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_MIMETYPE
    body = response.get_json(force=True)
    assert body.keys() >= PROBLEM_KEYS
    assert body["type"] == f"urn:strongroom:problem:{slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert "traceback" not in body
    return body


def test_not_found(probe: FlaskClient) -> None:
    assert_problem(probe.get("/api/v1/no-such-thing"), 404, "not-found")


def test_method_not_allowed_keeps_allow_header(probe: FlaskClient) -> None:
    response = probe.delete("/api/v1/probe/echo")
    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["Allow"]


def test_body_over_limit_is_refused_before_reading(probe: FlaskClient) -> None:
    body = b"{" + b" " * (1024 * 1024) + b"}"
    response = probe.post("/api/v1/probe/echo", data=body, content_type="application/json")
    problem = assert_problem(response, 413, "payload-too-large")
    assert "limit is 1048576 bytes" in problem["detail"]


def test_declared_length_alone_triggers_413(probe: FlaskClient) -> None:
    # Content-Length says 5 MiB but no body follows: refused without waiting for it.
    response = probe.post(
        "/api/v1/probe/echo",
        data=b"{}",
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(5 * 1024 * 1024)},
    )
    assert_problem(response, 413, "payload-too-large")


def test_upload_routes_have_their_own_limit(make_probe_app: AppFactory) -> None:
    client = make_probe_app(max_upload_size=2048).test_client()
    ok = client.post("/api/v1/probe/raw", data=b"x" * 2048, content_type="application/octet-stream")
    assert ok.status_code == 200
    assert ok.get_json() == {"received": 2048}
    too_big = client.post(
        "/api/v1/probe/raw", data=b"x" * 2049, content_type="application/octet-stream"
    )
    assert_problem(too_big, 413, "payload-too-large")


def chunked(client: FlaskClient, path: str, body: bytes, content_type: str):  # type: ignore[no-untyped-def]
    """A body sent without Content-Length, as gunicorn hands a chunked request over."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        content_type=content_type,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_chunked_json_over_limit_is_413_not_truncated(probe: FlaskClient) -> None:
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    assert_problem(
        chunked(probe, "/api/v1/probe/echo", body, "application/json"), 413, "payload-too-large"
    )
    ok = chunked(probe, "/api/v1/probe/echo", b'{"name": "small"}', "application/json")
    assert ok.get_json() == {"name": "small", "count": 1}


@pytest.mark.parametrize(("size", "status"), [(2047, 200), (2048, 200), (2049, 413)])
def test_chunked_upload_limit_is_exact(make_probe_app: AppFactory, size: int, status: int) -> None:
    client = make_probe_app(max_upload_size=2048).test_client()
    response = chunked(client, "/api/v1/probe/raw", b"x" * size, "application/octet-stream")
    assert response.status_code == status
    if status == 200:
        assert response.get_json() == {"received": size}


def test_wrong_content_type(probe: FlaskClient) -> None:
    response = probe.post(
        "/api/v1/probe/echo", data="name=x", content_type="application/x-www-form-urlencoded"
    )
    problem = assert_problem(response, 415, "unsupported-media-type")
    assert "application/json" in problem["detail"]


def test_missing_content_type(probe: FlaskClient) -> None:
    response = probe.post("/api/v1/probe/echo", data=b'{"name": "x"}')
    assert_problem(response, 415, "unsupported-media-type")


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": ',
        b"{'name': 'x'}",
        b'{"name": "\xff\xfe"}',
        b"\x00\x01",
        b"[" * 100_000 + b"]" * 100_000,
        b'\xef\xbb\xbf{"name": "x"}',
        '{"name": "x"}'.encode("utf-16"),
        b'{"name": "x", "name": "admin"}',
        b'{"name": NaN}',
    ],
    ids=[
        "truncated",
        "single-quotes",
        "invalid-utf8",
        "binary",
        "deep-nesting",
        "utf8-bom",
        "utf16",
        "duplicate-key",
        "nan",
    ],
)
def test_malformed_json(probe: FlaskClient, body: bytes) -> None:
    response = probe.post("/api/v1/probe/echo", data=body, content_type="application/json")
    assert_problem(response, 400, "malformed-json")


def test_validation_names_each_field(probe: FlaskClient) -> None:
    response = probe.post("/api/v1/probe/echo", json={"name": "x" * 21, "count": 0})
    problem = assert_problem(response, 422, "validation-failed")
    fields = {(e["location"], e["field"]) for e in problem["errors"]}
    assert fields == {("json", "name"), ("json", "count")}
    assert "name" in problem["detail"]
    assert "count" in problem["detail"]


def test_missing_required_field(probe: FlaskClient) -> None:
    problem = assert_problem(probe.post("/api/v1/probe/echo", json={}), 422, "validation-failed")
    assert problem["errors"][0]["field"] == "name"


def test_unknown_body_field_is_refused(probe: FlaskClient) -> None:
    response = probe.post("/api/v1/probe/echo", json={"name": "x", "admin": True})
    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"][0]["field"] == "admin"


def test_unknown_query_parameter_is_refused(probe: FlaskClient) -> None:
    assert probe.get("/api/v1/probe/search?q=a&page=2").get_json() == {"q": "a", "page": 2}
    response = probe.get("/api/v1/probe/search?q=a&sort=size")
    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"][0] == {
        "location": "query",
        "field": "sort",
        "message": "Unknown field.",
    }


def test_bad_query_value(probe: FlaskClient) -> None:
    problem = assert_problem(probe.get("/api/v1/probe/search?page=zero"), 422, "validation-failed")
    assert problem["errors"][0]["field"] == "page"


def test_rate_limited_keeps_retry_after(probe: FlaskClient) -> None:
    response = probe.get("/api/v1/probe/throttled")
    assert_problem(response, 429, "rate-limited")
    assert response.headers["Retry-After"] == "30"


def test_internal_error_hides_internals(probe: FlaskClient) -> None:
    response = probe.get("/api/v1/probe/boom")
    problem = assert_problem(response, 500, "internal-error")
    text = response.get_data(as_text=True)
    assert "RuntimeError" not in text
    assert "postgresql://" not in text
    assert "Traceback" not in text
    assert "request id" in problem["detail"]


def test_internal_error_shows_traceback_only_with_debug(make_probe_app: AppFactory) -> None:
    plain = make_probe_app(mode="development").test_client().get("/api/v1/probe/boom")
    assert "traceback" not in plain.get_json()
    client = make_probe_app(mode="development", debug=True).test_client()
    response = client.get("/api/v1/probe/boom")
    assert response.status_code == 500
    assert "RuntimeError" in "".join(response.get_json()["traceback"])


def test_production_never_shows_traceback(make_probe_app: AppFactory) -> None:
    client = make_probe_app(mode="production").test_client()
    # Over HTTPS: production redirects plain HTTP before any view runs.
    response = client.get("/api/v1/probe/boom", base_url="https://localhost")
    assert_problem(response, 500, "internal-error")
    assert "RuntimeError" not in response.get_data(as_text=True)


def test_browsers_get_an_html_page(probe: FlaskClient) -> None:
    response = probe.get("/no-such-page", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<h1>Not found</h1>" in page
    assert response.headers["X-Request-ID"] in page


def test_json_clients_get_problems_outside_the_api(probe: FlaskClient) -> None:
    response = probe.get("/no-such-page", headers={"Accept": "application/json"})
    assert_problem(response, 404, "not-found")


def test_html_error_page_escapes_nothing_from_the_request(probe: FlaskClient) -> None:
    response = probe.get("/<script>alert(1)</script>", headers={"Accept": "text/html"})
    assert "<script>" not in response.get_data(as_text=True)


def test_invalid_utf8_in_path_is_a_404_not_a_500(probe: FlaskClient) -> None:
    assert_problem(probe.get("/api/v1/%ff%fe"), 404, "not-found")
    # What a WSGI server hands over for raw non-UTF-8 bytes in the request line.
    raw = probe.get("/", environ_overrides={"PATH_INFO": "/api/v1/\xff\xfe"})
    assert_problem(raw, 404, "not-found")


def test_problem_body_is_plain_json(probe: FlaskClient) -> None:
    response = probe.get("/api/v1/no-such-thing")
    assert json.loads(response.get_data())["status"] == 404
