"""The local keyring: parsing, the key file, rotation, wrapping."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest

from strongroom.crypto import exceptions
from strongroom.crypto.keys import (
    KeyProvider,
    LocalKeyring,
    WrappedKey,
    add_key_version,
    generate_key,
    key_line,
)

K1, K2, K10 = bytes(range(32)), bytes(range(1, 33)), bytes(range(2, 34))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def write_private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def leftovers(directory: Path) -> list[str]:
    """Temporary files ``add_key_version`` may have left next to the key file."""
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_from_text_accepts_commas_newlines_comments_and_whitespace() -> None:
    text = f"# master keys\n  1:{b64(K1)} , 10:{b64(K10)},\n\n  # 2 was added later\n2:{b64(K2)}\n"
    keyring = LocalKeyring.from_text(text)
    assert keyring.versions() == ("1", "2", "10")
    assert keyring.current_version() == "10"  # numerically highest, not "2"
    assert keyring.name == "local"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no master keys"),
        ("# only a comment\n , \n", "no master keys"),
        (b64(K1), "entry 1: expected"),
        (f"1:{b64(K1)}\nx:{b64(K2)}", "entry 2: the version must be a positive integer"),
        (f"0:{b64(K1)}", "positive integer"),
        (f"01:{b64(K1)}", "positive integer"),
        (f"-1:{b64(K1)}", "positive integer"),
        (f"\u0661:{b64(K1)}", "positive integer"),  # ARABIC-INDIC DIGIT ONE
        (f"1:{b64(K1)[:-2]}!!", "not base64"),
        (f"1:{b64(K1)} trailing", "not base64"),
        ("1:caf\u00e9", "not base64"),
        (f"1:{b64(K1[:31])}", "31 bytes, not 32"),
        (f"1:{b64(K1 + b'x')}", "33 bytes, not 32"),
        (f"1:{b64(K1)},1:{b64(K2)}", "version 1 appears more than once"),
    ],
)
def test_from_text_refuses_malformed_text_without_echoing_keys(text: str, problem: str) -> None:
    with pytest.raises(exceptions.KeyringInvalid, match=problem) as caught:
        LocalKeyring.from_text(text)
    for key in (K1, K2, K1[:31]):
        assert b64(key)[:20] not in str(caught.value)


def test_the_constructor_checks_its_keys() -> None:
    with pytest.raises(exceptions.KeyringInvalid):
        LocalKeyring({})
    with pytest.raises(exceptions.KeyringInvalid):
        LocalKeyring({"v1": K1})
    with pytest.raises(exceptions.KeyringInvalid):
        LocalKeyring({"1": K1[:16]})


def test_repr_never_shows_keys() -> None:
    text = repr(LocalKeyring({"1": K1, "2": K2}))
    assert "'1', '2'" in text
    assert K1.hex()[:16] not in text
    assert b64(K1)[:16] not in text


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
def test_load_file_refuses_a_file_others_can_reach(tmp_path: Path, mode: int) -> None:
    path = write_private(tmp_path / "keys", f"1:{b64(K1)}\n", mode)
    with pytest.raises(exceptions.KeyringInvalid, match=f"chmod 600 {path}"):
        LocalKeyring.load_file(path)


def test_load_file(tmp_path: Path) -> None:
    path = write_private(tmp_path / "keys", f"1:{b64(K1)}\n2:{b64(K2)}\n", 0o400)
    assert LocalKeyring.load_file(str(path)).versions() == ("1", "2")
    with pytest.raises(FileNotFoundError):
        LocalKeyring.load_file(tmp_path / "missing")
    write_private(tmp_path / "binary", "", 0o600).write_bytes(b"1:\xff\xfe")
    with pytest.raises(exceptions.KeyringInvalid, match="not UTF-8"):
        LocalKeyring.load_file(tmp_path / "binary")


def test_add_key_version_creates_then_appends(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    assert add_key_version(path) == "1"
    assert mode_of(path) == 0o600
    first = LocalKeyring.load_file(path)
    assert add_key_version(path) == "2"
    assert mode_of(path) == 0o600
    second = LocalKeyring.load_file(path)
    assert second.versions() == ("1", "2")
    assert second.fingerprint("1") == first.fingerprint("1")  # version 1 kept as it was
    assert second.fingerprint("2") != second.fingerprint("1")
    assert leftovers(tmp_path) == []


def test_add_key_version_keeps_existing_text(tmp_path: Path) -> None:
    original = f"# production keys\n3:{b64(K1)}, 7:{b64(K2)}"  # no final newline
    path = write_private(tmp_path / "keys", original)
    assert add_key_version(path) == "8"
    text = path.read_text(encoding="utf-8")
    assert text.startswith(original + "\n8:")
    assert text.endswith("\n")
    write_private(path, "# no keys yet\n")
    assert add_key_version(path) == "1"


def test_add_key_version_refuses_unsafe_or_malformed_files(tmp_path: Path) -> None:
    path = write_private(tmp_path / "keys", f"1:{b64(K1)}\n", 0o644)
    with pytest.raises(exceptions.KeyringInvalid, match="chmod 600"):
        add_key_version(path)
    write_private(path, "1:not-a-key\n")
    with pytest.raises(exceptions.KeyringInvalid, match="not base64"):
        add_key_version(path)
    assert path.read_text(encoding="utf-8") == "1:not-a-key\n"


def test_add_key_version_leaves_the_file_intact_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_private(tmp_path / "keys", f"1:{b64(K1)}\n")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        add_key_version(path)
    assert path.read_text(encoding="utf-8") == f"1:{b64(K1)}\n"
    assert leftovers(tmp_path) == []


def test_concurrent_rotations_get_distinct_versions(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    results: list[str] = []
    lock = threading.Lock()

    def rotate() -> None:
        version = add_key_version(path)
        with lock:
            results.append(version)

    threads = [threading.Thread(target=rotate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=int) == [str(v) for v in range(1, 9)]
    assert LocalKeyring.load_file(path).versions() == tuple(str(v) for v in range(1, 9))
    assert leftovers(tmp_path) == []


def test_wrap_unwrap_round_trip() -> None:
    keyring: KeyProvider = LocalKeyring({"1": K1})
    data_key = os.urandom(32)
    wrapped = keyring.wrap(data_key, file_id="file-A")
    assert wrapped.version == "1"
    assert len(wrapped.blob) == 60
    assert keyring.unwrap(wrapped, file_id="file-A") == data_key
    assert keyring.wrap(data_key, file_id="file-A").blob != wrapped.blob  # random nonce
    with pytest.raises(exceptions.UnwrapFailed):
        keyring.unwrap(wrapped, file_id="file-B")
    with pytest.raises(ValueError, match="32 bytes"):
        keyring.wrap(data_key[:16], file_id="file-A")


def test_rotation_keeps_old_versions_unwrapping() -> None:
    data_key = os.urandom(32)
    old = LocalKeyring({"1": K1}).wrap(data_key, file_id="f")
    rotated = LocalKeyring({"1": K1, "2": K2})
    assert rotated.current_version() == "2"
    assert rotated.wrap(data_key, file_id="f").version == "2"
    assert rotated.unwrap(old, file_id="f") == data_key
    retired = LocalKeyring({"2": K2})
    with pytest.raises(exceptions.MasterKeyUnavailable):
        retired.unwrap(old, file_id="f")
    with pytest.raises(exceptions.MasterKeyUnavailable):
        retired.unwrap(WrappedKey(version="", blob=old.blob), file_id="f")


def test_fingerprint_is_stable_short_and_not_the_key() -> None:
    keyring = LocalKeyring({"1": K1})
    fingerprint = keyring.fingerprint("1")
    assert fingerprint == LocalKeyring({"7": K1}).fingerprint("7")
    assert len(fingerprint) == 8
    assert int(fingerprint, 16) >= 0
    assert fingerprint not in K1.hex()
    assert fingerprint != LocalKeyring({"1": K2}).fingerprint("1")
    with pytest.raises(exceptions.MasterKeyUnavailable):
        keyring.fingerprint("2")


def test_key_line_and_generate_key() -> None:
    key = generate_key()
    assert len(key) == 32
    assert key != generate_key()
    line = key_line("3", key)
    assert line == f"3:{b64(key)}"
    assert LocalKeyring.from_text(line).fingerprint("3") == LocalKeyring({"3": key}).fingerprint(
        "3"
    )
    with pytest.raises(ValueError):  # noqa: PT011
        key_line("0", key)
    with pytest.raises(ValueError):  # noqa: PT011
        key_line("1", key[:31])
