"""HTTP details of serving a file: byte ranges, validators and digests (RFC 9110, 9530).

Pure functions on header values; the views read the headers and send the responses.
``content_disposition`` lives with the other name rules in ``strongroom.files.names``
and is re-exported here so the views find every download header in one module.
"""

from __future__ import annotations

import base64
import hashlib
import re

from strongroom.files.exceptions import RangeNotSatisfiable
from strongroom.files.names import content_disposition

__all__ = [
    "content_disposition",
    "etag_for",
    "if_range_matches",
    "parse_range",
    "repr_digest",
]

SHA256_SIZE = 32

# bytes=first-last, bytes=first-, bytes=-suffix. ASCII digits only: Python's \d would
# also accept other scripts' digits, which no HTTP grammar allows.
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")

# Positions with more digits than this are larger than any file we hold; capping them
# keeps int() away from huge digit strings (and Python's 4,300-digit limit).
_MAX_DIGITS = 20

_ETAG_CONTEXT = b"strongroom/etag/v1\x00"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the single byte range a ``Range`` header asks for, for a file of ``size`` bytes.

    Decisions, all allowed by RFC 9110 §14.2 ("a server MAY ignore the Range header"):
    a header that is not valid ``bytes`` syntax, uses another unit, or has a
    first-pos after its last-pos (``bytes=5-2``) is ignored; so is a request for
    more than one range, which spares us multipart/byteranges and the overlapping-
    range amplification attack (CVE-2011-3192). Empty list elements (``bytes=0-1,``)
    do not count as ranges, and the unit is case-insensitive.

    Returns:
        None when the header is absent or ignored (send the whole file with 200),
        else the inclusive ``(start, end)`` to send with 206, ``end`` clamped to
        ``size - 1``.

    Raises:
        RangeNotSatisfiable: the range is valid but selects no byte: first-pos at or
            past the end, a zero-length suffix (``bytes=-0``), or any range on an
            empty file. It carries ``size`` for ``Content-Range: bytes */size``.
    """
    spec = _single_range_spec(header)
    if spec is None:
        return None
    first, last = spec
    if not first:
        suffix = _position(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - suffix), size - 1
    start = _position(first)
    if last and _position(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = min(_position(last), size - 1) if last else size - 1
    return start, end


def repr_digest(sha256: bytes) -> str:
    """Return the ``Repr-Digest`` value (RFC 9530) for a SHA-256 digest of the content.

    Returns:
        ``sha-256=:<base64>:``, a structured-field byte sequence.

    Raises:
        ValueError: ``sha256`` is not 32 bytes long.
    """
    _check_digest(sha256)
    return f"sha-256=:{base64.b64encode(sha256).decode('ascii')}:"


def etag_for(file_id: str, sha256: bytes) -> str:
    """Return the strong ``ETag`` of a file's content.

    The tag is a hash of the file id and the content's SHA-256, so it changes exactly
    when either does and reveals nothing the ``Repr-Digest`` does not already. The id
    is length-prefixed so no two (id, digest) pairs hash the same input.

    Returns:
        A quoted strong entity tag of 22 base64url characters (128 bits).

    Raises:
        ValueError: ``sha256`` is not 32 bytes long.
    """
    _check_digest(sha256)
    ident = file_id.encode("utf-8")
    material = _ETAG_CONTEXT + len(ident).to_bytes(4, "big") + ident + sha256
    tag = base64.urlsafe_b64encode(hashlib.sha256(material).digest()[:16]).rstrip(b"=")
    return f'"{tag.decode("ascii")}"'


def if_range_matches(header: str | None, etag: str) -> bool:
    """Say whether a ``Range`` header may be honoured, given the ``If-Range`` header.

    RFC 9110 §13.1.5 requires strong comparison: the header must hold exactly the
    current strong ``etag``; a weak tag never matches. Decision: an HTTP-date never
    matches either, because we keep no strong Last-Modified validator; the client
    then gets the whole file, which is always correct.

    Returns:
        True when there is no ``If-Range`` header or it holds ``etag``; False otherwise
        (ignore the Range header and send the whole file with 200).
    """
    if header is None:
        return True
    candidate = header.strip(" \t")
    return candidate.startswith('"') and not etag.startswith("W/") and candidate == etag


def _single_range_spec(header: str | None) -> tuple[str, str] | None:
    """Return the (first-pos, last-pos) digit strings of a one-range ``bytes`` header.

    Returns:
        None unless the header is valid syntax for exactly one byte range; at least
        one of the two strings is non-empty.
    """
    if header is None:
        return None
    unit, equals, range_set = header.strip(" \t").partition("=")
    if not equals or unit.lower() != "bytes":
        return None
    # RFC 9110 §5.6.1.2: list elements may carry optional whitespace, and empty
    # elements are to be ignored.
    specs = [spec.strip(" \t") for spec in range_set.split(",")]
    specs = [spec for spec in specs if spec]
    match = _RANGE_SPEC.fullmatch(specs[0]) if len(specs) == 1 else None
    if match is None or match.group() == "-":
        return None
    first, last = match.groups()
    return first, last


def _position(digits: str) -> int:
    """Return the value of an ASCII digit string, capped far above any file size."""
    digits = digits.lstrip("0") or "0"
    return 10**_MAX_DIGITS if len(digits) > _MAX_DIGITS else int(digits)


def _check_digest(sha256: bytes) -> None:
    """Raise ValueError unless ``sha256`` has the length of a SHA-256 digest."""
    if len(sha256) != SHA256_SIZE:
        raise ValueError(f"a SHA-256 digest is {SHA256_SIZE} bytes, not {len(sha256)}")
