"""Envelope keys: each file's data key, wrapped by a versioned master key.

Only wrapped data keys are stored with the files; master keys stay with a key provider
(``docs/spec/file-format.md`` section 8). ``LocalKeyring`` keeps them in a text setting
or a private key file; the ``KeyProvider`` protocol is shaped so AWS KMS or Vault
Transit can take its place without changing callers.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto.exceptions import KeyringInvalid, MasterKeyUnavailable, UnwrapFailed

MASTER_KEY_SIZE = 32
DATA_KEY_SIZE = 32
WRAP_NONCE_SIZE = 12
WRAPPED_SIZE = WRAP_NONCE_SIZE + DATA_KEY_SIZE + 16  # nonce, encrypted key, tag: 60
_WRAP_LABEL = b"strongroom/dek/v1\x00"
_FINGERPRINT_LABEL = b"strongroom/kid"
# Positive decimal integers without leading zeros, ASCII digits only ("1", "2", ...).
_VERSION = re.compile(r"[1-9][0-9]{0,17}", re.ASCII)
_ENTRY_HINT = "expected '<version>:<base64 of 32 bytes>'"


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored: the master key version that wrapped it, and the blob."""

    version: str
    blob: bytes


class KeyProvider(Protocol):
    """Wraps and unwraps data keys with master keys it never hands out."""

    name: str  # stored with each file: which provider wrapped its key ("local")

    def current_version(self) -> str:
        """The master key version new wraps use."""
        ...

    def versions(self) -> tuple[str, ...]:
        """Every master key version this provider can unwrap with, oldest first."""
        ...

    def wrap(self, data_key: bytes, *, file_id: str) -> WrappedKey:
        """``data_key`` wrapped with the current version, bound to ``file_id``."""
        ...

    def unwrap(self, wrapped: WrappedKey, *, file_id: str) -> bytes:
        """The data key. Raises ``MasterKeyUnavailable`` when ``wrapped.version`` is not
        available, ``UnwrapFailed`` when the blob does not authenticate for ``file_id``."""
        ...


def generate_key() -> bytes:
    """A fresh random 32-byte master key."""
    return os.urandom(MASTER_KEY_SIZE)


def key_line(version: str, key: bytes) -> str:
    """The key-file entry ``<version>:<base64 key>``; raises ``ValueError`` for a bad
    version or a key that is not 32 bytes."""
    if not _VERSION.fullmatch(version) or len(key) != MASTER_KEY_SIZE:
        raise ValueError("a key line needs a positive integer version and a 32-byte key")
    return f"{version}:{base64.b64encode(key).decode('ascii')}"


def _wrap_aad(version: str, file_id: str) -> bytes:
    # The version is in the AAD so a blob relabelled with another version never
    # unwraps; the file id so a wrapped key copied to another file's row never does.
    return _WRAP_LABEL + version.encode("ascii") + b"\x00" + file_id.encode("utf-8")


class LocalKeyring(KeyProvider):
    """Master keys held in memory, from a setting or a key file; the highest version is
    current. Wraps with AES-256-GCM (a random nonce per wrap, one wrap per file)."""

    name = "local"

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        """Raises ``KeyringInvalid`` for no keys, a bad version or a key not 32 bytes."""
        if not keys:
            raise KeyringInvalid(f"no master keys ({_ENTRY_HINT})")
        for version, key in keys.items():
            _check_entry(version, key, where=f"version {version!r}")
        ordered = sorted(keys, key=int)
        self._aeads = {v: AESGCM(keys[v]) for v in ordered}
        self._fingerprints = {v: _fingerprint(keys[v]) for v in ordered}
        self._current = ordered[-1]

    def __repr__(self) -> str:
        # Never the keys: a keyring may end up in a log line or a traceback.
        return f"LocalKeyring(versions={self.versions()}, current={self._current!r})"

    def current_version(self) -> str:
        return self._current

    def versions(self) -> tuple[str, ...]:
        return tuple(self._aeads)

    def fingerprint(self, version: str) -> str:
        """A short, non-secret id of a master key (8 hex digits of a labelled SHA-256).
        Raises ``MasterKeyUnavailable`` for an unknown version."""
        if version not in self._fingerprints:
            raise MasterKeyUnavailable(f"master key version {version!r} is not configured")
        return self._fingerprints[version]

    def wrap(self, data_key: bytes, *, file_id: str) -> WrappedKey:
        if len(data_key) != DATA_KEY_SIZE:
            raise ValueError(f"a data key is {DATA_KEY_SIZE} bytes")
        nonce = os.urandom(WRAP_NONCE_SIZE)
        sealed = self._aeads[self._current].encrypt(
            nonce, data_key, _wrap_aad(self._current, file_id)
        )
        return WrappedKey(version=self._current, blob=nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, *, file_id: str) -> bytes:
        aead = self._aeads.get(wrapped.version)
        if aead is None:
            raise MasterKeyUnavailable(f"master key version {wrapped.version!r} is not configured")
        blob = wrapped.blob
        if len(blob) != WRAPPED_SIZE:
            raise UnwrapFailed(f"a wrapped key is {WRAPPED_SIZE} bytes, not {len(blob)}")
        aad = _wrap_aad(wrapped.version, file_id)
        try:
            return aead.decrypt(blob[:WRAP_NONCE_SIZE], blob[WRAP_NONCE_SIZE:], aad)
        except InvalidTag as err:
            raise UnwrapFailed(
                f"the wrapped key does not open with master key version {wrapped.version}"
            ) from err

    @classmethod
    def from_text(cls, text: str) -> LocalKeyring:
        """The keyring in ``text``: ``<version>:<base64 key>`` entries separated by commas
        and/or newlines, ``#`` comment lines allowed. Raises ``KeyringInvalid`` naming
        the entry and the problem (never the key)."""
        keys = _parse_entries(text)
        if not keys:
            raise KeyringInvalid(f"no master keys ({_ENTRY_HINT})")
        return cls(keys)

    @classmethod
    def load_file(cls, path: str | os.PathLike[str]) -> LocalKeyring:
        """The keyring in the key file at ``path``. Raises ``KeyringInvalid`` when the
        file is accessible by group or others or malformed; ``OSError`` (such as
        ``FileNotFoundError``) when it cannot be read."""
        target = Path(path)
        with target.open("rb") as handle:
            return cls.from_text(_read_private(handle, target))


def _fingerprint(key: bytes) -> str:
    return hashlib.sha256(_FINGERPRINT_LABEL + key).hexdigest()[:8]


def _check_entry(version: str, key: bytes, *, where: str) -> None:
    if not _VERSION.fullmatch(version):
        raise KeyringInvalid(f"{where}: the version must be a positive integer such as 1")
    if len(key) != MASTER_KEY_SIZE:
        raise KeyringInvalid(f"{where}: the key is {len(key)} bytes, not {MASTER_KEY_SIZE}")


def _entries(text: str) -> Iterator[str]:
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        yield from (entry.strip() for entry in line.split(",") if entry.strip())


def _parse_entries(text: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(_entries(text), start=1):
        where = f"entry {position}"
        # Messages name the position, never the entry: it may be a key pasted wrongly.
        version, colon, encoded = (part.strip() for part in entry.partition(":"))
        if not colon:
            raise KeyringInvalid(f"{where}: {_ENTRY_HINT}")
        if not _VERSION.fullmatch(version):
            raise KeyringInvalid(f"{where}: the version must be a positive integer such as 1")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError as err:  # binascii.Error, or non-ASCII text
            raise KeyringInvalid(f"{where} (version {version}): the key is not base64") from err
        _check_entry(version, key, where=f"{where} (version {version})")
        if version in keys:
            raise KeyringInvalid(f"{where}: version {version} appears more than once")
        keys[version] = key
    return keys


def _read_private(handle: BinaryIO, path: Path) -> str:
    # fstat on the open file, not stat on the path: the checked file is the one read.
    mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    if mode & 0o077:
        raise KeyringInvalid(
            f"{path} is accessible by group or others (mode {mode:03o}); "
            f"restrict it with: chmod 600 {path}"
        )
    try:
        return handle.read().decode("utf-8")
    except UnicodeDecodeError as err:
        raise KeyringInvalid(f"{path} is not UTF-8 text") from err


def add_key_version(path: str | os.PathLike[str]) -> str:
    """Add a fresh random master key as the next version to the key file at ``path``,
    creating the file (version 1) when it is missing; returns the new version.

    The file is replaced atomically (temporary file in the same directory, mode 0600,
    fsync, rename, fsync of the directory) under an exclusive lock, so readers see the
    old or the new file and concurrent calls get distinct versions. Raises
    ``KeyringInvalid`` when the existing file is malformed or not private.
    """
    target = Path(path)
    while True:  # retried only when another writer changed the file meanwhile
        try:
            handle = target.open("rb")
        except FileNotFoundError:
            if _create(target, key_line("1", generate_key()) + "\n"):
                return "1"
            continue
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if not _still_at(handle, target):
                continue
            text = _read_private(handle, target)
            version = str(max(map(int, _parse_entries(text)), default=0) + 1)
            separator = "" if not text or text.endswith("\n") else "\n"
            _replace(target, f"{text}{separator}{key_line(version, generate_key())}\n")
            return version


def _still_at(handle: BinaryIO, target: Path) -> bool:
    """Whether ``target`` still names the open file (no one replaced it meanwhile)."""
    opened = os.fstat(handle.fileno())
    try:
        current = target.stat()
    except FileNotFoundError:
        return False
    return (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino)


def _write_temporary(target: Path, text: str) -> Path:
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _create(target: Path, text: str) -> bool:
    """Link a complete new file into place; ``False`` if someone else created it first."""
    temporary = _write_temporary(target, text)
    try:
        os.link(temporary, target)
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    _fsync_directory(target.parent)
    return True


def _replace(target: Path, text: str) -> None:
    temporary = _write_temporary(target, text)
    try:
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
