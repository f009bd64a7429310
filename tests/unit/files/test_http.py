"""Byte ranges, Repr-Digest, ETags and If-Range."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.files.exceptions import FileError, RangeNotSatisfiable
from strongroom.files.http import etag_for, if_range_matches, parse_range, repr_digest

SIZE = 10
HELLO = hashlib.sha256(b"hello").digest()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", (0, 0)),
        ("bytes=0-", (0, 9)),
        ("bytes=0-9", (0, 9)),
        ("bytes=2-5", (2, 5)),
        ("bytes=9-9", (9, 9)),
        ("bytes=9-", (9, 9)),
        ("bytes=5-100", (5, 9)),
        ("bytes=0-99999999999999999999999999", (0, 9)),
        ("bytes=-1", (9, 9)),
        ("bytes=-3", (7, 9)),
        ("bytes=-10", (0, 9)),
        ("bytes=-100", (0, 9)),
        ("bytes=-99999999999999999999999999", (0, 9)),
        ("bytes=0002-0005", (2, 5)),
        ("BYTES=1-2", (1, 2)),
        ("Bytes=1-2", (1, 2)),
        (" bytes=1-2 ", (1, 2)),
        ("bytes= 1-2", (1, 2)),
        ("bytes=1-2,", (1, 2)),
        ("bytes=,1-2, ,", (1, 2)),
    ],
)
def test_satisfiable_ranges(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=5-2",  # last-pos before first-pos: invalid, so ignored
        "bytes=20-2",
        "bytes=0-1,3-4",  # we serve single ranges only
        "bytes=0-0,0-0,0-0",
        "bytes=0-1,20-30",
        "bytes=a-b",
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes=1 - 2",
        "bytes=1-2;x",
        "bytes=\u0661-\u0662",  # Arabic-Indic digits are not HTTP digits
        "bytes=0x1-2",
        "garbage",
        "items=0-5",
        "bites=0-5",
        "bytes =0-5",
        "bytes==0-5",
        "=0-5",
    ],
)
def test_ignored_range_headers(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=10-", SIZE),
        ("bytes=10-20", SIZE),
        ("bytes=100-", SIZE),
        ("bytes=99999999999999999999999999-", SIZE),
        ("bytes=-0", SIZE),
        ("bytes=-00", SIZE),
        ("bytes=0-0", 0),
        ("bytes=0-", 0),
        ("bytes=-1", 0),
        ("bytes=-0", 0),
    ],
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, size)
    assert caught.value.size == size
    assert caught.value.headers == {"Content-Range": f"bytes */{size}"}
    assert isinstance(caught.value, FileError)


def test_ignored_headers_stay_ignored_on_an_empty_file() -> None:
    assert parse_range("bytes=0-1,2-3", 0) is None
    assert parse_range("bytes=5-2", 0) is None


def test_huge_digit_strings_do_not_hit_the_int_conversion_limit() -> None:
    assert parse_range("bytes=0-" + "9" * 10_000, SIZE) == (0, SIZE - 1)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=" + "9" * 10_000 + "-", SIZE)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.builds(
            "bytes={}-{}".format,
            st.one_of(st.just(""), st.integers(0, 50).map(str)),
            st.one_of(st.just(""), st.integers(0, 50).map(str)),
        ),
    ),
    st.integers(0, 40),
)
def test_parse_range_returns_a_range_inside_the_file_or_refuses(header: str, size: int) -> None:
    result: tuple[int, int] | RangeNotSatisfiable | None
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable as err:
        result = err
    if isinstance(result, RangeNotSatisfiable):
        assert result.size == size
    elif result is not None:
        start, end = result
        assert 0 <= start <= end < size


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 50), st.integers(0, 50), st.integers(1, 40))
def test_int_ranges_match_a_simple_model(first: int, last: int, size: int) -> None:
    header = f"bytes={first}-{last}"
    if last < first:
        assert parse_range(header, size) is None
    elif first >= size:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size)
    else:
        assert parse_range(header, size) == (first, min(last, size - 1))


def test_repr_digest_known_value() -> None:
    # SHA-256 of "hello", base64 from RFC 9530's structured-field byte sequence form.
    expected = "sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:"
    assert repr_digest(HELLO) == expected
    assert base64.b64decode(expected.split(":")[1]) == HELLO


def test_repr_digest_of_empty_content() -> None:
    empty = hashlib.sha256(b"").digest()
    assert repr_digest(empty) == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"


@pytest.mark.parametrize("digest", [b"", b"\x00" * 31, b"\x00" * 33, b"\x00" * 20])
def test_digests_of_the_wrong_length_are_refused(digest: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        repr_digest(digest)
    with pytest.raises(ValueError, match="32 bytes"):
        etag_for("f1", digest)


def test_etag_is_stable_and_strong() -> None:
    etag = etag_for("f_abc123", HELLO)
    assert etag == etag_for("f_abc123", HELLO)
    # Pinned: a changed derivation would silently invalidate every client's cache.
    assert etag == '"9ybqZvv0_NIcWONLPHXuXg"'
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert not etag.startswith("W/")
    assert all(0x21 <= ord(c) <= 0x7E for c in etag)


def test_etag_changes_with_content_and_with_id() -> None:
    other = hashlib.sha256(b"hello!").digest()
    assert etag_for("f1", HELLO) != etag_for("f1", other)
    assert etag_for("f1", HELLO) != etag_for("f2", HELLO)


def test_etag_does_not_show_the_digest() -> None:
    etag = etag_for("f1", HELLO)
    assert HELLO.hex() not in etag
    assert base64.b64encode(HELLO).decode() not in etag
    assert base64.urlsafe_b64encode(HELLO).decode().rstrip("=")[:8] not in etag


def test_if_range_strong_match() -> None:
    etag = etag_for("f1", HELLO)
    assert if_range_matches(etag, etag)
    assert if_range_matches(f" {etag} ", etag)


@pytest.mark.parametrize(
    "header",
    [
        '"something-else"',
        "W/" + etag_for("f1", HELLO),  # weak tags never match (strong comparison)
        "Wed, 21 Oct 2015 07:28:00 GMT",  # dates are not validators we keep
        "*",
        "",
        etag_for("f1", HELLO).strip('"'),
        etag_for("f1", HELLO) + ", " + etag_for("f1", HELLO),
    ],
)
def test_if_range_mismatches_send_the_whole_file(header: str) -> None:
    assert not if_range_matches(header, etag_for("f1", HELLO))


def test_no_if_range_header_lets_the_range_apply() -> None:
    assert if_range_matches(None, etag_for("f1", HELLO))


def test_a_weak_current_etag_never_matches() -> None:
    assert not if_range_matches('W/"x"', 'W/"x"')
