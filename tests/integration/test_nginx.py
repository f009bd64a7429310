"""deploy/nginx/strongroom.conf, for real: Debian's nginx on loopback with a
self-signed certificate, in front of `strongroom serve` in production mode.

Only hosts, ports and paths of the shipped file are substituted. Outside CI the test
is skipped when nginx is not installed (`make test` installs it); in CI it fails.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import http.client
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from strongroom.crypto.keys import generate_key, key_line
from strongroom.ledger.note import Signer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "nginx" / "strongroom.conf"
BIN = Path(sys.executable).parent / "strongroom"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "violet-harbour-lantern-97"
MIB = 1024 * 1024
UPLOAD_SIZE = 12 * MIB
CHUNK = 256 * 1024


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        message = "nginx is not installed (make test installs Debian's nginx package)"
        if IN_CI:
            pytest.fail(f"{message}; CI runs the nginx test", pytrace=False)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key (pyca/cryptography)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def substitute(text: str, replacements: dict[str, str]) -> str:
    """Replace each shipped value; each must be there, so a changed file fails loudly."""
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in {CONFIG.name}: update this test"
        text = text.replace(old, new)
    return text


@dataclass
class Stack:
    https_port: int
    http_port: int
    app_port: int
    prefix: Path
    cert: Path
    app_log: Path
    blobs: Path

    def connection(self) -> http.client.HTTPSConnection:
        context = ssl.create_default_context(cafile=str(self.cert))
        return http.client.HTTPSConnection(
            "localhost", self.https_port, context=context, timeout=30
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()

    def temp_files(self, name: str) -> list[Path]:
        return [p for p in (self.prefix / name).rglob("*") if p.is_file()]

    def blobs_in_progress(self) -> list[Path]:
        """The local blob store's temporary files: uploads the app is receiving."""
        return [p for p in self.blobs.rglob(".tmp-*") if p.is_file()]

    def error_log(self) -> str:
        return (self.prefix / "error.log").read_text(errors="replace")


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            assert process.poll() is None, log.read_text(errors="replace")
            time.sleep(0.1)
        else:
            return
    raise AssertionError(f"nothing listens on {port}:\n" + log.read_text(errors="replace"))


def app_env(tmp: Path, https_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(
        STRONGROOM_MODE="production",
        STRONGROOM_SECRET_KEY=secrets.token_urlsafe(48),
        STRONGROOM_LEDGER_SIGNING_KEY=Signer.generate(f"localhost:{https_port}/ledger").encode(),
        STRONGROOM_MASTER_KEYS=key_line("1", generate_key()),
        STRONGROOM_DATA_DIR=str(tmp / "var"),
        STRONGROOM_BASE_URL=f"https://localhost:{https_port}",
        STRONGROOM_TRUSTED_PROXY_HOPS="1",
        STRONGROOM_ARGON2_MEMORY_KIB=str(19 * 1024),
        STRONGROOM_ARGON2_TIME_COST="2",
        STRONGROOM_LOG_FORMAT="json",
    )
    return env


def nginx_conf(prefix: Path, site: Path) -> str:
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / (kind + '_temp')};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
user {getpass.getuser()};
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
daemon off;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
{temp}
    include {site};
}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nginx = nginx_binary()
    tmp = tmp_path_factory.mktemp("nginx")
    prefix = tmp / "nginx"
    prefix.mkdir()
    https_port, http_port, app_port = free_port(), free_port(), free_port()
    env = app_env(tmp, https_port)
    migrated = subprocess.run(
        [str(BIN), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    app_log = tmp / "app.log"
    with app_log.open("wb") as out:
        app = subprocess.Popen(
            [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(app_port), "--workers", "2"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    processes = [app]
    try:
        wait_for_port(app_port, app, app_log)
        cert, key = self_signed(tmp)
        v6 = ipv6_loopback()
        site = prefix / "strongroom.conf"
        site.write_text(
            substitute(
                CONFIG.read_text(),
                {
                    "/etc/letsencrypt/live/files.example.com/fullchain.pem": str(cert),
                    "/etc/letsencrypt/live/files.example.com/privkey.pem": str(key),
                    "/var/log/nginx/strongroom.access.log": str(prefix / "access.log"),
                    "files.example.com": "localhost",
                    "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
                    "listen 80;": f"listen 127.0.0.1:{http_port};",
                    "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
                    "listen [::]:80;": f"listen [::1]:{http_port};" if v6 else "",
                    "listen [::]:443 ssl;": f"listen [::1]:{https_port} ssl;" if v6 else "",
                },
            )
        )
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_conf(prefix, site))
        command = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        checked = subprocess.run(
            [*command, "-t"], capture_output=True, text=True, timeout=30, check=False
        )
        assert checked.returncode == 0, checked.stderr
        nginx_out = prefix / "nginx.out"
        with nginx_out.open("wb") as out:
            proxy = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        processes.append(proxy)
        wait_for_port(https_port, proxy, prefix / "error.log")
        yield Stack(https_port, http_port, app_port, prefix, cert, app_log, tmp / "var" / "blobs")
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    credentials = json.dumps({"username": "nginx-user", "password": PASSWORD}).encode()
    json_headers = {"Content-Type": "application/json"}
    registered, body = stack.request("POST", "/api/v1/auth/register", credentials, json_headers)
    assert registered.status == 201, body
    signed_in, body = stack.request("POST", "/api/v1/auth/login", credentials, json_headers)
    assert signed_in.status == 200, body
    assert "; Secure" in signed_in.headers["Set-Cookie"]
    value: str = json.loads(body)["token"]
    return value


def assert_security_headers(response: http.client.HTTPResponse) -> None:
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"]
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response.headers["Content-Security-Policy"]
    # One copy of each: nginx adds none of its own.
    assert len(response.headers.get_all("Content-Security-Policy") or []) == 1
    assert len(response.headers.get_all("Strict-Transport-Security") or []) == 1


def test_upload_and_download_stream_through_nginx(stack: Stack, token: str) -> None:
    data = secrets.token_bytes(UPLOAD_SIZE)
    mid_upload: dict[str, list[Path]] = {}

    def body() -> Iterator[bytes]:
        for offset in range(0, UPLOAD_SIZE, CHUNK):
            yield data[offset : offset + CHUNK]
            if offset == UPLOAD_SIZE // 2:
                # Half the body sent, and the client pauses: if nginx streams, the app
                # is already encrypting it into a blob; if nginx buffered, the app has
                # seen nothing yet.
                deadline = time.monotonic() + 10
                while not stack.blobs_in_progress() and time.monotonic() < deadline:
                    time.sleep(0.05)
                mid_upload["blobs"] = stack.blobs_in_progress()
                mid_upload["spooled"] = stack.temp_files("client_body_temp")

    conn = stack.connection()
    conn.putrequest("POST", "/api/v1/files")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("X-File-Name", "streamed.bin")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for chunk in body():
        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.send(b"0\r\n\r\n")
    uploaded = conn.getresponse()
    created = json.loads(uploaded.read())
    conn.close()
    assert uploaded.status == 201, created
    assert created["size"] == UPLOAD_SIZE
    assert_security_headers(uploaded)
    # Streamed: half-way through, the app was already writing the blob, and nginx
    # never spooled the body to a temporary file.
    assert mid_upload["blobs"], "the app saw nothing of the upload before its end"
    assert mid_upload["spooled"] == []
    assert stack.temp_files("client_body_temp") == []

    response, content = stack.request(
        "GET",
        f"/api/v1/files/{created['id']}/content",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200
    assert hashlib.sha256(content).digest() == hashlib.sha256(data).digest()
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert_security_headers(response)
    # The plaintext never touched the proxy's disk either.
    assert stack.temp_files("proxy_temp") == []
    assert "buffered to a temporary file" not in stack.error_log()


def test_pages_and_api_errors_carry_the_headers(stack: Stack) -> None:
    page, html = stack.request("GET", "/login")
    assert page.status == 200
    assert b"<form" in html
    assert_security_headers(page)
    problem, body = stack.request("GET", "/api/v1/files")
    assert problem.status == 401
    assert problem.headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["request_id"] == problem.headers["X-Request-ID"]
    assert_security_headers(problem)


def test_plain_http_is_redirected_by_nginx(stack: Stack) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=10)
    conn.request("POST", "/api/v1/files?name=x", headers={"Host": "evil.example"})
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 308
    assert response.headers["Location"] == "https://localhost/api/v1/files?name=x"


def test_forged_forwarded_headers_do_not_reach_the_app(stack: Stack, token: str) -> None:
    request_id = secrets.token_hex(8)
    response, _ = stack.request(
        "GET",
        "/api/v1/files",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Forwarded-Proto": "http",  # would make the app redirect, were it believed
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Host": "evil.example",
            "X-Request-ID": request_id,
        },
    )
    assert response.status == 200  # not 308: nginx's X-Forwarded-Proto replaced the forgery
    assert_security_headers(response)
    app_request_id = response.headers["X-Request-ID"]
    assert app_request_id != request_id  # nginx's own id, shared with its access log
    assert eventually(lambda: f"rid={app_request_id}" in (stack.prefix / "access.log").read_text())
    lines = [
        json.loads(line) for line in stack.app_log.read_text().splitlines() if line.startswith("{")
    ]
    (access,) = [
        line for line in lines if line.get("request_id") == app_request_id and "status" in line
    ]
    assert access["remote_addr"] == "127.0.0.1"  # the address nginx saw, not the forged one


def eventually(check: Callable[[], bool], timeout: float = 10) -> bool:
    """Whether ``check`` holds within ``timeout`` (log lines are written after the answer)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_metrics_are_not_served_publicly(stack: Stack) -> None:
    for path in ("/metrics", "/metrics/", "/metrics/x"):
        response, _ = stack.request("GET", path)
        assert response.status == 404


def test_health_passes_through(stack: Stack) -> None:
    response, body = stack.request("GET", "/readyz")
    assert response.status == 200, body
