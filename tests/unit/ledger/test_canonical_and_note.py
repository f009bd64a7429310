"""Canonical event encoding and signed checkpoints, against the vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.ledger.canonical import CanonicalError, canonical_bytes, parse_canonical
from strongroom.ledger.note import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    open_checkpoint,
    open_note,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "ledger"
CANONICAL = json.loads((VECTORS / "canonical.json").read_text())
NOTES = json.loads((VECTORS / "note.json").read_text())


@pytest.mark.parametrize("case", CANONICAL, ids=lambda c: c["canonical"][:30])
def test_canonical_vectors(case: dict[str, Any]) -> None:
    expected = case["canonical"].encode("utf-8")
    assert canonical_bytes(case["value"]) == expected
    assert parse_canonical(expected) == case["value"]


@pytest.mark.parametrize(
    "value", [1.5, float("nan"), 2**53, -(2**53), {1: "x"}, "\ud800", b"bytes", {"a": {1.0}}]
)
def test_values_without_a_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(CanonicalError):
        canonical_bytes(value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',
        b'{"a": 2}',
        b'{"a":1.0}',
        b'{"a":1,"a":1}',
        b"\xff",
        b"nul",
        b'{"a":' + b"9" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_non_canonical_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        parse_canonical(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",))), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_round_trip(value: object) -> None:
    encoded = canonical_bytes(value)
    assert parse_canonical(encoded) == value
    assert canonical_bytes(json.loads(encoded)) == encoded


def test_key_vectors_round_trip() -> None:
    signer = Signer.parse(NOTES["signer_key"])
    assert signer.encode() == NOTES["signer_key"]
    assert signer.verifier.encode() == NOTES["verifier_key"]
    assert Verifier.parse(NOTES["verifier_key"]) == signer.verifier
    assert signer.sign(NOTES["checkpoint_text"]) == NOTES["signed_note"]  # Ed25519 is deterministic


@pytest.mark.parametrize("case", NOTES["valid"], ids=lambda c: c["name"])
def test_valid_notes_open(case: dict[str, str]) -> None:
    verifier = Verifier.parse(NOTES["verifier_key"])
    checkpoint = open_checkpoint(case["note"], verifier)
    assert checkpoint.text() == NOTES["checkpoint_text"]
    assert checkpoint.size == 70


@pytest.mark.parametrize("case", NOTES["invalid"], ids=lambda c: c["name"])
def test_invalid_notes_are_refused_with_their_reason(case: dict[str, str]) -> None:
    verifier = Verifier.parse(NOTES["verifier_key"])
    with pytest.raises(NoteError, match=case["error"]):
        open_checkpoint(case["note"], verifier)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "example.com/ledger",
        "example.com/ledger+00000000+AQ==",
        "example.com/ledger+deadbeef+" + "A" * 44,
        "a b+00000000+" + "A" * 44,
    ],
)
def test_malformed_verifier_keys_are_refused(key: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(key)


def test_a_key_with_another_name_or_a_wrong_id_is_refused() -> None:
    real = Verifier.parse(NOTES["verifier_key"])
    _, key_hex, encoded = NOTES["verifier_key"].split("+", 2)
    with pytest.raises(NoteError, match="id does not match"):
        Verifier.parse(f"other.example+{key_hex}+{encoded}")
    impostor = Signer.generate(real.name).verifier
    with pytest.raises(NoteError, match="no signature by the pinned key"):
        open_checkpoint(NOTES["signed_note"], impostor)


@pytest.mark.parametrize(
    "text",
    [
        "x\n1\nAAAA\n",
        "x\n01\n" + "A" * 43 + "=\n",
        "x\n-1\n" + "A" * 43 + "=\n",
        "\n1\n\n",
        "x\n1\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


def test_huge_or_binary_notes_are_refused_quickly() -> None:
    verifier = Verifier.parse(NOTES["verifier_key"])
    with pytest.raises(NoteError, match="over"):
        open_note(b"x" * (17 * 1024), verifier)
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(b"\xff\xfe\n\n", verifier)


@given(st.data())
def test_any_single_byte_change_to_a_checkpoint_fails(data: st.DataObject) -> None:
    verifier = Verifier.parse(NOTES["verifier_key"])
    note = bytearray(NOTES["signed_note"].encode("utf-8"))
    position = data.draw(st.integers(0, len(note) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != note[position]))
    note[position] = replacement
    with pytest.raises(NoteError):
        open_checkpoint(bytes(note), verifier)


def test_non_canonical_base64_in_a_signature_is_refused() -> None:
    """The last base64 character of a 68-byte signature carries 2 unused bits; flipping
    them decodes to the same bytes, and must still be refused."""
    verifier = Verifier.parse(NOTES["verifier_key"])
    note: str = NOTES["signed_note"]
    head, _, tail = note.rstrip("\n").rpartition(" ")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = tail.rstrip("=")[-1]
    twin = alphabet[alphabet.index(last) ^ 1]
    forged = f"{head} {tail.rstrip('=')[:-1]}{twin}{'=' * tail.count('=')}\n"
    with pytest.raises(NoteError, match="canonical base64"):
        open_checkpoint(forged, verifier)
