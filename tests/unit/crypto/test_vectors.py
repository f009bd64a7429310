"""The file format and key wrapping against the committed vectors in
``tests/vectors/file_format``, and the vectors against their generator."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from strongroom.crypto import exceptions
from strongroom.crypto.format import parse_header
from strongroom.crypto.keys import LocalKeyring, WrappedKey
from strongroom.crypto.stream import decrypt_chunks, encrypt_chunks

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "file_format"
STREAM = json.loads((VECTORS / "stream.json").read_text(encoding="utf-8"))
WRAP = json.loads((VECTORS / "wrap.json").read_text(encoding="utf-8"))
CASES = [("stream", c) for c in STREAM["cases"]] + [("wrap", c) for c in WRAP["cases"]]


def _chunks(data: bytes, size: int | None) -> list[bytes]:
    if size is None:
        return [data]
    return [data[i : i + size] for i in range(0, len(data), size)]


def _decrypt(case: dict[str, Any], chunk_size: int | None) -> bytes:
    stored = bytes.fromhex(case["ciphertext"])
    pieces = decrypt_chunks(
        _chunks(stored, chunk_size),
        data_key=bytes.fromhex(case["data_key"]),
        file_id=case["file_id"],
    )
    return b"".join(pieces)


def _unwrap(case: dict[str, Any]) -> bytes:
    keyring = LocalKeyring({v: bytes.fromhex(k) for v, k in case["keyring"].items()})
    wrapped = WrappedKey(version=case["version"], blob=bytes.fromhex(case["blob"]))
    return keyring.unwrap(wrapped, file_id=case["file_id"])


def _check_stream(case: dict[str, Any]) -> None:
    # The outcome must not depend on how the stored bytes arrive.
    for chunk_size in (None, 1, 13):
        if case["expect"] == "ok":
            assert _decrypt(case, chunk_size).hex() == case["plaintext"]
            continue
        expected = getattr(exceptions, case["expect"])
        with pytest.raises(exceptions.FormatError) as caught:
            _decrypt(case, chunk_size)
        assert type(caught.value) is expected, (chunk_size, caught.value)
    if case["expect"] == "ok":  # the encryptor writes exactly these bytes for this header
        stored = bytes.fromhex(case["ciphertext"])
        again = encrypt_chunks(
            [bytes.fromhex(case["plaintext"])],
            data_key=bytes.fromhex(case["data_key"]),
            file_id=case["file_id"],
            header=parse_header(stored),
        )
        assert b"".join(again) == stored


def _check_wrap(case: dict[str, Any]) -> None:
    if case["expect"] == "ok":
        assert _unwrap(case).hex() == WRAP["data_key"]
        return
    with pytest.raises(exceptions.KeyringError) as caught:
        _unwrap(case)
    assert type(caught.value) is getattr(exceptions, case["expect"])


@pytest.mark.parametrize(("kind", "case"), CASES, ids=[f"{k}: {c['name']}" for k, c in CASES])
def test_vector(kind: str, case: dict[str, Any]) -> None:
    if kind == "stream":
        _check_stream(case)
    else:
        _check_wrap(case)


def test_the_vectors_cover_every_outcome() -> None:
    outcomes = {case["expect"] for _, case in CASES}
    assert outcomes == {
        "ok",
        "TruncatedHeader",
        "BadMagic",
        "UnsupportedVersion",
        "UnsupportedAlgorithm",
        "BadSegmentSize",
        "SegmentAuthError",
        "TruncatedError",
        "TrailingDataError",
        "UnwrapFailed",
        "MasterKeyUnavailable",
    }


def test_fingerprint_vectors() -> None:
    for key_hex, fingerprint in WRAP["fingerprints"].items():
        keyring = LocalKeyring({"1": bytes.fromhex(key_hex)})
        assert keyring.fingerprint("1") == fingerprint


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_vectors_are_what_the_generator_writes() -> None:
    generator = _generator()
    for name, build in generator.FILES.items():
        committed = (VECTORS / name).read_text(encoding="utf-8")
        assert generator.render(build()) == committed, f"{name} is stale: run make_vectors.py"
