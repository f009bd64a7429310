"""`strongroom serve` as a real process: gunicorn, the start-up guard, raw HTTP."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "strongroom"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update({"STRONGROOM_DATA_DIR": str(tmp_path / "var")}, **extra)
    return env


def raw_request(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The embedded defaults exactly as `make run` uses them: migrate, then serve."""
    tmp_path = tmp_path_factory.mktemp("serve")
    env = base_env(tmp_path)
    migrated = run_cli("db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except OSError:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
    yield port
    process.terminate()
    process.wait(timeout=30)
    log.close()
    output = (tmp_path / "server.log").read_text()
    assert "Strongroom is starting in development mode on http://127.0.0.1:" in output
    assert f"development secrets: {tmp_path / 'var' / 'dev-secrets'}" in output
    assert "Traceback" not in output


def test_serves_health_and_readiness(server: int) -> None:
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(f"http://127.0.0.1:{server}{path}", timeout=5) as response:
            assert response.status == 200


def status_of(response: bytes) -> int:
    return int(response.split(b"\r\n", 1)[0].split(b" ")[1])


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\x01b\r\n\r\n",
        b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Bad\xff: 1\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/v1/%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ],
    ids=[
        "raw-bytes-in-path",
        "control-char-header",
        "bad-header-name",
        "long-line",
        "percent-encoded-invalid-utf8",
    ],
)
def test_raw_bad_bytes_get_4xx_problems(server: int, request_bytes: bytes) -> None:
    response = raw_request(server, request_bytes)
    assert 400 <= status_of(response) < 500, response[:200]
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"Content-Type: application/problem+json" in head
    assert json.loads(body)["type"].startswith("urn:strongroom:problem:")


def test_non_ascii_request_id_is_replaced_not_refused(server: int) -> None:
    response = raw_request(
        server,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: \xff\xfe\r\nConnection: close\r\n\r\n",
    )
    assert status_of(response) == 200


def test_production_without_secret_exits_naming_it(tmp_path: Path) -> None:
    result = run_cli("serve", env=base_env(tmp_path, STRONGROOM_MODE="production"))
    assert result.returncode != 0
    assert "STRONGROOM_SECRET_KEY is not set" in result.stderr


def test_production_with_wildcard_cors_exits_naming_it(tmp_path: Path) -> None:
    env = base_env(
        tmp_path,
        STRONGROOM_MODE="production",
        STRONGROOM_CORS_ORIGINS="*",
        STRONGROOM_SECRET_KEY=secrets.token_urlsafe(48),
    )
    result = run_cli("serve", env=env)
    assert result.returncode != 0
    assert "STRONGROOM_CORS_ORIGINS allows every origin" in result.stderr
    assert "Traceback" not in result.stderr


def test_unmigrated_database_exits_with_advice(tmp_path: Path) -> None:
    result = run_cli("serve", env=base_env(tmp_path))
    assert result.returncode == 2
    assert "run `strongroom db upgrade` first" in result.stderr


@pytest.mark.postgres
def test_workers_share_a_postgres_database(tmp_path: Path, fresh_database_url: str) -> None:
    """Several gunicorn workers, each with its own pool after the fork, all ready."""
    env = base_env(tmp_path, STRONGROOM_DATABASE_URL=fresh_database_url)
    migrated = run_cli("db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            statuses = []
            deadline = time.monotonic() + 30
            while len(statuses) < 20 and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/readyz", timeout=5
                    ) as response:
                        statuses.append((response.status, json.load(response)["status"]))
                except OSError:
                    assert process.poll() is None, log_path.read_text()
                    time.sleep(0.2)
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert statuses == [(200, "ready")] * 20, log_path.read_text()
    assert "Traceback" not in log_path.read_text()
