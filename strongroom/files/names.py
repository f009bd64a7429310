"""File names: the cleaned display/storage name, its search key, and its download header.

A file's name is metadata only. Blobs are stored under opaque ids, so a name never
becomes a path on the server; cleaning is about what users see and what their
browsers save, not about protecting the server's file system.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from strongroom.files.exceptions import InvalidFileName

MAX_NAME_LENGTH = 255
"""Most characters a cleaned name may have: the common file-system limit for one name."""

MAX_NAME_BYTES = 1024
"""Most UTF-8 bytes a cleaned name may have (binds only if MAX_NAME_LENGTH ever grows)."""

# Longer than the longest Windows path (32,767 characters); anything bigger is not a
# file name a browser sent, so it is refused before any normalisation work.
MAX_RAW_LENGTH = 32_768

# Bidirectional formatting characters are removed: they reorder what is displayed,
# so "invoice\u202etxt.exe" shows as "invoiceexe.txt" while being an .exe.
BIDI_CONTROLS = frozenset(
    "\u061c"  # Arabic letter mark
    "\u200e\u200f"  # left-to-right and right-to-left marks
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings, pop, overrides
    "\u2066\u2067\u2068\u2069"  # isolates
)
_BIDI_TABLE = dict.fromkeys(map(ord, BIDI_CONTROLS))

# C0 controls, DEL and C1 controls, plus the Unicode line and paragraph separators:
# none belongs in a name, and each can break a log line, a header or a listing.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SEPARATORS = re.compile(r"[/\\]")

# In the ASCII fallback of Content-Disposition: '"' and '\' would need quoted-pair
# escapes that many browsers mishandle (RFC 6266 appendix D), and '%' may be
# percent-decoded by some, so all three become '_' like every non-ASCII character.
_FALLBACK_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\%]')


def clean_name(raw: str) -> str:
    """Return the name to store and show for a file name a client sent.

    Steps: refuse lone surrogates and control characters, remove bidirectional
    formatting characters, normalise to NFC (so names differing only in
    normalisation become equal), keep the last component after ``/`` or ``\\``
    (browsers on Windows may send a full path), and strip surrounding whitespace.

    Decisions: Windows-reserved names (``CON``, ``nul.txt``, ``COM1``) and trailing
    dots are kept, and leading dots (``.bashrc``) too. The name is never used as a
    server path, they are valid names on other systems, and the downloading browser
    already adapts names to its own platform, so rewriting them would only lose
    information for everyone else.

    Returns:
        The cleaned name: NFC, non-empty, at most ``MAX_NAME_LENGTH`` characters and
        ``MAX_NAME_BYTES`` UTF-8 bytes, without separators, controls or bidi controls.
        Cleaning a cleaned name returns it unchanged.

    Raises:
        InvalidFileName: the name holds NUL, another control character or a lone
            surrogate, is empty or only dots after cleaning, or is too long. Long
            names are refused rather than truncated so the user decides what to cut.
    """
    if len(raw) > MAX_RAW_LENGTH:
        raise InvalidFileName("The file name is too long.")
    if "\x00" in raw:
        raise InvalidFileName("The file name contains a NUL character.")
    if _FORBIDDEN.search(raw):
        raise InvalidFileName("The file name contains control characters.")
    if _SURROGATE.search(raw):
        raise InvalidFileName("The file name is not valid Unicode.")
    # Bidi controls go before normalising: removing one afterwards could bring a base
    # character and a combining mark together and leave the result not in NFC.
    name = unicodedata.normalize("NFC", raw.translate(_BIDI_TABLE))
    name = _SEPARATORS.split(name)[-1].strip()
    if not name:
        raise InvalidFileName("The file name is empty.")
    if not name.strip("."):
        raise InvalidFileName("The file name cannot be only dots.")
    if len(name) > MAX_NAME_LENGTH or len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidFileName(f"The file name is longer than {MAX_NAME_LENGTH} characters.")
    return name


def name_key(name: str) -> str:
    """Return the key that searches and sorts names without regard to case.

    Returns:
        ``name`` case-folded and in NFC; names equal ignoring case and normalisation
        have equal keys.
    """
    # Case folding can leave a string that is not normalised ("ǰ" folds to j + caron),
    # so normalise on both sides of it.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def content_disposition(name: str, *, inline: bool = False) -> str:
    """Return a ``Content-Disposition`` value (RFC 6266) that names the download.

    ``filename`` holds an ASCII fallback in which every character that is not
    printable ASCII, and ``"``, ``\\`` and ``%``, is replaced by ``_``. When that
    changed anything, ``filename*`` (RFC 8187) follows with the exact name as
    percent-encoded UTF-8; browsers prefer it. Any string is accepted, cleaned or not.

    Returns:
        An ASCII-only value, ``attachment`` unless ``inline``, that never contains
        CR, LF or another control character.
    """
    disposition = "inline" if inline else "attachment"
    # An empty name would give the browser nothing to save as; clean names never are.
    name = name or "download"
    fallback = _FALLBACK_UNSAFE.sub("_", name)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != name:
        # errors="replace": a lone surrogate cannot be UTF-8; it becomes "?" (%3F).
        encoded = quote(name, safe="", encoding="utf-8", errors="replace")
        # After filename, as RFC 6266 appendix D advises for older user agents.
        value += f"; filename*=UTF-8''{encoded}"
    return value
