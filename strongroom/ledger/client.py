"""The client side of the ledger: follow the log and prove it never rewrote history.

Used by the CLI client and the web UI; no Flask, no database. A ``LogClient`` keeps
nothing itself: the caller stores the last checkpoint it accepted and passes it to
``update``, which returns a newer one only once it is proven to extend the old (RFC
9162 consistency proof). Responses are bounded (1 MiB, proofs of 128 hashes), and every
failure is a ``LogInconsistent``: an unverified checkpoint is never returned.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import http.client
import json
from collections.abc import Callable
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from strongroom.ledger.merkle import HASH_SIZE, ProofError, verify_consistency, verify_inclusion
from strongroom.ledger.note import Checkpoint, NoteError, Verifier, open_checkpoint

MAX_BODY = 1 << 20
MAX_PROOF = 2 * 64  # far above the 2 * log2(n) hashes any real proof holds
PREFIX = "/api/v1/ledger"
Fetch = Callable[[str], bytes]


class LogInconsistent(Exception):
    """The log's answer could not be verified: a bad signature, rollback, fork, bad proof,
    malformed or oversized response. The message says which."""


class LogUnavailable(LogInconsistent):
    """The log could not be asked (network failure or HTTP error): nothing was verified."""


def http_fetch(base_url: str, timeout: float = 10) -> Fetch:
    """A ``fetch`` doing GET ``base_url + path`` with ``urllib``, reading at most 1 MiB + 1.

    The returned function raises ``LogUnavailable`` on network and HTTP errors. Raises
    ``ValueError`` here for a base URL that is not http(s).
    """
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"{base_url!r} is not an http(s) URL")
    root = base_url.rstrip("/")

    def fetch(path: str) -> bytes:
        accept = {"Accept": "application/json, text/plain"}
        request = Request(root + path, headers=accept)  # noqa: S310  # http(s) only
        try:
            with urlopen(request, timeout=timeout) as response:  # noqa: S310  # http(s) only
                body: bytes = response.read(MAX_BODY + 1)
        except HTTPError as err:
            err.close()
            raise LogUnavailable(f"GET {path} failed: HTTP {err.code}") from err
        except (OSError, http.client.HTTPException) as err:
            raise LogUnavailable(f"GET {path} failed: {err}") from err
        return body

    return fetch


class LogClient:
    """Verifies what a Strongroom log serves against one pinned ``verifier`` key.

    ``fetch`` takes a path such as ``/api/v1/ledger/checkpoint`` and returns the body,
    raising on HTTP errors (``OSError`` from it is reported as ``LogUnavailable``).
    """

    def __init__(self, verifier: Verifier, fetch: Fetch) -> None:
        self.verifier = verifier
        self.fetch = fetch

    def update(self, trusted: Checkpoint | None) -> Checkpoint:
        """The log's latest checkpoint, once proven to extend ``trusted``.

        With ``trusted`` None the first checkpoint seen is accepted on its signature
        alone: trust on first use. Keep what this returns and pass it next time; from
        then on a rollback (a smaller size), a fork (same size, another root) or a
        rewritten history (no valid consistency proof) raises ``LogInconsistent``.
        """
        latest = self._checkpoint()
        if trusted is None:
            return latest
        if trusted.origin != self.verifier.name:
            raise LogInconsistent(f"the trusted checkpoint is for another log, {trusted.origin!r}")
        if latest.size < trusted.size:
            raise LogInconsistent(
                f"rollback: the log now has {latest.size} entries, but a checkpoint you "
                f"trusted had {trusted.size}"
            )
        if latest.size == trusted.size:
            if not hmac.compare_digest(latest.root, trusted.root):
                raise LogInconsistent(
                    f"fork: two different roots were signed for size {latest.size}"
                )
        elif trusted.size > 0:  # the empty tree is a prefix of every tree
            self._prove_consistency(trusted, latest)
        return latest

    def verify_entry(self, checkpoint: Checkpoint, index: int, leaf_hash: bytes) -> None:
        """Prove that entry ``index`` with ``leaf_hash`` is in the tree of ``checkpoint``.

        ``checkpoint`` must be one ``update`` returned. Raises ``LogInconsistent`` when
        the log cannot prove it, ``ValueError`` for a ``leaf_hash`` that is not 32 bytes.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes")
        if not 0 <= index < checkpoint.size:
            raise LogInconsistent(f"entry {index} is not in the tree of size {checkpoint.size}")
        path = f"{PREFIX}/entries/{index}?tree_size={checkpoint.size}"
        body = self._json(path)
        _expect(body, path, index=index, tree_size=checkpoint.size)
        served = _hashes([body.get("leaf_hash")], path)[0]
        if not hmac.compare_digest(served, leaf_hash):
            raise LogInconsistent(f"the log holds another leaf hash for entry {index}")
        try:
            verify_inclusion(leaf_hash, index, checkpoint.size, _proof(body, path), checkpoint.root)
        except ProofError as err:
            raise LogInconsistent(f"entry {index} is not proven in the tree: {err}") from err

    def _checkpoint(self) -> Checkpoint:
        try:
            return open_checkpoint(self._get(f"{PREFIX}/checkpoint"), self.verifier)
        except NoteError as err:
            raise LogInconsistent(f"the log's checkpoint does not verify: {err}") from err

    def _prove_consistency(self, old: Checkpoint, new: Checkpoint) -> None:
        path = f"{PREFIX}/consistency?from={old.size}&to={new.size}"
        body = self._json(path)
        _expect(body, path, **{"from": old.size, "to": new.size})
        try:
            verify_consistency(old.size, new.size, old.root, new.root, _proof(body, path))
        except ProofError as err:
            raise LogInconsistent(
                f"the log at size {new.size} does not extend the checkpoint you trusted at "
                f"size {old.size}: {err}"
            ) from err

    def _get(self, path: str) -> bytes:
        try:
            body = self.fetch(path)
        except OSError as err:
            raise LogUnavailable(f"GET {path} failed: {err}") from err
        if not isinstance(body, bytes):
            raise TypeError("fetch must return the body as bytes")
        if len(body) > MAX_BODY:
            raise LogInconsistent(f"the answer to GET {path} is over {MAX_BODY} bytes")
        return body

    def _json(self, path: str) -> dict[str, Any]:
        try:
            body = json.loads(self._get(path).decode("utf-8"))
        except (ValueError, RecursionError) as err:  # UnicodeDecodeError, JSONDecodeError
            raise LogInconsistent(f"the answer to GET {path} is not JSON") from err
        if not isinstance(body, dict):
            raise LogInconsistent(f"the answer to GET {path} is not a JSON object")
        return body


def _expect(body: dict[str, Any], path: str, **fields: int) -> None:
    for name, value in fields.items():
        found = body.get(name)
        if type(found) is not int or found != value:
            raise LogInconsistent(f"the answer to GET {path} has {name}={found!r:.40}")


def _proof(body: dict[str, Any], path: str) -> list[bytes]:
    proof = body.get("proof")
    if not isinstance(proof, list) or len(proof) > MAX_PROOF:
        raise LogInconsistent(f"the answer to GET {path} has no proof of at most {MAX_PROOF}")
    return _hashes(proof, path)


def _hashes(values: list[Any], path: str) -> list[bytes]:
    hashes = []
    for value in values:
        try:
            raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        except (binascii.Error, ValueError) as err:
            raise LogInconsistent(f"the answer to GET {path} holds bad base64") from err
        if len(raw) != HASH_SIZE:
            raise LogInconsistent(f"the answer to GET {path} holds a hash that is not 32 bytes")
        hashes.append(raw)
    return hashes
