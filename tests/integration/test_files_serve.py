"""Files through a real gunicorn: crashes mid-upload, clients that go away or send too
much, names and ranges over the wire, and damage found while a download streams."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.auth_helpers import STRONG_PASSWORD
from tests.integration.test_serve import BIN, base_env, free_port, run_cli
from tests.integration.test_serve_auth import call, gunicorn

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
TEMP_PREFIX = ".tmp-"  # strongroom.storage.local.TEMP_PREFIX
TWO_HOURS = 2 * 3600
Response = tuple[int, dict[str, str], bytes]


# --- the server's surroundings -------------------------------------------------------


def cli_env(tmp_path: Path) -> dict[str, str]:
    """What the CLI needs to find the server's database, blobs and development keys."""
    return base_env(tmp_path, STRONGROOM_MODE="testing")


def blobs_root(tmp_path: Path) -> Path:
    return tmp_path / "var" / "blobs"


def leaf_files(tmp_path: Path) -> list[Path]:
    """Every file two shard levels down: committed blobs and interrupted uploads."""
    return sorted(p for p in blobs_root(tmp_path).glob("*/*/*") if p.is_file())


def temp_files(tmp_path: Path) -> list[Path]:
    return [p for p in leaf_files(tmp_path) if p.name.startswith(TEMP_PREFIX)]


def committed_blobs(tmp_path: Path) -> dict[str, bytes]:
    """Key -> SHA-256 of each committed blob file."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).digest()
        for p in leaf_files(tmp_path)
        if not p.name.startswith(TEMP_PREFIX)
    }


def referenced_keys(tmp_path: Path) -> set[str]:
    """Blob keys the file rows refer to, read behind the API's back."""
    uri = f"file:{tmp_path / 'var' / 'strongroom.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        return {key for (key,) in db.execute("SELECT blob_key FROM files")}


def age(paths: list[Path], seconds: int) -> None:
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


def poll(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether ``condition`` became true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    assert poll(condition, timeout), f"timed out waiting for {what}"


# --- HTTP ----------------------------------------------------------------------------


def port_of(base: str) -> int:
    port = urlsplit(base).port
    assert port is not None
    return port


def sign_in(base: str, username: str = "filer") -> str:
    """Register ``username`` and return a bearer session token."""
    opener = urllib.request.build_opener()
    account = {"username": username, "password": STRONG_PASSWORD}
    status, _ = call(opener, "POST", f"{base}/api/v1/auth/register", account)
    assert status in {201, 409}
    status, login = call(opener, "POST", f"{base}/api/v1/auth/login", account)
    assert status == 200, login
    token: str = login["token"]
    return token


def request(
    base: str, method: str, path: str, token: str, body: bytes | None = None, **headers: str
) -> Response:
    connection = http.client.HTTPConnection("127.0.0.1", port_of(base), timeout=30)
    try:
        connection.request(
            method, path, body=body, headers={"Authorization": f"Bearer {token}", **headers}
        )
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def upload(base: str, token: str, data: bytes, name: str) -> dict[str, Any]:
    status, _, body = request(
        base,
        "POST",
        f"/api/v1/files?name={quote(name)}",
        token,
        data,
        **{"Content-Type": "application/octet-stream"},
    )
    assert status == 201, body
    meta: dict[str, Any] = json.loads(body)
    return meta


def listed(base: str, token: str) -> dict[str, dict[str, Any]]:
    status, _, body = request(base, "GET", "/api/v1/files?limit=200", token)
    assert status == 200, body
    page = json.loads(body)
    assert page["total"] == len(page["items"])
    return {item["id"]: item for item in page["items"]}


def download(base: str, token: str, file_id: str, **headers: str) -> Response:
    return request(base, "GET", f"/api/v1/files/{file_id}/content", token, **headers)


def upload_head(token: str, name: str, length: int) -> bytes:
    return (
        f"POST /api/v1/files?name={quote(name)} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or resets) the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def split_responses(data: bytes) -> list[Response]:
    """HTTP/1.1 responses one after another on a connection; the last may be short."""
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, data[:200]
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        length = int(headers.get("content-length", "0"))
        responses.append((int(status_line.split(" ")[1]), headers, rest[:length]))
        data = rest[length:]
    return responses


def assert_healthy(base: str) -> None:
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:  # noqa: S310  # loopback
        assert response.status == 200


# --- processes -----------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name (state first), or None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def server_processes(port: int) -> list[int]:
    """The gunicorn master started by this test process for ``port``, and its workers."""
    masters = [
        pid
        for pid in children_of(os.getpid())
        if f"--port\x00{port}\x00".encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(masters) == 1, masters
    workers = children_of(masters[0])
    assert len(workers) == 2, workers
    return [masters[0], *workers]


def dead(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] in {"Z", "X"}


# --- 1. kill -9 while uploads are in flight ------------------------------------------

IN_FLIGHT = 6
TRICKLE_CHUNK = 64 * 1024


class TrickleUpload(threading.Thread):
    """A raw upload sent in small pieces with pauses, that stops short of its end until
    ``release`` is set: it is guaranteed to be mid-flight when the server dies."""

    def __init__(self, port: int, token: str, index: int, release: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.index, self.release = port, token, index, release
        self.data = secrets.token_bytes(3 * MIB + index * 4099)
        # Each holds at a different point, so the interrupted temp files differ in size.
        self.hold_at = (index + 1) * len(self.data) // (IN_FLIGHT + 2)
        self.sent = 0
        self.response: bytes | None = None
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                sock.sendall(upload_head(self.token, f"trickle-{self.index}.bin", len(self.data)))
                while self.sent < len(self.data):
                    if self.sent >= self.hold_at:
                        self.release.wait(timeout=30)
                    piece = self.data[self.sent : self.sent + TRICKLE_CHUNK]
                    sock.sendall(piece)
                    self.sent += len(piece)
                    time.sleep(0.01)
                self.response = read_until_closed(sock)
        except OSError as err:
            self.error = err


def crash_during_uploads(tmp_path: Path) -> tuple[dict[str, bytes], int]:
    """Store two files, start six more, SIGKILL the server and all its workers while
    they are in flight. Returns the stored files by id, and how many of the uploads
    the server was writing (each has a temp file) when it died."""
    with gunicorn(tmp_path) as base:
        token = sign_in(base)
        finished = {}
        for n in range(2):
            data = secrets.token_bytes(MIB + n)
            finished[upload(base, token, data, f"whole-{n}.bin")["id"]] = data

        release = threading.Event()
        uploads = [TrickleUpload(port_of(base), token, i, release) for i in range(IN_FLIGHT)]
        # Started one by one, so each new temp file belongs to the upload just started.
        # Two workers of four threads: should one worker accept five connections, the
        # fifth waits for a thread (its bytes sit in kernel buffers), still in flight.
        writing = []
        for u in uploads:
            before = len(temp_files(tmp_path))
            u.start()
            if poll(lambda n=before: len(temp_files(tmp_path)) > n, timeout=2):
                writing.append(u)
        assert len(writing) >= 4  # one worker's threads at least
        wait_for(lambda: all(u.sent >= u.hold_at for u in writing), "the uploads to hold")
        wait_for(lambda: all(u.sent > 0 for u in uploads), "every upload to send")

        processes = server_processes(port_of(base))
        for pid in processes:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: all(dead(pid) for pid in processes), "the server to die")
        release.set()
        for u in uploads:
            u.join(timeout=30)
            assert not u.is_alive()
            # Nobody answered: the connection broke, or closed without a response.
            assert u.error is not None or u.response == b"", (u.index, u.response)
    return finished, len(writing)


def copy_as_orphan(tmp_path: Path, source: Path) -> Path:
    """A committed blob no row refers to, as a crash between the two steps leaves."""
    key = secrets.token_urlsafe(24)
    orphan = blobs_root(tmp_path) / key[0:2] / key[2:4] / key
    orphan.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(source, orphan)
    return orphan


def test_kill_9_during_uploads_leaves_only_whole_files(tmp_path: Path) -> None:
    finished, writing = crash_during_uploads(tmp_path)
    # A crash runs no cleanup: every upload being written left its temp file.
    leftovers = temp_files(tmp_path)
    assert len(leftovers) == writing
    committed_before = committed_blobs(tmp_path)

    env = cli_env(tmp_path)
    with gunicorn(tmp_path) as base:
        token = sign_in(base)
        files = listed(base, token)
        # Exactly the uploads that got their 201; no trace of the interrupted ones.
        assert set(files) == set(finished)
        for file_id, data in finished.items():
            status, _, body = download(base, token, file_id)
            assert status == 200
            assert hashlib.sha256(body).hexdigest() == files[file_id]["sha256"]
            assert body == data
        # Every row has its blob, whole and matching its row and ledger entry.
        verified = run_cli("storage", "verify", env=env)
        assert verified.returncode == 0, verified.stderr
        assert "checked 2 files" in verified.stdout

        # Leftovers older than the grace period go; younger ones may be an upload still
        # running, so they stay. Committed blobs (young too) are not even examined.
        old, young = leftovers[:2], leftovers[2:]
        age(old, TWO_HOURS)
        gc = run_cli("storage", "gc", "--grace", "3600", env=env)
        assert gc.returncode == 0, gc.stderr
        assert "examined 0 blobs" in gc.stdout
        assert "2 interrupted uploads cleaned" in gc.stdout
        assert temp_files(tmp_path) == young
        assert committed_blobs(tmp_path) == committed_before

        # A blob committed without its row goes once old enough, with the rest of the
        # leftovers; the referenced blobs stay.
        referenced = referenced_keys(tmp_path)
        assert len(referenced) == 2
        source = next(p for p in leaf_files(tmp_path) if p.name in referenced)
        orphan = copy_as_orphan(tmp_path, source)
        # The crash may itself have committed a rowless blob; it must go too.
        unreferenced = set(committed_blobs(tmp_path)) - referenced
        assert orphan.name in unreferenced
        age(leaf_files(tmp_path), TWO_HOURS)
        gc = run_cli("storage", "gc", "--grace", "3600", env=env)
        assert gc.returncode == 0, gc.stderr
        assert f"removed {len(unreferenced)} unreferenced" in gc.stdout
        assert f"{len(young)} interrupted uploads cleaned" in gc.stdout
        assert temp_files(tmp_path) == []
        assert committed_blobs(tmp_path) == {k: committed_before[k] for k in referenced}
        for file_id, data in finished.items():
            assert download(base, token, file_id)[2] == data


# --- 2. and 3. clients that stop early or send too much ------------------------------


def test_client_disconnect_mid_upload_leaves_nothing(tmp_path: Path) -> None:
    with gunicorn(tmp_path) as base:
        token = sign_in(base)
        with socket.create_connection(("127.0.0.1", port_of(base)), timeout=10) as sock:
            sock.sendall(upload_head(token, "gone.bin", 5 * MIB))
            sock.sendall(secrets.token_bytes(MIB))
            # The server is writing the upload before the client goes away.
            wait_for(lambda: len(temp_files(tmp_path)) == 1, "the upload's temp file")

        wait_for(lambda: leaf_files(tmp_path) == [], "the temp file to be removed", timeout=5)
        # Gunicorn reports the vanished client as the end of the body: a short upload.
        wait_for(
            lambda: "request refused: upload-incomplete" in (tmp_path / "server.log").read_text(),
            "the refusal to be logged",
            timeout=5,
        )
        assert listed(base, token) == {}
        assert_healthy(base)
        data = secrets.token_bytes(1000)
        file_id = upload(base, token, data, "after.bin")["id"]
        assert download(base, token, file_id)[2] == data
        assert len(leaf_files(tmp_path)) == 1


def test_body_longer_than_content_length_stores_the_declared_bytes(tmp_path: Path) -> None:
    with gunicorn(tmp_path) as base:
        token = sign_in(base)
        declared = secrets.token_bytes(100)
        # The surplus would parse as a request line if the server read on after the body.
        surplus = b"Z" * 196 + b"\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port_of(base)), timeout=15) as sock:
            sock.sendall(upload_head(token, "exact.bin", 100) + declared + surplus)
            responses = split_responses(read_until_closed(sock))

        # Observed: gunicorn ends the body at Content-Length, so the upload stores the
        # first 100 bytes (201); the 200 bytes after it are read as the next request on
        # the keep-alive connection, refused as a malformed request line with a 400
        # problem, and the connection is closed.
        (status, _, body), *rest = responses
        assert status == 201, body
        meta = json.loads(body)
        assert meta["size"] == 100
        assert meta["sha256"] == hashlib.sha256(declared).hexdigest()
        assert [(s, h["content-type"]) for s, h, _ in rest] == [(400, "application/problem+json")]

        files = listed(base, token)
        assert [f["size"] for f in files.values()] == [100]
        assert download(base, token, meta["id"])[2] == declared
        assert len(leaf_files(tmp_path)) == 1
        assert_healthy(base)


# --- 4. names, digests and ranges over the wire; damage while streaming ---------------


def test_download_headers_over_the_wire(tmp_path: Path) -> None:
    name = "Résumé 日本.pdf"
    data = secrets.token_bytes(5000)
    with gunicorn(tmp_path) as base:
        token = sign_in(base)
        meta = upload(base, token, data, name)
        assert meta["name"] == name

        status, headers, body = download(base, token, meta["id"])
        assert (status, body) == (200, data)
        assert headers["content-length"] == str(len(data))
        # An ASCII fallback for old clients, then the exact name (RFC 6266 / 8187).
        disposition = headers["content-disposition"]
        assert disposition.isascii()
        assert disposition.startswith('attachment; filename="')
        assert disposition.endswith("; filename*=UTF-8''R%C3%A9sum%C3%A9%20%E6%97%A5%E6%9C%AC.pdf")
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert headers["repr-digest"] == f"sha-256=:{digest}:"

        status, headers, body = download(base, token, meta["id"], Range="bytes=10-19")
        assert (status, body) == (206, data[10:20])
        assert headers["content-range"] == f"bytes 10-19/{len(data)}"
        assert headers["content-length"] == "10"
        # The digest is of the whole representation, not of the part sent.
        assert headers["repr-digest"] == f"sha-256=:{digest}:"


def test_a_utf8_name_in_the_header_is_kept_or_refused(tmp_path: Path) -> None:
    """Header values are bytes, and curl in a UTF-8 terminal sends a name as UTF-8.
    Whatever the server makes of them, it must not store another name."""
    with gunicorn(tmp_path) as base:
        token = sign_in(base)
        with socket.create_connection(("127.0.0.1", port_of(base)), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {token}\r\n".encode()
                + b"Content-Type: application/octet-stream\r\nContent-Length: 5\r\n"
                + "X-File-Name: Résumé.pdf\r\n".encode()
                + b"Connection: close\r\n\r\nhello"
            )
            ((status, _, body),) = split_responses(read_until_closed(sock))
        if status == 201:
            assert json.loads(body)["name"] == "Résumé.pdf"
        else:
            assert 400 <= status < 500, body
            assert listed(base, token) == {}


@contextmanager
def gunicorn_log_checked_by_caller(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``test_serve_auth.gunicorn``'s server, but the test judges the log: a download
    cut short by damage aborts its response with an exception, which gunicorn logs
    with a traceback by design."""
    env = base_env(
        tmp_path,
        STRONGROOM_MODE="testing",
        STRONGROOM_TESTING_FAST_PASSWORD_HASHING="true",
        STRONGROOM_ARGON2_MEMORY_KIB="64",
        STRONGROOM_ARGON2_TIME_COST="1",
        STRONGROOM_ARGON2_PARALLELISM="1",
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

            def up() -> bool:
                assert process.poll() is None, log_path.read_text()
                try:
                    assert_healthy(base)
                except OSError:
                    return False
                return True

            wait_for(up, "the server to start", timeout=30)
            yield base, log_path
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_damage_mid_download_never_sends_wrong_bytes(tmp_path: Path) -> None:
    data = secrets.token_bytes(5 * MIB)
    with gunicorn_log_checked_by_caller(tmp_path) as (base, log_path):
        token = sign_in(base)
        file_id = upload(base, token, data, "big.bin")["id"]
        (blob,) = leaf_files(tmp_path)
        with blob.open("r+b") as handle:
            handle.seek(blob.stat().st_size // 2)
            byte = handle.read(1)[0]
            handle.seek(-1, os.SEEK_CUR)
            handle.write(bytes([byte ^ 0x01]))

        with socket.create_connection(("127.0.0.1", port_of(base)), timeout=30) as sock:
            sock.sendall(
                f"GET /api/v1/files/{file_id}/content HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode()
            )
            received = read_until_closed(sock)
        head, _, body = received.partition(b"\r\n\r\n")
        (status, headers, _), *_ = split_responses(head + b"\r\n\r\n")
        if status == 500:  # the damage was found before the headers went out
            assert headers["content-type"] == "application/problem+json"
            assert json.loads(body)["type"] == "urn:strongroom:problem:file-corrupted"
        else:
            # Found while streaming: the body stops short of the announced length, and
            # what did arrive is the true prefix.
            assert status == 200
            assert int(headers["content-length"]) == len(data)
            assert 0 < len(body) < len(data)
            assert body == data[: len(body)]
        assert_healthy(base)

        verified = run_cli("storage", "verify", env=cli_env(tmp_path))
        assert verified.returncode == 1
        assert f"DAMAGED file {file_id}" in verified.stderr
        assert "checked 1 files" in verified.stdout

    # The damage is logged once as a sentence (and ledgered as file:corrupt). When the
    # stream was cut, gunicorn also logs the exception that aborted it: one record,
    # whose chained tracebacks end in FileCorrupted; no other traceback anywhere.
    log = log_path.read_text()
    assert f"stored file failed verification file_id={file_id}" in log
    before, marker, after = log.partition("gunicorn.error [-] Error handling request\n")
    assert "Traceback" not in before
    assert bool(marker) == (status == 200)
    if marker:
        record, *_ = re.split(r"\n(?=\d{4}-\d\d-\d\d )", after, maxsplit=1)
        assert record.count("Traceback") == after.count("Traceback") == 2
        assert "SegmentAuthError: segment" in record
        assert record.rstrip().endswith(
            "FileCorrupted: The stored file failed its integrity check; "
            "nothing unverified was sent."
        )
