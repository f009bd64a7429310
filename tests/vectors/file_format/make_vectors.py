"""Writes the file-format test vectors in this directory (run it only when the spec changes).

Salts, nonce prefixes and wrap nonces are fixed (derived from each case's name), so the
output is deterministic and ``tests/unit/crypto`` can regenerate it in memory and compare.
Every valid file is built twice, with ``strongroom.crypto.stream.Encryptor`` and with the
small reference sealer below written from ``docs/spec/file-format.md`` alone (AES-GCM and
HKDF straight from pyca/cryptography); the script refuses to write if they differ.

    .venv/bin/python tests/vectors/file_format/make_vectors.py
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: E402

from strongroom.crypto.format import HEADER_SIZE, TAG_SIZE, new_header  # noqa: E402
from strongroom.crypto.stream import encrypt_chunks  # noqa: E402

SEGMENT = 64
KEY = bytes(range(32))
OTHER_KEY = bytes(range(32, 64))
FILE_ID = "file-A"
OTHER_FILE_ID = "file-B"
Case = dict[str, Any]


def fixed_random(seed: str) -> Callable[[int], bytes]:
    """A deterministic stand-in for ``os.urandom`` (at most 32 bytes per call)."""
    calls = iter(range(1 << 30))
    return lambda n: hashlib.sha256(f"{seed}/{next(calls)}".encode()).digest()[:n]


def plaintext(size: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed * 7 + 1) % 251 for i in range(size))


# The reference: sections 2-4 of the spec, written out once more.


def ref_seal(
    key: bytes, header: bytes, file_id: str, *, index: int, data: bytes, last: bool
) -> bytes:
    info = b"strongroom/file/v1\x00" + header
    file_key = HKDF(hashes.SHA256(), 32, salt=header[14:46], info=info).derive(key)
    nonce = header[46:53] + struct.pack(">IB", index, last)
    fid = file_id.encode("utf-8")
    return AESGCM(file_key).encrypt(nonce, data, header + struct.pack(">H", len(fid)) + fid)


def ref_file(key: bytes, header: bytes, file_id: str, pieces: list[bytes]) -> bytes:
    sealed = [
        ref_seal(key, header, file_id, index=i, data=p, last=i == len(pieces) - 1)
        for i, p in enumerate(pieces)
    ]
    return header + b"".join(sealed)


def encrypt(
    data: bytes, *, seed: str, segment: int = SEGMENT, key: bytes = KEY, file_id: str = FILE_ID
) -> tuple[bytes, list[bytes]]:
    """The stored file and its segments (without the header), checked against the reference."""
    header = new_header(segment_size=segment, random=fixed_random(seed))
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]  # odd chunking on purpose
    stored = b"".join(encrypt_chunks(chunks, data_key=key, file_id=file_id, header=header))
    pieces = [data[i : i + segment] for i in range(0, len(data), segment)] or [b""]
    if stored != ref_file(key, header.to_bytes(), file_id, pieces):
        raise SystemExit(f"{seed}: the encryptor disagrees with the reference")
    size = segment + TAG_SIZE
    body = stored[HEADER_SIZE:]
    return stored, [body[i : i + size] for i in range(0, len(body), size)]


def case(
    name: str,
    data: bytes,
    stored: bytes,
    expect: str,
    *,
    key: bytes = KEY,
    file_id: str = FILE_ID,
    segment: int = SEGMENT,
) -> Case:
    return {
        "name": name,
        "data_key": key.hex(),
        "file_id": file_id,
        "segment_size": segment,
        "plaintext": data.hex(),
        "ciphertext": stored.hex(),
        "expect": expect,
    }


def flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= mask
    return bytes(changed)


def valid_cases() -> list[Case]:
    sizes = [
        ("empty file", 0),
        ("one byte", 1),
        ("segment size minus one", SEGMENT - 1),
        ("exactly one segment", SEGMENT),
        ("segment size plus one", SEGMENT + 1),
        ("several segments", 3 * SEGMENT + 10),
        ("exact multiple of segments", 3 * SEGMENT),
    ]
    out = [case(name, plaintext(n), encrypt(plaintext(n), seed=name)[0], "ok") for name, n in sizes]
    for name, n, segment in [
        ("smallest segment size, non-power of two", 150, 100),
        ("largest segment size", 70, 16 * 1024 * 1024),
    ]:
        data = plaintext(n)
        out.append(
            case(name, data, encrypt(data, seed=name, segment=segment)[0], "ok", segment=segment)
        )
    data = plaintext(100)
    stored = encrypt(data, seed="non-ascii file id", file_id="fichier-été-\U0001f4c4")[0]
    out.append(case("non-ASCII file id", data, stored, "ok", file_id="fichier-été-\U0001f4c4"))
    return out


def header_cases() -> list[Case]:
    data = plaintext(100)
    stored, _ = encrypt(data, seed="header cases")
    size_at = 10  # offset of the u32be segment size

    def with_size(value: int) -> bytes:
        return stored[:size_at] + value.to_bytes(4, "big") + stored[size_at + 4 :]

    variants = [
        ("empty stream", b"", "TruncatedHeader"),
        ("header cut to 52 bytes", stored[: HEADER_SIZE - 1], "TruncatedHeader"),
        ("header cut to 5 bytes", stored[:5], "TruncatedHeader"),
        ("bad magic (LF instead of CR LF)", b"STRONG\n\n" + stored[8:], "BadMagic"),
        ("not a Strongroom file", b"%PDF-1.7\n" + bytes(100), "BadMagic"),
        ("version 0", stored[:8] + b"\x00" + stored[9:], "UnsupportedVersion"),
        ("version 2", stored[:8] + b"\x02" + stored[9:], "UnsupportedVersion"),
        ("algorithm 0", stored[:9] + b"\x00" + stored[10:], "UnsupportedAlgorithm"),
        ("algorithm 2", stored[:9] + b"\x02" + stored[10:], "UnsupportedAlgorithm"),
        ("segment size 0", with_size(0), "BadSegmentSize"),
        ("segment size 63 (too small)", with_size(63), "BadSegmentSize"),
        ("segment size 16 MiB + 1 (too big)", with_size(16 * 1024 * 1024 + 1), "BadSegmentSize"),
        ("segment size 65 (valid, not the one sealed)", with_size(65), "SegmentAuthError"),
        ("header only, no segment", stored[:HEADER_SIZE], "TruncatedError"),
    ]
    return [case(name, data, blob, expect) for name, blob, expect in variants]


def segment_cases() -> list[Case]:
    data = plaintext(3 * SEGMENT + 10)  # segments 0, 1, 2 full; 3 holds 10 bytes
    stored, seg = encrypt(data, seed="segment cases")
    head = stored[:HEADER_SIZE]
    full = plaintext(3 * SEGMENT, seed=1)  # an exact multiple: its last segment is full
    full_stored, full_seg = encrypt(full, seed="exact multiple cases")
    full_head = full_stored[:HEADER_SIZE]
    other_id, _ = encrypt(data, seed="segment cases", file_id=OTHER_FILE_ID)  # same key+header
    other_salt, _ = encrypt(data, seed="another file")  # same key and id, another header
    other_key, _ = encrypt(data, seed="segment cases", key=OTHER_KEY)
    cut = HEADER_SIZE + 2 * (SEGMENT + TAG_SIZE)
    return [
        case(name, d, blob, expect)
        for name, d, blob, expect in [
            (
                "truncated at a segment boundary (last segment dropped)",
                data,
                head + b"".join(seg[:3]),
                "TruncatedError",
            ),
            ("truncated after the first segment", data, head + seg[0], "TruncatedError"),
            (
                "exact multiple, last (full) segment dropped",
                full,
                full_head + b"".join(full_seg[:2]),
                "TruncatedError",
            ),
            ("truncated inside the last segment", data, stored[:-3], "SegmentAuthError"),
            ("truncated inside a middle segment", data, stored[: cut - 5], "SegmentAuthError"),
            (
                "truncated inside the tag of the empty file's segment",
                b"",
                encrypt(b"", seed="empty")[0][:-1],
                "SegmentAuthError",
            ),
            ("middle segment dropped", data, head + seg[0] + seg[2] + seg[3], "SegmentAuthError"),
            (
                "segments 0 and 1 swapped",
                data,
                head + seg[1] + seg[0] + seg[2] + seg[3],
                "SegmentAuthError",
            ),
            (
                "segment 1 duplicated",
                data,
                head + seg[0] + seg[1] + seg[1] + seg[2] + seg[3],
                "SegmentAuthError",
            ),
            (
                "segment 1 from the same key and header but another file id",
                data,
                stored[: cut - SEGMENT - TAG_SIZE]
                + other_id[cut - SEGMENT - TAG_SIZE : cut]
                + stored[cut:],
                "SegmentAuthError",
            ),
            (
                "segment 1 from another file (same key, another salt and prefix)",
                data,
                stored[: cut - SEGMENT - TAG_SIZE]
                + other_salt[cut - SEGMENT - TAG_SIZE : cut]
                + stored[cut:],
                "SegmentAuthError",
            ),
            (
                "segment 1 from a file under another data key",
                data,
                stored[: cut - SEGMENT - TAG_SIZE]
                + other_key[cut - SEGMENT - TAG_SIZE : cut]
                + stored[cut:],
                "SegmentAuthError",
            ),
            (
                "one byte after a full last segment",
                full,
                full_stored + b"\x00",
                "TrailingDataError",
            ),
            ("last (full) segment repeated", full, full_stored + full_seg[-1], "TrailingDataError"),
            (
                "a whole segment of zeros after a full last segment",
                full,
                full_stored + bytes(SEGMENT + TAG_SIZE),
                "TrailingDataError",
            ),
            (
                "bytes after a short last segment (indistinguishable from damage)",
                data,
                stored + b"\x00",
                "SegmentAuthError",
            ),
            (
                "bytes after the empty file's segment",
                b"",
                encrypt(b"", seed="empty")[0] + b"\x00",
                "SegmentAuthError",
            ),
            (
                "empty last segment after a full one (never written; one encoding per file)",
                plaintext(SEGMENT),
                ref_file(KEY, head, FILE_ID, [plaintext(SEGMENT), b""]),
                "SegmentAuthError",
            ),
        ]
    ]


def bit_flip_cases() -> list[Case]:
    data = plaintext(2 * SEGMENT + 20)
    stored, _ = encrypt(data, seed="bit flips")
    second_segment = HEADER_SIZE + SEGMENT + TAG_SIZE
    last_segment = HEADER_SIZE + 2 * (SEGMENT + TAG_SIZE)
    regions = [
        ("magic", 3, 0x01, "BadMagic"),
        ("version", 8, 0x01, "UnsupportedVersion"),
        ("algorithm", 9, 0x80, "UnsupportedAlgorithm"),
        ("segment size, high byte", 10, 0x01, "BadSegmentSize"),
        ("segment size, to 0", 13, 0x40, "BadSegmentSize"),
        ("segment size, to 65", 13, 0x01, "SegmentAuthError"),
        ("salt, first byte", 14, 0x01, "SegmentAuthError"),
        ("salt, last byte", 45, 0x80, "SegmentAuthError"),
        ("nonce prefix, first byte", 46, 0x01, "SegmentAuthError"),
        ("nonce prefix, last byte", 52, 0x10, "SegmentAuthError"),
        ("ciphertext of segment 0", HEADER_SIZE, 0x01, "SegmentAuthError"),
        ("ciphertext of segment 1", second_segment + 33, 0x04, "SegmentAuthError"),
        ("tag of segment 0", HEADER_SIZE + SEGMENT, 0x01, "SegmentAuthError"),
        ("ciphertext of the last segment", last_segment + 5, 0x02, "SegmentAuthError"),
        ("tag of the last segment", len(stored) - 1, 0x80, "SegmentAuthError"),
    ]
    out = [
        case(f"flipped bit in the {region}", data, flip(stored, offset, mask), expect)
        for region, offset, mask, expect in regions
    ]
    out.append(case("wrong file id", data, stored, "SegmentAuthError", file_id=OTHER_FILE_ID))
    out.append(case("wrong data key", data, stored, "SegmentAuthError", key=OTHER_KEY))
    return out


def stream_vectors() -> dict[str, Any]:
    return {
        "description": "Strongroom file format v1 (docs/spec/file-format.md): decrypt "
        "'ciphertext' with 'data_key' and 'file_id'; 'expect' is 'ok' (the result is "
        "'plaintext') or the exact exception class. 'plaintext' is what was encrypted.",
        "cases": valid_cases() + header_cases() + segment_cases() + bit_flip_cases(),
    }


# Key wrapping (spec section 8.1), sealed here with fixed nonces.

MASTER = {v: hashlib.sha256(f"master key {v}".encode()).digest() for v in ("1", "2")}
DATA_KEY = hashlib.sha256(b"data key").digest()


def ref_wrap(master: bytes, version: str, file_id: str, data_key: bytes, seed: str) -> bytes:
    nonce = fixed_random(seed)(12)
    aad = b"strongroom/dek/v1\x00" + version.encode() + b"\x00" + file_id.encode("utf-8")
    return nonce + AESGCM(master).encrypt(nonce, data_key, aad)


def wrap_case(
    name: str,
    keyring: dict[str, bytes],
    version: str,
    blob: bytes,
    *,
    expect: str,
    file_id: str = FILE_ID,
) -> Case:
    return {
        "name": name,
        "keyring": {v: k.hex() for v, k in keyring.items()},
        "file_id": file_id,
        "version": version,
        "blob": blob.hex(),
        "expect": expect,
    }


def wrap_vectors() -> dict[str, Any]:
    v1 = ref_wrap(MASTER["1"], "1", FILE_ID, DATA_KEY, "wrap v1")
    v2 = ref_wrap(MASTER["2"], "2", "fichier-été", DATA_KEY, "wrap v2")
    same = {"1": MASTER["1"], "2": MASTER["1"]}  # two versions, one key: only the label differs
    wrong = {"1": MASTER["2"]}
    cases = [
        wrap_case("version 1", {"1": MASTER["1"]}, "1", v1, expect="ok"),
        wrap_case(
            "version 2, non-ASCII file id", MASTER, "2", v2, expect="ok", file_id="fichier-été"
        ),
        wrap_case("old version after rotation (current is 2)", MASTER, "1", v1, expect="ok"),
        wrap_case("wrong master key", wrong, "1", v1, expect="UnwrapFailed"),
        wrap_case(
            "another file's id", MASTER, "1", v1, expect="UnwrapFailed", file_id=OTHER_FILE_ID
        ),
        wrap_case(
            "relabelled with another version (same key)", same, "2", v1, expect="UnwrapFailed"
        ),
        wrap_case("flipped bit in the nonce", MASTER, "1", flip(v1, 0), expect="UnwrapFailed"),
        wrap_case("flipped bit in the key", MASTER, "1", flip(v1, 20), expect="UnwrapFailed"),
        wrap_case("flipped bit in the tag", MASTER, "1", flip(v1, 59, 0x80), expect="UnwrapFailed"),
        wrap_case("59 bytes", MASTER, "1", v1[:-1], expect="UnwrapFailed"),
        wrap_case("61 bytes", MASTER, "1", v1 + b"\x00", expect="UnwrapFailed"),
        wrap_case("unknown version", MASTER, "3", v1, expect="MasterKeyUnavailable"),
        wrap_case(
            "version missing after a botched rotation",
            {"2": MASTER["2"]},
            "1",
            v1,
            expect="MasterKeyUnavailable",
        ),
    ]
    fingerprints = {
        k.hex(): hashlib.sha256(b"strongroom/kid" + k).hexdigest()[:8] for k in MASTER.values()
    }
    return {
        "description": "Data keys wrapped by master keys (docs/spec/file-format.md 8.1): "
        "unwrap 'blob' labelled 'version' for 'file_id' with 'keyring'; 'ok' yields "
        "'data_key', else the exact exception class. Also key fingerprints.",
        "data_key": DATA_KEY.hex(),
        "cases": cases,
        "fingerprints": fingerprints,
    }


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=1, ensure_ascii=False) + "\n"


FILES = {"stream.json": stream_vectors, "wrap.json": wrap_vectors}


def main() -> None:
    for name, build in FILES.items():
        (HERE / name).write_text(render(build()), encoding="utf-8")


if __name__ == "__main__":
    main()
