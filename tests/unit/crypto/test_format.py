"""Header parsing and writing, and the size and range arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.crypto import exceptions
from strongroom.crypto.format import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    MAGIC,
    MAX_SEGMENT_SIZE,
    MIN_SEGMENT_SIZE,
    TAG_SIZE,
    Header,
    RangePlan,
    ciphertext_size,
    new_header,
    parse_header,
    range_plan,
    segment_count,
)

SALT = bytes(range(32))
PREFIX = bytes(range(100, 107))


def test_header_layout_matches_the_spec_table() -> None:
    header = Header(segment_size=0x00A0B0C0, salt=SALT, nonce_prefix=PREFIX)
    data = header.to_bytes()
    assert len(data) == HEADER_SIZE == 53
    assert data[0:8] == MAGIC == b"STRONG\r\n"
    assert data[8:10] == b"\x01\x01"
    assert data[10:14] == b"\x00\xa0\xb0\xc0"
    assert data[14:46] == SALT
    assert data[46:53] == PREFIX
    assert parse_header(data) == header
    assert parse_header(data + b"segments follow") == header


def test_new_header_uses_the_given_randomness() -> None:
    calls: list[int] = []

    def fake(n: int) -> bytes:
        calls.append(n)
        return bytes([len(calls)]) * n

    header = new_header(random=fake)
    assert calls == [32, 7]
    assert header.segment_size == DEFAULT_SEGMENT_SIZE == 65536
    assert header.salt == b"\x01" * 32
    assert header.nonce_prefix == b"\x02" * 7
    assert new_header().salt != new_header().salt


@pytest.mark.parametrize(
    "fields",
    [
        {"segment_size": MIN_SEGMENT_SIZE - 1},
        {"segment_size": MAX_SEGMENT_SIZE + 1},
        {"salt": SALT[:-1]},
        {"nonce_prefix": PREFIX + b"x"},
        {"version": 2},
        {"algorithm": 2},
    ],
)
def test_headers_no_valid_file_has_cannot_be_built(fields: dict[str, object]) -> None:
    values: dict[str, object] = {"segment_size": 64, "salt": SALT, "nonce_prefix": PREFIX}
    with pytest.raises(ValueError):  # noqa: PT011  # the message varies with the field
        Header(**{**values, **fields})  # type: ignore[arg-type]


def test_parse_checks_length_before_anything_else() -> None:
    with pytest.raises(exceptions.TruncatedHeader):
        parse_header(b"GIF89a")  # short and not ours: still "truncated"
    with pytest.raises(exceptions.BadMagic):
        parse_header(b"GIF89a" + bytes(60))


def test_segment_count_and_ciphertext_size() -> None:
    assert [segment_count(p, 64) for p in (0, 1, 63, 64, 65, 128, 129)] == [1, 1, 1, 1, 2, 2, 3]
    assert ciphertext_size(0, 64) == HEADER_SIZE + TAG_SIZE
    assert ciphertext_size(128, 64) == HEADER_SIZE + 128 + 2 * TAG_SIZE
    assert ciphertext_size(2**30, DEFAULT_SEGMENT_SIZE) == 53 + 2**30 + 16 * 2**14


def test_range_plan_example() -> None:
    # 300 bytes in segments of 64: 0-63, 64-127, 128-191, 192-255, 256-299 (44 bytes).
    plan = range_plan(plaintext_size=300, segment_size=64, start=70, end=270)
    assert plan == RangePlan(
        first_segment=1,
        last_segment=4,
        segment_total=5,
        ciphertext_start=53 + 80,
        ciphertext_end=53 + 4 * 80 + 44 + 16,
        skip=6,
        length=201,
    )
    assert plan.ciphertext_end == ciphertext_size(300, 64)


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (5, 4), (0, 300), (300, 300)])
def test_range_plan_refuses_ranges_outside_the_file(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="range outside the file"):
        range_plan(plaintext_size=300, segment_size=64, start=start, end=end)


@given(st.data(), st.integers(1, 5000), st.integers(MIN_SEGMENT_SIZE, 300))
def test_range_plan_covers_exactly_the_range(data: st.DataObject, size: int, segment: int) -> None:
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size - 1))
    plan = range_plan(plaintext_size=size, segment_size=segment, start=start, end=end)
    stored = segment + TAG_SIZE
    assert plan.first_segment * segment <= start < (plan.first_segment + 1) * segment
    assert plan.last_segment * segment <= end < (plan.last_segment + 1) * segment
    assert plan.segment_total == segment_count(size, segment)
    assert (plan.ciphertext_start - HEADER_SIZE) % stored == 0
    assert plan.ciphertext_end <= ciphertext_size(size, segment)
    assert (plan.ciphertext_end == ciphertext_size(size, segment)) == (
        plan.last_segment == plan.segment_total - 1
    )
    assert plan.length == end - start + 1
