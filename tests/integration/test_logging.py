"""What reaches the log for real requests: access lines, and never a secret."""

from __future__ import annotations

import json

import pytest

from tests import support
from tests.conftest import AppFactory


def test_access_log_line_and_no_secrets(
    make_app: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(log_format="json")
    app.register_blueprint(support.bp)
    client = app.test_client()
    response = client.post(
        "/api/v1/probe/signin?next=%2Fhome",
        json={"username": "ann", "password": "correct horse battery staple"},
        headers={"Cookie": "session=COOKIESECRET", "X-Request-ID": "log-test-1"},
    )
    assert response.status_code == 200
    refused = client.get("/api/v1/me", headers={"Authorization": "Bearer srp_SUPERSECRETTOKEN"})
    assert refused.status_code == 401  # not a real token; refused and logged
    output = capsys.readouterr().err
    for secret in ("correct horse battery staple", "SUPERSECRETTOKEN", "COOKIESECRET"):
        assert secret not in output
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "strongroom.access"]
    assert len(access) == 2
    line = access[0]
    assert line["method"] == "POST"
    assert line["path"] == "/api/v1/probe/signin"  # the query string is never logged
    assert line["status"] == 200
    assert line["request_id"] == "log-test-1"
    assert isinstance(line["duration_ms"], float)
    assert line["user_id"] is None  # nobody is signed in
    assert line["route"] == "/api/v1/probe/signin"
    attempt = [r for r in records if r["message"] == "sign-in attempt"]
    assert attempt[0]["password"] == "[redacted]"
    assert attempt[0]["username"] == "ann"


def test_refused_requests_are_logged(
    make_app: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(log_format="json")
    app.register_blueprint(support.bp)
    app.test_client().post("/api/v1/probe/echo", data=b"{nope", content_type="application/json")
    records = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    assert any(r["message"] == "request refused: malformed-json" for r in records)
    assert any(r.get("status") == 400 for r in records if r["logger"] == "strongroom.access")


def test_unhandled_errors_are_logged_with_traceback(
    make_app: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(log_format="json")
    app.register_blueprint(support.bp)
    app.test_client().get("/api/v1/probe/boom")
    records = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    error = next(r for r in records if r["message"] == "unhandled error")
    assert error["level"] == "ERROR"
    assert "RuntimeError" in error["exception"]


def test_sensitive_paths_are_logged_as_their_route(
    make_app: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(log_format="json")
    app.register_blueprint(support.bp)
    response = app.test_client().get("/api/v1/probe/link/TOPSECRETLINKTOKEN")
    assert response.status_code == 200
    output = capsys.readouterr().err
    assert "TOPSECRETLINKTOKEN" not in output
    access = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and '"strongroom.access"' in line
    ]
    assert access[0]["path"] == "/api/v1/probe/link/<token>"
