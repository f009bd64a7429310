"""Accounts through a real gunicorn: cookies over the wire, and client IPs behind a proxy."""

from __future__ import annotations

import http.cookiejar
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.auth_helpers import STRONG_PASSWORD
from tests.integration.test_serve import BIN, base_env, free_port, run_cli

pytestmark = pytest.mark.slow


@contextmanager
def gunicorn(tmp_path: Path, **settings: str) -> Iterator[str]:
    env = base_env(
        tmp_path,
        STRONGROOM_MODE="testing",
        STRONGROOM_COOKIE_SECURE="false",  # plain http on loopback
        STRONGROOM_TESTING_FAST_PASSWORD_HASHING="true",
        STRONGROOM_ARGON2_MEMORY_KIB="64",
        STRONGROOM_ARGON2_TIME_COST="1",
        STRONGROOM_ARGON2_PARALLELISM="1",
        **settings,
    )
    migrated = run_cli("db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310  # http on loopback
                    break
                except OSError:
                    assert process.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert "Traceback" not in log_path.read_text()


def call(
    opener: urllib.request.OpenerDirector,
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    # Only ever http://127.0.0.1 URLs built by these tests.
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with opener.open(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_cookie_session_over_the_wire(tmp_path: Path) -> None:
    with gunicorn(tmp_path) as base:
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        status, _ = call(
            browser, "POST", f"{base}/api/v1/auth/register",
            {"username": "wire-user", "password": STRONG_PASSWORD},
        )  # fmt: skip
        assert status == 201
        status, login = call(
            browser, "POST", f"{base}/api/v1/auth/login",
            {"username": "wire-user", "password": STRONG_PASSWORD},
        )  # fmt: skip
        assert status == 200
        cookie = next(c for c in jar if c.name == "strongroom_session")
        assert cookie.value == login["token"]
        assert cookie.has_nonstandard_attr("HttpOnly")

        status, me = call(browser, "GET", f"{base}/api/v1/me")
        assert (status, me["auth"], me["username"]) == (200, "session", "wire-user")
        # A state-changing call by cookie without the CSRF token is refused ...
        status, problem = call(browser, "POST", f"{base}/api/v1/auth/logout")
        assert (status, problem["type"]) == (403, "urn:strongroom:problem:csrf-failed")
        # ... and works with it.
        status, _ = call(
            browser, "POST", f"{base}/api/v1/auth/logout",
            headers={"X-CSRF-Token": login["csrf_token"]},
        )  # fmt: skip
        assert status == 204

        # A copy of the cookie taken before sign-out is dead on every worker.
        thief = urllib.request.build_opener()
        for _ in range(4):
            status, problem = call(
                thief, "GET", f"{base}/api/v1/me",
                headers={"Cookie": f"strongroom_session={login['token']}"},
            )  # fmt: skip
            assert status == 401
            status, _ = call(
                thief, "GET", f"{base}/api/v1/me",
                headers={"Authorization": f"Bearer {login['token']}"},
            )  # fmt: skip
            assert status == 401


def failed_logins(base: str, forwarded_for: str, count: int) -> list[int]:
    opener = urllib.request.build_opener()
    return [
        call(
            opener, "POST", f"{base}/api/v1/auth/login",
            {"username": "proxied", "password": "not the password at all"},
            headers={"X-Forwarded-For": forwarded_for},
        )[0]
        for _ in range(count)
    ]  # fmt: skip


def test_client_ip_comes_from_the_trusted_proxy_only(tmp_path: Path, redis_url: str) -> None:
    # Redis holds the counts, so both workers see the same ones (memory is per process).
    limits = {
        "STRONGROOM_RATE_LIMIT_SIGNIN_ACCOUNT_IP": "2/minute",
        "STRONGROOM_REDIS_URL": redis_url,
    }
    with gunicorn(tmp_path / "one-hop", STRONGROOM_TRUSTED_PROXY_HOPS="1", **limits) as base:
        assert failed_logins(base, "203.0.113.7", 3) == [401, 401, 429]
        # Behind one trusted proxy, another client address has its own count.
        assert failed_logins(base, "203.0.113.8", 1) == [401]
    redis.Redis.from_url(redis_url).flushdb()
    with gunicorn(tmp_path / "no-proxy", **limits) as base:
        # Trusting no proxy, a forged X-Forwarded-For changes nothing: same client.
        assert failed_logins(base, "203.0.113.7", 2) == [401, 401]
        assert failed_logins(base, "198.51.100.1", 1) == [429]
