"""Error tracking: real Sentry envelopes, sent to a stub server, carry the request id
and none of the secrets a request brought."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIBlueprint, APIFlask
from flask import request

from strongroom.auth.policy import public
from strongroom.bodies import accepts_body
from strongroom.middleware import sensitive_path
from strongroom.ops.errortracking import ALLOWED_HEADERS
from tests.conftest import AppFactory
from tests.sentry_stub import SentryStub

log = logging.getLogger("tests.sentry")
bp = APIBlueprint("sentry_probe", __name__)

COOKIE_VALUE = "srs_" + secrets.token_urlsafe(32)
BEARER = "srp_" + secrets.token_urlsafe(32)
CSRF = secrets.token_urlsafe(24)
PASSWORD = "plum-" + secrets.token_hex(6) + "-orchard"
FILE_NAME = f"merger-plans-{secrets.token_hex(4)}.pdf"
TOTP = "493817"
EMAIL = f"alice.{secrets.token_hex(3)}@example.com"


def share_token() -> str:
    """A token as share links make them (``token_urlsafe(32)``)."""
    return secrets.token_urlsafe(32)


@bp.post("/s/<token>/sentry-boom")
@public("test:sentry")
@accepts_body("application/json", limit="max_request_size")
@sensitive_path
def boom(token: str) -> dict[str, Any]:
    # Exception messages quote user input (here a file name and an address) in any shape.
    raise RuntimeError(f"could not serve {FILE_NAME!r} to {EMAIL} ({request.content_length} B)")


@bp.post("/api/v1/sentry-probe/logged")
@public("test:sentry")
@accepts_body("application/json", limit="max_request_size")
def logged() -> dict[str, Any]:
    body = request.get_json()
    log.error(
        "could not store an upload %s for %s",
        body["name"],
        EMAIL,
        extra={
            "file_name": body["name"],
            "password": body["password"],
            "authorization": request.headers.get("Authorization"),
            "otp": body["otp"],
            "size": 12,
        },
    )
    return {"logged": True}


@pytest.fixture
def stub() -> Iterator[SentryStub]:
    server = SentryStub()
    yield server
    server.close()


@pytest.fixture
def sentry_app(make_app: AppFactory, stub: SentryStub) -> Iterator[APIFlask]:
    import sentry_sdk  # noqa: PLC0415

    app = make_app(sentry_dsn=stub.dsn, sentry_environment="staging-eu")
    app.register_blueprint(bp)
    yield app
    # Sentry's client is global: leave none behind for the next test.
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def planted_request(token: str) -> dict[str, Any]:
    return {
        "query_string": {"name": FILE_NAME, "token": BEARER},
        "headers": {
            "Authorization": f"Bearer {BEARER}",
            "Cookie": f"strongroom_session={COOKIE_VALUE}; strongroom_form_csrf={CSRF}",
            "Accept": "application/json",
            "X-CSRF-Token": CSRF,
            "X-File-Name": FILE_NAME,
            "Content-Disposition": f'attachment; filename="{FILE_NAME}"',
            "Referer": f"https://files.example/s/{token}",
        },
        "json": {"name": FILE_NAME, "password": PASSWORD, "otp": TOTP, "token": token},
    }


def assert_no_secrets(raw: bytes, *secrets_: str) -> None:
    for secret in secrets_:
        assert secret.encode() not in raw, f"{secret!r} reached Sentry"


def test_unhandled_error_and_logged_error_reach_sentry_scrubbed(
    sentry_app: APIFlask, stub: SentryStub
) -> None:
    import sentry_sdk  # noqa: PLC0415

    token = share_token()
    client = sentry_app.test_client()
    failed = client.post(f"/s/{token}/sentry-boom", **planted_request(token))
    assert failed.status_code == 500
    assert failed.mimetype == "application/problem+json"
    problem = failed.get_json()
    assert problem["request_id"] == failed.headers["X-Request-ID"]
    logged = client.post("/api/v1/sentry-probe/logged", **planted_request(token))
    assert logged.status_code == 200
    sentry_sdk.flush(timeout=10)

    events = stub.wait_for_events(2)
    assert stub.paths[0] == "/api/1/envelope/"
    by_request = {event["tags"]["request_id"]: event for event in events}
    crash = by_request[failed.headers["X-Request-ID"]]
    error = by_request[logged.headers["X-Request-ID"]]

    (exception,) = crash["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "[redacted]"  # type and stack trace only
    assert crash["request"]["method"] == "POST"
    assert crash["request"]["url"] == "http://localhost/s/[redacted]/sentry-boom"
    assert crash["request"]["headers"]["Content-Type"] == "application/json"
    assert {name.lower() for name in crash["request"]["headers"]} <= ALLOWED_HEADERS
    assert set(crash["request"]) <= {"method", "url", "headers"}
    assert crash["release"].startswith("strongroom@")
    assert crash["environment"] == "staging-eu"
    assert all("vars" not in frame for frame in exception["stacktrace"]["frames"])

    assert error["logentry"] == {"message": "could not store an upload %s for %s"}
    assert error["level"] == "error"
    assert error["extra"]["size"] == 12
    for key in ("file_name", "password", "authorization", "otp"):
        assert error["extra"][key] == "[redacted]"

    assert_no_secrets(
        stub.raw(), COOKIE_VALUE, BEARER, CSRF, PASSWORD, FILE_NAME, token, TOTP, EMAIL
    )


def test_traced_requests_are_scrubbed_too(make_app: AppFactory, stub: SentryStub) -> None:
    import sentry_sdk  # noqa: PLC0415

    app = make_app(sentry_dsn=stub.dsn, sentry_traces_sample_rate=1.0)
    app.register_blueprint(bp)
    try:
        token = share_token()
        response = app.test_client().post("/api/v1/sentry-probe/logged", **planted_request(token))
        assert response.status_code == 200
        sentry_sdk.flush(timeout=10)
        (transaction,) = stub.wait_for_events(1, kind="transaction")
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)
    assert transaction["transaction"] == "/api/v1/sentry-probe/logged"
    assert transaction["tags"]["request_id"] == response.headers["X-Request-ID"]
    assert transaction["spans"]  # the database work of the request
    assert_no_secrets(stub.raw(), COOKIE_VALUE, BEARER, CSRF, PASSWORD, FILE_NAME, token, TOTP)


def test_the_environment_defaults_to_the_mode(make_app: AppFactory, stub: SentryStub) -> None:
    import sentry_sdk  # noqa: PLC0415

    make_app(sentry_dsn=stub.dsn)
    try:
        options = sentry_sdk.get_client().options
        assert options["environment"] == "testing"
        assert not options["send_default_pii"]  # unset: off
        assert options["data_collection"]["user_info"] is False
        assert options["data_collection"]["database_query_data"] is False
        assert options["include_local_variables"] is False
        assert options["max_request_body_size"] == "never"
        assert options["traces_sample_rate"] == 0.0
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


def test_without_a_dsn_sentry_is_never_imported(database_url: str, tmp_path: Path) -> None:
    script = (
        "import sys; from strongroom.app import create_app; "
        f"create_app({{'mode': 'testing', 'database_url': {database_url!r}, "
        f"'data_dir': {str(tmp_path / 'data')!r}}}); "
        "sys.exit(1 if 'sentry_sdk' in sys.modules else 0)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


# -- under gunicorn ----------------------------------------------------------------

SERVE_SCRIPT = """
import sys
from strongroom.app import create_app
from strongroom.server import GUNICORN_DEFAULTS, GunicornServer
from tests.integration.test_sentry import bp

app = create_app()
app.register_blueprint(bp)
GunicornServer(app, {**GUNICORN_DEFAULTS, "bind": sys.argv[1], "workers": 2, "threads": 2}).run()
"""


@pytest.mark.slow
def test_gunicorn_workers_report_errors(
    stub: SentryStub, database_url: str, tmp_path: Path
) -> None:
    """The app (and Sentry) start in gunicorn's master; each forked worker still sends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(
        STRONGROOM_MODE="testing",
        STRONGROOM_DATABASE_URL=database_url,
        STRONGROOM_DATA_DIR=str(tmp_path / "data"),
        STRONGROOM_SENTRY_DSN=stub.dsn,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    with socket_port() as port:
        bind = f"127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE_SCRIPT, bind], env=env, stdout=log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until_up(f"http://{bind}/healthz", process, log_path)
        token = share_token()
        request_ids = []
        for _ in range(4):  # spread over both workers
            status, headers, body = post(f"http://{bind}/s/{token}/sentry-boom", token)
            assert status == 500
            assert json.loads(body)["request_id"] == headers["X-Request-ID"]
            request_ids.append(headers["X-Request-ID"])
        events = stub.wait_for_events(4)
        assert {event["tags"]["request_id"] for event in events} >= set(request_ids)
        assert_no_secrets(stub.raw(), token, BEARER, COOKIE_VALUE, PASSWORD, FILE_NAME)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "Internal error in sentry_sdk" not in log_path.read_text()


class socket_port:  # noqa: N801  # used as a context manager, like open()
    """A free loopback port, released on exit so the server can bind it."""

    def __enter__(self) -> int:
        import socket  # noqa: PLC0415

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        port: int = self._sock.getsockname()[1]
        return port

    def __exit__(self, *_exc: object) -> None:
        self._sock.close()


def wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310
        except OSError:
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.2)
        else:
            return
    raise AssertionError("the server did not start:\n" + log_path.read_text())


def post(url: str, token: str) -> tuple[int, dict[str, str], bytes]:
    planted = planted_request(token)
    req = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(planted["json"]).encode(),
        headers={**planted["headers"], "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
