"""File names: cleaning, search keys and the Content-Disposition header."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.files.exceptions import FileError, InvalidFileName
from strongroom.files.names import (
    BIDI_CONTROLS,
    MAX_NAME_BYTES,
    MAX_NAME_LENGTH,
    clean_name,
    content_disposition,
    name_key,
)

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("a/b.txt", "b.txt"),
        ("..\\..\\x", "x"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
        ("/abs/path/file", "file"),
        ("  spaced name.txt \u3000", "spaced name.txt"),
        (".bashrc", ".bashrc"),
        ("archive.tar.gz", "archive.tar.gz"),
        ("CON", "CON"),
        ("nul.txt", "nul.txt"),
        ("notes.", "notes."),
        ("日本語のファイル.txt", "日本語のファイル.txt"),
        ("🎉 party.png", "🎉 party.png"),
        ("👨\u200d👩\u200d👧.jpg", "👨\u200d👩\u200d👧.jpg"),  # ZWJ sequences survive
    ],
)
def test_clean_names(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("invoice\u202etxt.exe", "invoicetxt.exe"),
        ("\u202eexe.pdf", "exe.pdf"),
        ("photo\u2066\u2069.jpg", "photo.jpg"),
        ("a\u200e\u200f\u061cb", "ab"),
        ("\u202a\u202b\u202c\u202d\u2067\u2068name", "name"),
    ],
)
def test_bidi_controls_are_removed(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


def test_names_differing_only_in_normalisation_clean_to_the_same_name() -> None:
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    assert nfc != nfd
    assert clean_name(nfd) == clean_name(nfc) == nfc


def test_removing_a_bidi_control_cannot_leave_a_name_unnormalised() -> None:
    # U+202A blocks composition; once removed, e + combining acute must compose.
    assert clean_name("caf" + "e\u202a\u0301") == "café"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\t", "control"),
        ("\u3000\u00a0", "empty"),
        (".", "dots"),
        ("..", "dots"),
        ("...", "dots"),
        (" .. ", "dots"),
        ("a/..", "dots"),
        ("a/", "empty"),
        ("dir\\", "empty"),
        ("\u202e", "empty"),
        ("a\x00b.txt", "NUL"),
        ("report.pdf\x00.exe", "NUL"),
        ("line\nbreak.txt", "control"),
        ("carriage\rreturn.txt", "control"),
        ("bell\x07.txt", "control"),
        ("escape\x1b[31m.txt", "control"),
        ("delete\x7f.txt", "control"),
        ("c1\x85next-line.txt", "control"),
        ("c1\x9b.txt", "control"),
        ("line\u2028separator.txt", "control"),
        ("para\u2029separator.txt", "control"),
        ("lone\ud800surrogate.txt", "Unicode"),
        ("lone" + chr(0xDFFF) + "low-surrogate.txt", "Unicode"),
    ],
)
def test_bad_names_are_refused(raw: str, message: str) -> None:
    with pytest.raises(InvalidFileName, match=message):
        clean_name(raw)


def test_long_names_are_refused_with_the_limit_not_truncated() -> None:
    with pytest.raises(InvalidFileName, match=str(MAX_NAME_LENGTH)):
        clean_name("x" * 1000)
    with pytest.raises(InvalidFileName, match=str(MAX_NAME_LENGTH)):
        clean_name("x" * (MAX_NAME_LENGTH + 1))


def test_the_length_limit_counts_characters_after_cleaning() -> None:
    exactly = "é" * MAX_NAME_LENGTH
    assert clean_name(exactly) == exactly
    # 255 characters of four UTF-8 bytes each still fit the byte cap.
    emoji = "🎉" * MAX_NAME_LENGTH
    assert len(clean_name(emoji).encode()) <= MAX_NAME_BYTES
    # The decomposed form is twice as long but normalises to 255 characters.
    assert clean_name(unicodedata.normalize("NFD", exactly)) == exactly
    # A long path is fine as long as its last component is short.
    assert clean_name("d/" * 1000 + "file.txt") == "file.txt"


def test_absurdly_long_input_is_refused_before_any_work() -> None:
    with pytest.raises(InvalidFileName, match="too long"):
        clean_name("d/" * 20_000 + "file.txt")


def test_invalid_file_name_belongs_to_the_files_family() -> None:
    assert issubclass(InvalidFileName, FileError)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_clean_name_output_is_safe_and_stable(raw: str) -> None:
    try:
        name = clean_name(raw)
    except InvalidFileName:
        return
    assert name
    assert name.strip(".")
    assert name == name.strip()
    assert "/" not in name
    assert "\\" not in name
    assert not CONTROL.search(name)
    assert not BIDI_CONTROLS.intersection(name)
    assert unicodedata.is_normalized("NFC", name)
    assert len(name) <= MAX_NAME_LENGTH
    assert clean_name(name) == name


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab./\\ \t.\u202e\u0301e\u00e9\u3000")))
def test_clean_name_is_idempotent_on_tricky_alphabets(raw: str) -> None:
    try:
        name = clean_name(raw)
    except InvalidFileName:
        return
    assert clean_name(name) == name


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Report.PDF", "report.pdf"),
        ("STRASSE.txt", "straße.txt"),
        (unicodedata.normalize("NFD", "Café"), "café"),
        ("\u01f0", "J\u030c"),  # case folding decomposes; the key stays NFC
    ],
)
def test_name_keys_ignore_case_and_normalisation(first: str, second: str) -> None:
    assert name_key(first) == name_key(second)
    assert unicodedata.is_normalized("NFC", name_key(first))


def test_name_keys_keep_different_names_apart() -> None:
    assert name_key("a.txt") != name_key("b.txt")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        ("my report (v2).pdf", 'attachment; filename="my report (v2).pdf"'),
        (
            'say "hi".txt',
            "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt",
        ),
        (
            "back\\slash.txt",
            "attachment; filename=\"back_slash.txt\"; filename*=UTF-8''back%5Cslash.txt",
        ),
        ("100%25.txt", "attachment; filename=\"100_25.txt\"; filename*=UTF-8''100%2525.txt"),
        (
            "résumé.pdf",
            "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf",
        ),
        (
            "日本語.txt",
            "attachment; filename=\"___.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt",
        ),
        ("🎉.png", "attachment; filename=\"_.png\"; filename*=UTF-8''%F0%9F%8E%89.png"),
    ],
)
def test_content_disposition(name: str, expected: str) -> None:
    assert content_disposition(name) == expected


def test_content_disposition_inline() -> None:
    assert content_disposition("photo.jpg", inline=True) == 'inline; filename="photo.jpg"'


@pytest.mark.parametrize(
    "name",
    [
        'evil.txt"\r\nSet-Cookie: a=b',
        "a\nb.txt",
        "a\rb.txt",
        "a\r\n\r\n<script>.html",
        "x\u2028y",
        "x\u0085y",
        'x"; filename="other.exe',
    ],
)
def test_content_disposition_cannot_be_injected(name: str) -> None:
    value = content_disposition(name)
    assert "\r" not in value
    assert "\n" not in value
    assert value.isascii()
    assert value.count('"') == 2  # one quoted-string, nothing smuggled after it
    assert unquote(value.split("filename*=UTF-8''")[1]) == name


def test_content_disposition_of_an_empty_name_still_names_the_file() -> None:
    assert content_disposition("") == 'attachment; filename="download"'


@settings(max_examples=500, deadline=None)
@given(st.text(), st.booleans())
def test_content_disposition_is_always_a_safe_header(name: str, inline: bool) -> None:
    value = content_disposition(name, inline=inline)
    assert value.isascii()
    assert not CONTROL.search(value)
    assert value.startswith("inline;" if inline else "attachment;")
    assert value.count('"') == 2
    if "filename*=" in value:
        encoded = value.split("filename*=UTF-8''")[1]
        assert re.fullmatch(r"[A-Za-z0-9%._~-]+", encoded)
        if name and not re.search("[\ud800-\udfff]", name):
            assert unquote(encoded, errors="strict") == name
