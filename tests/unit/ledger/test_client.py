"""``LogClient`` against a fake log built from the reference implementation."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from strongroom.ledger.client import (
    MAX_BODY,
    LogClient,
    LogInconsistent,
    LogUnavailable,
    http_fetch,
)
from strongroom.ledger.merkle import leaf_hash
from strongroom.ledger.note import Checkpoint, Signer
from tests import ledger_reference as ref

ORIGIN = "files.example.com/ledger"
SIGNER = Signer(ORIGIN, hashlib.sha256(b"test signer").digest())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def make_leaves(count: int, label: str = "entry") -> list[bytes]:
    return [f"{label} {n}".encode() for n in range(count)]


class FakeLog:
    """Serves the routes of ``/api/v1/ledger`` for a list of raw leaves."""

    def __init__(self, leaves: list[bytes], signer: Signer = SIGNER) -> None:
        self.leaves = leaves
        self.signer = signer
        self.requests: list[str] = []
        self.tamper: Callable[[str, dict[str, object]], None] = lambda _path, _body: None

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = len(self.leaves) if size is None else size
        return Checkpoint(ORIGIN, size, ref.mth(self.leaves[:size]))

    def __call__(self, path: str) -> bytes:
        self.requests.append(path)
        parts = urlsplit(path)
        query = {key: int(values[0]) for key, values in parse_qs(parts.query).items()}
        if parts.path == "/api/v1/ledger/checkpoint":
            return self.signer.sign(self.checkpoint().text()).encode()
        body: dict[str, object]
        if parts.path == "/api/v1/ledger/consistency":
            old, new = query["from"], query["to"]
            proof = ref.proof(old, self.leaves[:new]) if 0 < old < new else []
            body = {"from": old, "to": new, "proof": [b64(p) for p in proof]}
        elif parts.path.startswith("/api/v1/ledger/entries/"):
            index, size = int(parts.path.rsplit("/", 1)[1]), query["tree_size"]
            body = {"index": index, "tree_size": size,
                    "leaf_hash": b64(leaf_hash(self.leaves[index])),
                    "proof": [b64(p) for p in ref.path(index, self.leaves[:size])],
                    "entry": {"index": index}}  # fmt: skip
        else:
            raise OSError(f"404 {path}")
        self.tamper(parts.path, body)
        return json.dumps(body).encode()


def test_honest_growth_is_accepted() -> None:
    log = FakeLog(make_leaves(5))
    client = LogClient(SIGNER.verifier, log)
    first = client.update(None)  # trust on first use
    assert first == log.checkpoint()
    assert log.requests == ["/api/v1/ledger/checkpoint"]
    for size in (5, 6, 8, 9, 16, 17, 40):
        log.leaves = make_leaves(size)
        latest = client.update(first)
        assert latest == log.checkpoint()
        first = latest
    assert log.requests[-1] == "/api/v1/ledger/consistency?from=17&to=40"


@pytest.mark.parametrize("old", [0, 1, 2, 3, 4, 7, 8, 13])
def test_every_older_size_is_extended(old: int) -> None:
    log = FakeLog(make_leaves(13))
    trusted = log.checkpoint(old)
    assert LogClient(SIGNER.verifier, log).update(trusted) == log.checkpoint()


def test_rollback_is_rejected() -> None:
    log = FakeLog(make_leaves(12))
    trusted = log.checkpoint()
    log.leaves = log.leaves[:5]
    with pytest.raises(LogInconsistent, match="rollback: the log now has 5 entries"):
        LogClient(SIGNER.verifier, log).update(trusted)


def test_a_forked_history_is_rejected() -> None:
    trusted = FakeLog(make_leaves(6)).checkpoint()
    same_size = FakeLog(make_leaves(6, "rewritten"))
    with pytest.raises(LogInconsistent, match="fork"):
        LogClient(SIGNER.verifier, same_size).update(trusted)
    changed = make_leaves(9)
    changed[2] = b"rewritten"
    with pytest.raises(LogInconsistent, match="does not extend the checkpoint you trusted"):
        LogClient(SIGNER.verifier, FakeLog(changed)).update(trusted)


def test_a_checkpoint_signed_by_another_key_is_rejected() -> None:
    impostor = FakeLog(make_leaves(4), Signer.generate(ORIGIN))
    with pytest.raises(LogInconsistent, match="no signature by the pinned key"):
        LogClient(SIGNER.verifier, impostor).update(None)
    other_log = FakeLog(make_leaves(4), Signer.generate("other.example/ledger"))
    with pytest.raises(LogInconsistent, match="does not verify"):
        LogClient(SIGNER.verifier, other_log).update(None)


def flip(path: str, body: dict[str, object]) -> None:
    proof = body["proof"]
    assert isinstance(proof, list)
    proof[0] = b64(bytes(32))


@pytest.mark.parametrize(
    "tamper",
    [
        flip,
        lambda _p, body: body.update(proof=body["proof"][:-1]),
        lambda _p, body: body.update(proof=[*body["proof"], b64(bytes(32))]),
        lambda _p, body: body.update(proof=["not base64!"]),
        lambda _p, body: body.update(proof=[b64(bytes(31))]),
        lambda _p, body: body.update(proof=[b64(bytes(32))] * 129),
        lambda _p, body: body.update(proof="AAAA"),
        lambda _p, body: body.update({"from": 1}),
        lambda _p, body: body.update(to=True),
        lambda _p, body: body.pop("proof"),
    ],
)
def test_a_tampered_consistency_proof_is_rejected(
    tamper: Callable[[str, dict[str, object]], None],
) -> None:
    log = FakeLog(make_leaves(11))
    trusted = log.checkpoint(6)
    log.tamper = tamper
    with pytest.raises(LogInconsistent):
        LogClient(SIGNER.verifier, log).update(trusted)


@pytest.mark.parametrize(
    "body", [b"x" * (MAX_BODY + 1), b"\xff", b"[1, 2]", b"{", b"[" * 100_000, "é".encode()]
)
def test_oversized_or_malformed_answers_are_rejected(body: bytes) -> None:
    log = FakeLog(make_leaves(11))
    trusted = log.checkpoint(6)

    def fetch(path: str) -> bytes:
        return body if "consistency" in path else log(path)

    with pytest.raises(LogInconsistent):
        LogClient(SIGNER.verifier, fetch).update(trusted)
    with pytest.raises(LogInconsistent, match="over"):
        LogClient(SIGNER.verifier, lambda _path: b"x" * (MAX_BODY + 1)).update(None)


def test_an_unreachable_log_is_unavailable() -> None:
    def fetch(path: str) -> bytes:
        raise ConnectionRefusedError(path)

    with pytest.raises(LogUnavailable, match="GET /api/v1/ledger/checkpoint failed"):
        LogClient(SIGNER.verifier, fetch).update(None)


def test_verify_entry_accepts_true_inclusion_and_rejects_the_rest() -> None:
    leaves = make_leaves(21)
    log = FakeLog(leaves)
    client = LogClient(SIGNER.verifier, log)
    checkpoint = client.update(None)
    for index in range(21):
        client.verify_entry(checkpoint, index, leaf_hash(leaves[index]))
    with pytest.raises(LogInconsistent, match="another leaf hash"):
        client.verify_entry(checkpoint, 3, leaf_hash(b"something else"))
    with pytest.raises(LogInconsistent, match="not in the tree of size 21"):
        client.verify_entry(checkpoint, 21, leaf_hash(leaves[0]))
    with pytest.raises(ValueError, match="32 bytes"):
        client.verify_entry(checkpoint, 0, b"short")
    log.tamper = flip
    with pytest.raises(LogInconsistent, match="not proven"):
        client.verify_entry(checkpoint, 5, leaf_hash(leaves[5]))
    log.tamper = lambda _p, body: body.update(tree_size=20)
    with pytest.raises(LogInconsistent, match="tree_size=20"):
        client.verify_entry(checkpoint, 5, leaf_hash(leaves[5]))
    log.tamper = lambda _p, body: body.update(index=6, leaf_hash=b64(leaf_hash(leaves[6])))
    with pytest.raises(LogInconsistent, match="index=6"):
        client.verify_entry(checkpoint, 5, leaf_hash(leaves[5]))
    # A proof for an honest entry against a root the log never had fails too.
    forged = Checkpoint(ORIGIN, 21, ref.mth(make_leaves(21, "other")))
    log.tamper = lambda _p, _body: None
    with pytest.raises(LogInconsistent, match="not proven"):
        client.verify_entry(forged, 5, leaf_hash(leaves[5]))


@pytest.fixture
def served_log() -> Iterator[tuple[str, FakeLog]]:
    log = FakeLog(make_leaves(9))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/huge":
                body, status = b"x" * (MAX_BODY + 10), 200
            else:
                try:
                    body, status = log(self.path), 200
                except OSError:
                    body, status = b"not found", 404
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", log
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_fetch_talks_to_a_real_server(served_log: tuple[str, FakeLog]) -> None:
    url, log = served_log
    fetch = http_fetch(url, timeout=5)
    client = LogClient(SIGNER.verifier, fetch)
    trusted = log.checkpoint(4)
    assert client.update(trusted) == log.checkpoint()
    with pytest.raises(LogUnavailable, match="HTTP 404"):
        fetch("/api/v1/nowhere")
    assert len(fetch("/huge")) == MAX_BODY + 1  # read no further than the bound
    with pytest.raises(LogInconsistent, match="over"):
        LogClient(SIGNER.verifier, lambda _path: fetch("/huge")).update(None)
    with pytest.raises(ValueError, match="not an http"):
        http_fetch("file:///etc/passwd")
    with pytest.raises(LogUnavailable):
        http_fetch("http://127.0.0.1:9/", timeout=2)("/api/v1/ledger/checkpoint")
