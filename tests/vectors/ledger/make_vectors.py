"""Writes the ledger test vectors in this directory (run it only when the spec changes).

Roots and proofs come from ``tests/ledger_reference.py``, the straightforward recursive
implementation of RFC 9162, never from the server's code; the canonical encodings are
written out by hand-checked rules in ``docs/spec/ledger.md``.

    .venv/bin/python tests/vectors/ledger/make_vectors.py
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from strongroom.ledger.canonical import canonical_bytes  # noqa: E402
from strongroom.ledger.note import Checkpoint, Signer  # noqa: E402
from tests import ledger_reference as ref  # noqa: E402

SIZES = 70


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def leaves() -> list[bytes]:
    # Varied lengths, including the empty leaf and bytes that look like hash prefixes.
    out = [b"", b"\x00", b"\x01", b"\x00" * 32]
    out += [f"strongroom leaf {i}".encode() * (i % 5 + 1) for i in range(4, SIZES)]
    return out


def tree_vectors() -> dict[str, object]:
    data = leaves()
    return {
        "description": "RFC 9162 roots and proofs for the leaves below, sizes 1..70",
        "leaves": [b64(leaf) for leaf in data],
        "empty_root": b64(ref.mth([])),
        "roots": {str(n): b64(ref.mth(data[:n])) for n in range(1, SIZES + 1)},
        "inclusion": {
            f"{m},{n}": [b64(h) for h in ref.path(m, data[:n])]
            for n in range(1, SIZES + 1)
            for m in range(n)
        },
        "consistency": {
            f"{m},{n}": [b64(h) for h in ref.proof(m, data[:n])]
            for n in range(1, SIZES + 1)
            for m in range(1, n + 1)
        },
    }


def canonical_vectors() -> list[dict[str, object]]:
    events: list[object] = [
        {
            "v": 1, "index": 0, "time": "2026-11-28T12:00:00.000000Z",
            "tag": "account:register", "actor": "user:1", "target": "user:1",
            "details": {"ip": "203.0.113.9", "invite": None}, "request_id": None,
        },
        {"b": [True, False, None, -1, 0, 9007199254740991], "a": {}, "": []},
        {"quote\"back\\slash": "tab\tnew\nline\r\x08\x0c\x01\x1f\x7f", "é": "ü"},
        {"\ue000": "private use", "\U0001f600": "astral (sorts first in UTF-16)"},
    ]  # fmt: skip
    return [{"value": e, "canonical": canonical_bytes(e).decode("utf-8")} for e in events]


def note_vectors(root: bytes) -> dict[str, object]:
    signer = Signer("example.com/ledger", bytes(range(32)))
    other = Signer("example.com/ledger", bytes(range(32, 64)))
    text = Checkpoint("example.com/ledger", SIZES, root).text()
    note = signer.sign(text)
    witness_line = other.sign(text).splitlines()[-1]
    return {
        "signer_key": signer.encode(),
        "verifier_key": signer.verifier.encode(),
        "checkpoint_text": text,
        "signed_note": note,
        "valid": [
            {"name": "as signed", "note": note},
            {"name": "with another key's signature too", "note": note + witness_line + "\n"},
        ],
        "invalid": [
            {"name": "root changed", "note": note.replace(text.split("\n")[2], b64(b"\x00" * 32)),
             "error": "does not verify"},
            {"name": "size changed", "note": note.replace(f"\n{SIZES}\n", f"\n{SIZES + 1}\n"),
             "error": "does not verify"},
            {"name": "only someone else's signature",
             "note": f"{text}\n{witness_line.replace('example.com/ledger', 'other.example')}\n",
             "error": "no signature by the pinned key"},
            {"name": "no blank line", "note": text + note.splitlines()[-1] + "\n",
             "error": "no blank line"},
            {"name": "control character", "note": note.replace("example", "exa\x07mple", 1),
             "error": "control characters"},
            {"name": "bad base64", "note": note[:-3] + "!!\n", "error": "base64"},
            {"name": "too many signatures", "note": text + "\n" + (witness_line + "\n") * 17,
             "error": "signature lines"},
        ],
    }  # fmt: skip


def main() -> None:
    tree = tree_vectors()
    (HERE / "tree.json").write_text(json.dumps(tree, separators=(",", ":")) + "\n")
    (HERE / "canonical.json").write_text(
        json.dumps(canonical_vectors(), indent=1, ensure_ascii=False) + "\n"
    )
    root = base64.b64decode(tree["roots"][str(SIZES)])  # type: ignore[index]
    (HERE / "note.json").write_text(json.dumps(note_vectors(root), indent=1) + "\n")


if __name__ == "__main__":
    main()
