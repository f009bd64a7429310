"""Content types decided from a file's bytes, and which of them a browser may show inline.

The type comes from the content first: magic numbers, then a text-or-binary test.
The name's extension only refines text into a few allow-listed text types, so a
name can never turn bytes into a type the content contradicts (an HTML page named
``x.png`` is not served as ``image/png``, and a PNG named ``x.txt`` stays a PNG).

Every download is also served with ``X-Content-Type-Options: nosniff``, so the type
decided here is the type the browser uses.
"""

from __future__ import annotations

import codecs
import re

import filetype  # ships no type information

SNIFF_BYTES = 8192
"""How many leading bytes ``detect_content_type`` looks at (also what ``filetype`` reads)."""

OCTET_STREAM = "application/octet-stream"

# Extensions that may refine content already found to be text. A fixed table, not
# mimetypes.guess_type: that reads /etc/mime.types, so its answers vary by host.
# Only types that are never active content belong here: .html, .svg, .xml and .js
# files stay text/plain, which a browser shows as source instead of running.
_TEXT_EXTENSIONS = {
    "txt": "text/plain",
    "text": "text/plain",
    "log": "text/plain",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "md": "text/markdown",
    "markdown": "text/markdown",
    "json": "application/json",
}

# Formats that are text themselves: a magic match on these stands even when the
# bytes look like clean text (many PDFs are plain ASCII in their first 8 KiB).
_TEXTUAL_MAGIC = frozenset({"application/pdf", "application/postscript", "application/rtf"})

# Bytes that mark data as binary (the WHATWG MIME Sniffing "binary data byte"):
# C0 controls except TAB, LF, FF, CR and ESC.
_BINARY_BYTES = frozenset([*range(0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])
_BINARY_CHARS = frozenset(map(chr, _BINARY_BYTES))

_UTF16_BOMS = (codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE)

# type "/" subtype, both RFC 9110 tokens. Anything else (a comma-separated list, stray
# quotes) is malformed, and browsers parse malformed values in surprising ways.
_ESSENCE = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+/[!#$%&'*+.^_`|~0-9a-z-]+")

# Types a browser renders as a document that can run script or load other content.
_ACTIVE = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "application/xml-dtd",
        "text/xml-external-parsed-entity",
        "application/xml-external-parsed-entity",
        "text/xsl",
        "text/css",  # a style sheet on our origin can restyle or exfiltrate via selectors
        "application/pdf",  # PDF viewers run embedded JavaScript and submit forms
        "application/x-shockwave-flash",
        "application/x-msdownload",
        "application/hta",
        "text/x-component",
        "multipart/x-mixed-replace",
        "text/cache-manifest",
        # The JavaScript MIME type essences of the WHATWG MIME Sniffing standard.
        "application/ecmascript",
        "application/javascript",
        "application/x-ecmascript",
        "application/x-javascript",
        "text/ecmascript",
        "text/javascript",
        "text/javascript1.0",
        "text/javascript1.1",
        "text/javascript1.2",
        "text/javascript1.3",
        "text/javascript1.4",
        "text/javascript1.5",
        "text/jscript",
        "text/livescript",
        "text/x-ecmascript",
        "text/x-javascript",
    }
)

# Types shown inline: an allow-list, so a type nobody thought about is downloaded.
# Raster images, audio and video that browsers render without script, and plain text.
_INLINE = frozenset(
    {
        "text/plain",
        "image/apng",
        "image/avif",
        "image/bmp",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/x-icon",
        "audio/aac",
        "audio/flac",
        "audio/mp4",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/webm",
        "audio/x-flac",
        "audio/x-wav",
        "video/mp4",
        "video/ogg",
        "video/quicktime",
        "video/webm",
        "video/x-m4v",
    }
)


def detect_content_type(head: bytes, name: str) -> str:
    """Return the content type for a file from its first bytes and its name.

    Order: a magic number found by ``filetype`` wins, unless the bytes are clean
    text and the format is a binary one (a note starting "FWS" is not Flash); then
    text is recognised by content (no binary control bytes, see ``_BINARY_BYTES``)
    and its charset decided (UTF-8, UTF-16 with a byte order mark, or none for
    other 8-bit text); then an allow-listed extension may refine text to
    ``text/csv``, ``text/markdown``, ``application/json`` and so on.

    Decision: empty content takes its type from an allow-listed text extension
    (an empty ``notes.txt`` is empty text), and is ``application/octet-stream``
    otherwise, since there are no bytes to say more.

    Args:
        head: the first bytes of the file, ``SNIFF_BYTES`` or fewer (a multi-byte
            character cut off at the end of ``head`` does not make it binary).
        name: the file's (cleaned) name; only its extension is used.

    Returns:
        A content type, with a ``charset`` parameter for text types.
    """
    head = head[:SNIFF_BYTES]
    extension_type = _TEXT_EXTENSIONS.get(name.rpartition(".")[2].lower()) if "." in name else None
    if not head:
        return _with_charset(extension_type, "utf-8") if extension_type else OCTET_STREAM
    charset = _text_charset(head)
    kind = filetype.guess(head)
    if kind is not None:
        magic: str = kind.mime
        # Only UTF-8 or UTF-16 text overrules a binary signature: 8-bit "text" with no
        # control bytes is too weak a sign against a real magic number.
        if not charset or magic in _TEXTUAL_MAGIC:
            return magic
    if charset is None:
        return OCTET_STREAM
    return _with_charset(extension_type or "text/plain", charset)


def is_active_content(content_type: str) -> bool:
    """Say whether a browser would render this type as a document that runs script.

    Covers HTML, XHTML, SVG, every XML type (``*/xml``, ``*+xml``), JavaScript, CSS,
    PDF and a few legacy executable types. Downloads of these are always attachments.

    Returns:
        True for active types, and for a value that is not a parseable ``type/subtype``
        (what cannot be understood is treated as dangerous); False otherwise.
    """
    essence = _essence(content_type)
    if essence is None:
        return True
    return essence in _ACTIVE or essence.endswith(("/xml", "+xml"))


def may_be_inline(content_type: str) -> bool:
    """Say whether a download of this type may use ``Content-Disposition: inline``.

    An allow-list: plain text, raster images (never SVG), audio and video. Assumes
    the response also carries ``X-Content-Type-Options: nosniff``.

    Returns:
        True only for allow-listed types (none of them active content); parameters
        such as ``charset`` are ignored.
    """
    return _essence(content_type) in _INLINE


def _text_charset(head: bytes) -> str | None:
    """Return the charset of text content, ``""`` for 8-bit text in an unknown charset,
    or None for binary content."""
    if head.startswith(_UTF16_BOMS):
        # UTF-16 decodes almost any byte string, so the characters must pass the
        # same binary test as bytes do.
        text = _decode(head, "utf-16")
        return "utf-16" if text is not None and _BINARY_CHARS.isdisjoint(text) else None
    if not _BINARY_BYTES.isdisjoint(head):
        return None
    return "utf-8" if _decode(head, "utf-8") is not None else ""


def _decode(head: bytes, encoding: str) -> str | None:
    """Return ``head`` decoded, allowing a character cut off at its end; None if invalid."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        return decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return None


def _with_charset(content_type: str, charset: str) -> str:
    """Return ``content_type`` with its charset, where the type allows one."""
    if content_type == "application/json":
        # RFC 8259 §8.1: JSON is exchanged as UTF-8 and defines no charset parameter;
        # JSON-looking text in another encoding is just text.
        return content_type if charset == "utf-8" else _with_charset("text/plain", charset)
    # Without a known charset the browser picks its legacy default; declaring UTF-8
    # for, say, Windows-1252 text would garble every accented letter.
    return f"{content_type}; charset={charset}" if charset else content_type


def _essence(content_type: str) -> str | None:
    """Return the lower-case ``type/subtype`` of a content type, or None if malformed."""
    essence = content_type.split(";", 1)[0].strip(" \t")
    # isascii first: str.lower maps some non-ASCII letters to ASCII ones (KELVIN SIGN).
    if not essence.isascii():
        return None
    essence = essence.lower()
    return essence if _ESSENCE.fullmatch(essence) else None
