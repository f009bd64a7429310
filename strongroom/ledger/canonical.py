"""Canonical JSON for event records: RFC 8785 (JCS) for the values events may hold.

Events hold strings, integers within +-(2^53 - 1), booleans, null, arrays and objects
(``docs/spec/ledger.md`` section 1); floats are refused because their text form is the
one part of JCS that languages disagree on. With that restriction JCS is: no
whitespace, keys sorted by UTF-16 code units, minimal string escapes, UTF-8 out.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _encode_basestring
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalError(ValueError):
    """A value that has no canonical form under the ledger's rules."""


def canonical_bytes(value: Any) -> bytes:
    """The canonical encoding of ``value`` as UTF-8 bytes."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts).encode("utf-8")


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", errors="surrogatepass")


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalError(f"integer {value} is outside +-(2^53 - 1)")
        out.append(str(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        _object(value, out)
    else:
        raise CanonicalError(f"{type(value).__name__} values are not allowed in events")


def _object(value: dict[Any, Any], out: list[str]) -> None:
    if not all(isinstance(key, str) for key in value):
        raise CanonicalError("object keys must be strings")
    out.append("{")
    for position, key in enumerate(sorted(value, key=_utf16_key)):
        if position:
            out.append(",")
        out.append(_string(key))
        out.append(":")
        _encode(value[key], out)
    out.append("}")


def _string(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise CanonicalError("strings must be valid Unicode (no lone surrogates)") from err
    # encode_basestring (what json.dumps(ensure_ascii=False) uses, without building an
    # encoder per call) escapes exactly what JCS escapes: '"', '\\',
    # \b \t \n \f \r and the other C0 controls as \u00xx (lower-case hex).
    return _encode_basestring(value)


def parse_canonical(data: bytes) -> Any:
    """Parse event bytes, and refuse them unless they are exactly canonical."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as err:  # bad UTF-8 or JSON, huge ints, deep nests
        raise CanonicalError(f"not JSON: {err}") from err
    if canonical_bytes(value) != data:
        raise CanonicalError("the bytes are JSON but not in canonical form")
    return value
