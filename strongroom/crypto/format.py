"""The byte layout of a Strongroom encrypted file, version 1.

A 53-byte header, then segments of ``segment_size`` plaintext bytes, each sealed with
AES-256-GCM (16-byte tag). ``docs/spec/file-format.md`` is the specification; this
module parses and writes the header and does the size arithmetic, nothing else.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from strongroom.crypto.exceptions import (
    BadMagic,
    BadSegmentSize,
    TruncatedHeader,
    UnsupportedAlgorithm,
    UnsupportedVersion,
)

# CR LF catches a file mangled by a text-mode transfer, as PNG's signature does.
MAGIC = b"STRONG\r\n"
VERSION = 1
ALG_AES256GCM_HKDF_SHA256 = 1
# The lower bound keeps per-segment overhead sane; the upper bound caps what a reader
# must buffer for one segment, so a hostile header cannot make it allocate gigabytes.
MIN_SEGMENT_SIZE = 64
MAX_SEGMENT_SIZE = 16 * 1024 * 1024
DEFAULT_SEGMENT_SIZE = 64 * 1024  # docs/spec/file-format.md section 7
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
# The segment counter in the nonce is 32 bits.
MAX_SEGMENTS = 2**32

# magic, version, algorithm, u32be segment size, salt, nonce prefix: 53 bytes.
_HEADER = struct.Struct(f">{len(MAGIC)}sBBI{SALT_SIZE}s{NONCE_PREFIX_SIZE}s")
HEADER_SIZE = 53


@dataclass(frozen=True)
class Header:
    """A file's header: segment size, HKDF salt and nonce prefix.

    Raises ``ValueError`` when constructed with values no valid file has (parsing bytes
    raises the ``HeaderError`` subclasses instead, see ``parse_header``).
    """

    segment_size: int
    salt: bytes
    nonce_prefix: bytes
    version: int = VERSION
    algorithm: int = ALG_AES256GCM_HKDF_SHA256

    def __post_init__(self) -> None:
        if self.version != VERSION or self.algorithm != ALG_AES256GCM_HKDF_SHA256:
            raise ValueError("only version 1 with algorithm 1 can be written")
        if not MIN_SEGMENT_SIZE <= self.segment_size <= MAX_SEGMENT_SIZE:
            raise ValueError(f"segment size must be {MIN_SEGMENT_SIZE}..{MAX_SEGMENT_SIZE}")
        if len(self.salt) != SALT_SIZE or len(self.nonce_prefix) != NONCE_PREFIX_SIZE:
            raise ValueError(f"salt must be {SALT_SIZE} and prefix {NONCE_PREFIX_SIZE} bytes")

    def to_bytes(self) -> bytes:
        """The 53 header bytes as stored."""
        return _HEADER.pack(
            MAGIC, self.version, self.algorithm, self.segment_size, self.salt, self.nonce_prefix
        )


def new_header(
    *, segment_size: int = DEFAULT_SEGMENT_SIZE, random: Callable[[int], bytes] = os.urandom
) -> Header:
    """A header with a fresh salt and nonce prefix from ``random`` (tests pass a fixed
    source; everything else must use the default CSPRNG).

    Raises ``ValueError`` for a segment size outside the format's range.
    """
    return Header(
        segment_size=segment_size, salt=random(SALT_SIZE), nonce_prefix=random(NONCE_PREFIX_SIZE)
    )


def parse_header(data: bytes | bytearray | memoryview) -> Header:
    """The header at the start of ``data`` (bytes after the first 53 are ignored).

    Raises, checking in this order: ``TruncatedHeader`` (fewer than 53 bytes),
    ``BadMagic``, ``UnsupportedVersion``, ``UnsupportedAlgorithm``, ``BadSegmentSize``.
    """
    if len(data) < HEADER_SIZE:
        raise TruncatedHeader(f"the stream ends after {len(data)} of {HEADER_SIZE} header bytes")
    magic, version, algorithm, segment_size, salt, prefix = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise BadMagic("not a Strongroom encrypted file (bad magic)")
    if version != VERSION:
        raise UnsupportedVersion(f"unsupported format version {version}")
    if algorithm != ALG_AES256GCM_HKDF_SHA256:
        raise UnsupportedAlgorithm(f"unsupported algorithm {algorithm}")
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise BadSegmentSize(f"segment size {segment_size} is outside the allowed range")
    return Header(segment_size=segment_size, salt=salt, nonce_prefix=prefix)


def segment_count(plaintext_size: int, segment_size: int) -> int:
    """Segments in a file of ``plaintext_size`` bytes: ``max(1, ceil(P / S))`` (an empty
    file is one empty segment; an exact multiple has no extra empty segment)."""
    return max(1, -(-plaintext_size // segment_size))


def ciphertext_size(plaintext_size: int, segment_size: int) -> int:
    """Stored bytes of a file of ``plaintext_size`` bytes: header, plaintext, one tag per
    segment."""
    return HEADER_SIZE + plaintext_size + segment_count(plaintext_size, segment_size) * TAG_SIZE


@dataclass(frozen=True)
class RangePlan:
    """Which stored bytes serve a plaintext range, and how to cut the result.

    ``ciphertext_end`` is exclusive; ``skip`` is the number of bytes to drop from the
    first decrypted segment; ``length`` the number of plaintext bytes to return.
    """

    first_segment: int
    last_segment: int
    segment_total: int
    ciphertext_start: int
    ciphertext_end: int
    skip: int
    length: int


def range_plan(*, plaintext_size: int, segment_size: int, start: int, end: int) -> RangePlan:
    """The segments covering plaintext bytes ``start..end`` (inclusive).

    Raises ``ValueError`` unless ``0 <= start <= end < plaintext_size`` (callers
    validate the HTTP range first; this is the last line of defence).
    """
    if not 0 <= start <= end < plaintext_size:
        raise ValueError("range outside the file")
    stored = segment_size + TAG_SIZE
    first, last = start // segment_size, end // segment_size
    total = segment_count(plaintext_size, segment_size)
    last_length = stored if last < total - 1 else plaintext_size - last * segment_size + TAG_SIZE
    return RangePlan(
        first_segment=first,
        last_segment=last,
        segment_total=total,
        ciphertext_start=HEADER_SIZE + first * stored,
        ciphertext_end=HEADER_SIZE + last * stored + last_length,
        skip=start - first * segment_size,
        length=end - start + 1,
    )
