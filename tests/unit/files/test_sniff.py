"""Content types from content, and which of them may be shown inline."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.files import sniff
from strongroom.files.sniff import (
    SNIFF_BYTES,
    detect_content_type,
    is_active_content,
    may_be_inline,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
ASCII_PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00!\x00" + b"\x00" * 16
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
UTF8 = "Grüße aus Köln, 日本語 🎉\n".encode()
TEXT = "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (PNG, "photo.png", "image/png"),
        (PNG, "x.txt", "image/png"),
        (PNG, "x.html", "image/png"),
        (PNG, "noextension", "image/png"),
        (JPEG, "photo.jpg", "image/jpeg"),
        (JPEG, "photo.png", "image/jpeg"),
        (GIF, "anim.gif", "image/gif"),
        (PDF, "doc.pdf", "application/pdf"),
        (PDF, "doc.txt", "application/pdf"),
        (ASCII_PDF, "doc.pdf", "application/pdf"),
        (ZIP, "archive.zip", "application/zip"),
        (ZIP, "archive.json", "application/zip"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "setup.exe", "application/x-msdownload"),
    ],
)
def test_magic_numbers_win_over_the_extension(head: bytes, name: str, expected: str) -> None:
    assert detect_content_type(head, name) == expected


@pytest.mark.parametrize("name", ["x.png", "x.html", "x.svg", "x.jpg", "x.pdf", "x"])
def test_html_is_never_given_a_type_by_its_name(name: str) -> None:
    assert detect_content_type(HTML, name) == TEXT


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (UTF8, "notes", TEXT),
        (UTF8, "notes.txt", TEXT),
        (UTF8, "notes.TXT", TEXT),
        (b"a,b\r\n1,2\r\n", "data.csv", "text/csv; charset=utf-8"),
        (b"a\tb\n1\t2\n", "data.tsv", "text/tab-separated-values; charset=utf-8"),
        (b"# Title\n\n*text*\n", "README.md", "text/markdown; charset=utf-8"),
        (b'{"a": [1, 2]}', "data.json", "application/json"),
        (b"<svg onload=alert(1)/>", "x.svg", TEXT),
        (b"<?xml version='1.0'?><a/>", "x.xml", TEXT),
        (b"alert(1)", "x.js", TEXT),
        (b"body { color: red }", "x.css", TEXT),
        (b"\xef\xbb\xbfBOM then text", "x.txt", TEXT),
        (b"caf\xe9,cr\xe8me\n", "legacy.csv", "text/csv"),
        (b"caf\xe9\n", "legacy.txt", "text/plain"),
        (b'{"caf\xe9": 1}', "legacy.json", "text/plain"),
        ("hi".encode("utf-16"), "wide.txt", "text/plain; charset=utf-16"),
        (codecs.BOM_UTF16_BE + "a,b".encode("utf-16-be"), "w.csv", "text/csv; charset=utf-16"),
        ("ok".encode("utf-16"), "wide.json", "text/plain; charset=utf-16"),
    ],
)
def test_text_is_recognised_and_refined_by_allow_listed_extensions(
    head: bytes, name: str, expected: str
) -> None:
    assert detect_content_type(head, name) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"\x00\x01\x02\x03\xfe\xfd",
        b"plain text with a NUL\x00 in it",
        b"\x7fELF-ish but not quite" + b"\x01\x02",
        bytes(range(256)),
        b"\xff\xfe\x00\xdc",  # UTF-16 BOM, then a lone low surrogate
        b"\xff\xfe\x00\x00\x01\x00",  # UTF-16 BOM, then control characters
    ],
)
def test_binary_garbage_is_octet_stream(head: bytes) -> None:
    assert detect_content_type(head, "data.txt") == "application/octet-stream"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("empty.txt", TEXT),
        ("empty.json", "application/json"),
        ("empty.png", "application/octet-stream"),
        ("empty.html", "application/octet-stream"),
        ("empty", "application/octet-stream"),
    ],
)
def test_empty_content_takes_only_an_allow_listed_text_type(name: str, expected: str) -> None:
    assert detect_content_type(b"", name) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"FWS: meeting notes\n", TEXT),  # SWF signature
        (b"ID3 tags are metadata\n", TEXT),  # MP3 signature
        (b"GIF89a<html><script>alert(1)</script>", TEXT),  # polyglot stays text
        (b"%!PS-Adobe-3.0\n", "application/postscript"),
        (b"{\\rtf1\\ansi hello}", "application/rtf"),
    ],
)
def test_short_ascii_signatures_in_clean_text_are_coincidences(head: bytes, expected: str) -> None:
    assert detect_content_type(head, "notes.txt") == expected


def test_a_character_cut_at_the_sniff_boundary_is_still_text() -> None:
    head = ("a" * (SNIFF_BYTES - 1) + "é").encode()[:SNIFF_BYTES]
    assert head.endswith(b"\xc3")
    assert detect_content_type(head, "notes.txt") == TEXT
    # BOM, 4094 code units, then the first half of a surrogate pair: 8,192 bytes.
    wide = ("a" * 4094 + "🎉").encode("utf-16")[:SNIFF_BYTES]
    assert wide.endswith("🎉".encode("utf-16-le")[:2])
    assert detect_content_type(wide, "notes.txt") == "text/plain; charset=utf-16"
    assert detect_content_type(wide[:-1], "notes.txt") == "text/plain; charset=utf-16"


def test_only_the_first_sniff_bytes_count() -> None:
    assert detect_content_type(b"a" * SNIFF_BYTES + b"\x00", "x.txt") == TEXT


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256), st.sampled_from(["x.txt", "x.html", "x.svg", "x.json", "x"]))
def test_sniffing_never_produces_active_content_from_text(head: bytes, name: str) -> None:
    content_type = detect_content_type(head, name)
    assert not content_type.startswith(("text/html", "image/svg", "text/xml", "application/xml"))


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "text/html; charset=utf-8",
        "TEXT/HTML",
        " text/html ",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "application/rss+xml",
        "application/vnd.mozilla.xul+xml",
        "application/javascript",
        "text/javascript",
        "application/x-javascript",
        "text/ecmascript",
        "text/css",
        "application/pdf",
        "application/x-shockwave-flash",
        # What cannot be parsed is treated as dangerous.
        "",
        "html",
        "text/plain, text/html",
        'text/html"',
        "text/ html",
        "text/\u212aml",
    ],
)
def test_active_content(content_type: str) -> None:
    assert is_active_content(content_type)
    assert not may_be_inline(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain; charset=utf-8",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "audio/mpeg",
        "video/mp4",
        "application/json",
        "text/csv",
        "application/zip",
        "application/octet-stream",
    ],
)
def test_passive_content(content_type: str) -> None:
    assert not is_active_content(content_type)


@pytest.mark.parametrize(
    ("content_type", "inline"),
    [
        ("text/plain", True),
        ("text/plain; charset=utf-8", True),
        ("Image/PNG", True),
        ("image/jpeg", True),
        ("image/gif", True),
        ("image/webp", True),
        ("audio/mpeg", True),
        ("audio/ogg", True),
        ("video/mp4", True),
        ("video/webm", True),
        ("image/svg+xml", False),
        ("text/html", False),
        ("application/pdf", False),
        ("application/json", False),
        ("text/csv", False),
        ("text/markdown; charset=utf-8", False),
        ("application/zip", False),
        ("application/octet-stream", False),
        ("image/x-made-up", False),
    ],
)
def test_may_be_inline(content_type: str, inline: bool) -> None:
    assert may_be_inline(content_type) is inline


def test_inline_types_are_never_active() -> None:
    for content_type in sniff._INLINE:
        assert not is_active_content(content_type), content_type
