"""Streaming encryption and decryption: round trips, ranges, tampering, memory."""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.crypto import exceptions
from strongroom.crypto.format import (
    HEADER_SIZE,
    MAX_SEGMENT_SIZE,
    MIN_SEGMENT_SIZE,
    TAG_SIZE,
    ciphertext_size,
    new_header,
    parse_header,
    range_plan,
)
from strongroom.crypto.stream import (
    Decryptor,
    Encryptor,
    decrypt_chunks,
    decrypt_range,
    encrypt_chunks,
    new_data_key,
)

KEY = bytes(range(32))
FILE_ID = "file-A"

# Mostly small segments (many of them per example), sometimes any size the format allows.
segment_sizes = st.one_of(
    st.integers(MIN_SEGMENT_SIZE, 200), st.integers(MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE)
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` split at the (sorted, deduplicated) offsets in ``cuts``; may yield empty
    chunks at the ends, which the streams must accept."""
    points = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def cuts_for(data: st.DataObject, length: int) -> list[int]:
    return data.draw(st.lists(st.integers(0, length), max_size=12))


def encrypt(plaintext: bytes, segment: int = 64, file_id: str = FILE_ID) -> bytes:
    header = new_header(segment_size=segment)
    return b"".join(encrypt_chunks([plaintext], data_key=KEY, file_id=file_id, header=header))


def decrypt(stored: bytes | list[bytes], file_id: str = FILE_ID) -> bytes:
    chunks = [stored] if isinstance(stored, bytes) else stored
    return b"".join(decrypt_chunks(chunks, data_key=KEY, file_id=file_id))


@given(st.data(), st.binary(max_size=3000), segment_sizes)
def test_round_trip_with_any_chunking(data: st.DataObject, plaintext: bytes, segment: int) -> None:
    header = new_header(segment_size=segment)
    sealed = encrypt_chunks(
        chunked(plaintext, cuts_for(data, len(plaintext))),
        data_key=KEY,
        file_id=FILE_ID,
        header=header,
    )
    stored = b"".join(sealed)
    assert len(stored) == ciphertext_size(len(plaintext), segment)
    assert parse_header(stored) == header
    decryptor = Decryptor(KEY, file_id=FILE_ID)
    out = [
        p for chunk in chunked(stored, cuts_for(data, len(stored))) for p in decryptor.update(chunk)
    ]
    out += decryptor.finalize()
    assert b"".join(out) == plaintext
    assert decryptor.plaintext_size == len(plaintext)
    assert all(out)  # never an empty piece


@given(st.data(), st.binary(min_size=1, max_size=2000), st.integers(MIN_SEGMENT_SIZE, 150))
def test_any_range_decrypts_to_that_slice(
    data: st.DataObject, plaintext: bytes, segment: int
) -> None:
    start = data.draw(st.integers(0, len(plaintext) - 1))
    end = data.draw(st.integers(start, len(plaintext) - 1))
    stored = encrypt(plaintext, segment)
    plan = range_plan(plaintext_size=len(plaintext), segment_size=segment, start=start, end=end)
    part = stored[plan.ciphertext_start : plan.ciphertext_end]
    pieces = decrypt_range(
        parse_header(stored),
        chunked(part, cuts_for(data, len(part))),
        data_key=KEY,
        file_id=FILE_ID,
        plan=plan,
    )
    assert b"".join(pieces) == plaintext[start : end + 1]


@settings(max_examples=300)
@given(st.data(), st.binary(max_size=400), st.integers(MIN_SEGMENT_SIZE, 100))
def test_any_flipped_bit_fails(data: st.DataObject, plaintext: bytes, segment: int) -> None:
    stored = bytearray(encrypt(plaintext, segment))
    bit = data.draw(st.integers(0, len(stored) * 8 - 1))
    stored[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(exceptions.FormatError):
        decrypt(chunked(bytes(stored), cuts_for(data, len(stored))))


@given(st.data(), st.binary(max_size=400), st.integers(MIN_SEGMENT_SIZE, 100))
def test_a_cut_stream_fails_after_releasing_only_whole_authentic_segments(
    data: st.DataObject, plaintext: bytes, segment: int
) -> None:
    stored = encrypt(plaintext, segment)
    cut = data.draw(st.integers(0, len(stored) - 1))
    released = bytearray()

    def feed_then_finish() -> None:
        decryptor = Decryptor(KEY, file_id=FILE_ID)
        for chunk in chunked(stored[:cut], cuts_for(data, cut)):
            released.extend(b"".join(decryptor.update(chunk)))
        decryptor.finalize()

    with pytest.raises(exceptions.FormatError):
        feed_then_finish()
    assert plaintext.startswith(released)
    assert len(released) % segment == 0


def test_the_first_piece_is_the_header_and_pieces_are_segments() -> None:
    header = new_header(segment_size=64)
    encryptor = Encryptor(KEY, file_id=FILE_ID, header=header)
    assert encryptor.header is header
    assert encryptor.update(b"x" * 10) == [header.to_bytes()]
    assert encryptor.update(b"x" * 54) == []  # a full segment may still be the last
    assert [len(p) for p in encryptor.update(b"x")] == [64 + TAG_SIZE]
    assert [len(p) for p in encryptor.finalize()] == [1 + TAG_SIZE]
    with pytest.raises(RuntimeError):
        encryptor.update(b"more")
    with pytest.raises(RuntimeError):
        encryptor.finalize()


def test_an_empty_file_is_the_header_and_one_tag() -> None:
    encryptor = Encryptor(KEY, file_id=FILE_ID)
    pieces = encryptor.finalize()
    assert [len(p) for p in pieces] == [HEADER_SIZE, TAG_SIZE]
    decryptor = Decryptor(KEY, file_id=FILE_ID)
    assert decryptor.update(b"".join(pieces)) == []
    assert decryptor.finalize() == []
    assert decryptor.plaintext_size == 0


@pytest.mark.parametrize("chunk", [1, 63, 64, 65, 1000, 64 * 40 + 1])
def test_the_encryptor_holds_at_most_one_segment(chunk: int) -> None:
    encryptor = Encryptor(KEY, file_id=FILE_ID, header=new_header(segment_size=64))
    for _ in range(50):
        pieces = encryptor.update(bytearray(chunk))  # any buffer type
        assert encryptor.buffered <= 64
        assert all(len(p) == 64 + TAG_SIZE for p in pieces[1:])
    assert encryptor.buffered == (50 * chunk - 1) % 64 + 1


def test_a_large_chunk_is_sealed_in_place() -> None:
    encryptor = Encryptor(KEY, file_id=FILE_ID, header=new_header(segment_size=64))
    pieces = encryptor.update(memoryview(bytes(64 * 10 + 1)))
    assert len(pieces) == 1 + 10
    assert encryptor.buffered == 1


def test_streaming_uses_constant_memory() -> None:
    size, chunk = 8 * 1024 * 1024, 256 * 1024
    source = bytes(chunk)
    header = new_header(segment_size=64 * 1024)
    tracemalloc.start()
    try:
        stored = encrypt_chunks(
            (source for _ in range(size // chunk)), data_key=KEY, file_id=FILE_ID, header=header
        )
        total = sum(len(p) for p in decrypt_chunks(stored, data_key=KEY, file_id=FILE_ID))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 2 * 1024 * 1024  # a few chunks and segments, never the file


def test_a_failed_decryptor_stays_failed() -> None:
    stored = bytearray(encrypt(bytes(300)))
    stored[HEADER_SIZE + 5] ^= 1
    decryptor = Decryptor(KEY, file_id=FILE_ID)
    with pytest.raises(exceptions.SegmentAuthError):
        decryptor.update(bytes(stored))
    with pytest.raises(exceptions.SegmentAuthError):
        decryptor.update(b"")
    with pytest.raises(exceptions.SegmentAuthError):
        decryptor.finalize()


def test_plaintext_size_is_known_only_after_finalize() -> None:
    decryptor = Decryptor(KEY, file_id=FILE_ID)
    decryptor.update(encrypt(b"abc"))
    with pytest.raises(RuntimeError):
        _ = decryptor.plaintext_size
    assert decryptor.finalize() == [b"abc"]
    assert decryptor.plaintext_size == 3
    with pytest.raises(RuntimeError):
        decryptor.update(b"")


def test_keys_and_file_ids_are_checked() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Encryptor(KEY[:16], file_id=FILE_ID)
    with pytest.raises(ValueError, match="32 bytes"):
        Decryptor(KEY + b"x", file_id=FILE_ID)
    with pytest.raises(ValueError, match="65535"):
        Decryptor(KEY, file_id="x" * 65536)
    longest = "é" * 32767  # 65534 UTF-8 bytes
    assert decrypt(encrypt(b"x", file_id=longest), file_id=longest) == b"x"
    assert len(new_data_key()) == 32
    assert new_data_key() != new_data_key()


RANGE_PLAIN = bytes(range(200))  # segments 0-2 full, segment 3 holds 8 bytes
RANGE_PLAN = range_plan(plaintext_size=200, segment_size=64, start=10, end=150)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda part: part[:-1], exceptions.TruncatedError),
        (lambda part: part[:80], exceptions.TruncatedError),
        (lambda part: part + b"\x00", exceptions.TrailingDataError),
        (lambda part: part[:5] + bytes([part[5] ^ 1]) + part[6:], exceptions.SegmentAuthError),
        (lambda part: part[80:160] + part[:80] + part[160:], exceptions.SegmentAuthError),
    ],
    ids=["one byte short", "one segment short", "one byte extra", "flipped bit", "reordered"],
)
def test_range_reads_fail_on_wrong_bytes(
    change: Callable[[bytes], bytes], expected: type[Exception]
) -> None:
    stored = encrypt(RANGE_PLAIN)
    part = change(stored[RANGE_PLAN.ciphertext_start : RANGE_PLAN.ciphertext_end])
    pieces = decrypt_range(
        parse_header(stored), [part], data_key=KEY, file_id=FILE_ID, plan=RANGE_PLAN
    )
    with pytest.raises(exceptions.FormatError) as caught:
        b"".join(pieces)
    assert type(caught.value) is expected


@pytest.mark.parametrize("claimed", [199, 201, 191, 192, 300])
def test_a_wrong_recorded_size_never_yields_unauthenticated_bytes(claimed: int) -> None:
    plaintext = bytes(range(200))  # segments 0-2 full, segment 3 holds 8 bytes
    stored = encrypt(plaintext)
    plan = range_plan(plaintext_size=claimed, segment_size=64, start=150, end=min(claimed, 200) - 1)
    part = stored[plan.ciphertext_start : plan.ciphertext_end]
    with pytest.raises(exceptions.FormatError):
        b"".join(
            decrypt_range(parse_header(stored), [part], data_key=KEY, file_id=FILE_ID, plan=plan)
        )
