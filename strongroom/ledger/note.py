"""Checkpoints as C2SP signed notes with Ed25519 (``docs/spec/ledger.md`` section 5).

No Flask, no database: the server signs with it, and auditors' tools and the client
helper verify with it. Parsing is strict and bounded (16 KiB, 16 signature lines), and
every failure is a ``NoteError`` with a sentence saying what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from strongroom.ledger.merkle import HASH_SIZE

ED25519_TYPE = b"\x01"
MAX_NOTE_BYTES = 16 * 1024
MAX_SIGNATURES = 16
SIGNATURE_PREFIX = "\u2014 "  # EM DASH, space
_NAME_RE = re.compile(r"^[^\s+]+$")
_SIZE_RE = re.compile(r"^(0|[1-9][0-9]{0,18})$")


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or does not verify."""


def _b64decode(text: str, what: str) -> bytes:
    """Strict base64: also refuses non-zero padding bits, so one note has one spelling."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise NoteError(f"{what} is not valid base64") from err
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _check_name(name: str) -> str:
    if not name or not _NAME_RE.match(name) or any(ord(ch) < 0x20 for ch in name):
        raise NoteError(f"{name!r} is not a key name (non-empty, no spaces, no '+')")
    return name


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID: ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_TYPE + public_key).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A pinned public key: what auditors keep and pass to the verifiers."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def encode(self) -> str:
        """``<name>+<key id hex>+<base64(0x01 || public key)>``."""
        encoded = base64.b64encode(ED25519_TYPE + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        parts = text.strip().split("+", 2)  # base64 may itself hold '+'
        if len(parts) != 3:
            raise NoteError("a verifier key is <name>+<key id>+<base64 key>")
        name, hex_id, encoded = parts
        raw = _b64decode(encoded, "the verifier key")
        if len(raw) != 33 or raw[:1] != ED25519_TYPE:
            raise NoteError("the verifier key is not an Ed25519 key")
        verifier = cls(_check_name(name), raw[1:])
        if verifier.key_id.hex() != hex_id.lower():
            raise NoteError("the verifier key's id does not match its name and key")
        return verifier

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer:
    """An Ed25519 note signer named after the log's origin."""

    def __init__(self, name: str, seed: bytes) -> None:
        if len(seed) != 32:
            raise NoteError("an Ed25519 seed is 32 bytes")
        self.name = _check_name(name)
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(self.name, public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, seed)

    def encode(self) -> str:
        """``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>``: a secret."""
        seed = self._key.private_bytes_raw()
        encoded = base64.b64encode(ED25519_TYPE + seed).decode("ascii")
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)  # base64 may itself hold '+'
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key is PRIVATE+KEY+<name>+<key id>+<base64 key>")
        raw = _b64decode(parts[4], "the signer key")
        if len(raw) != 33 or raw[:1] != ED25519_TYPE:
            raise NoteError("the signer key is not an Ed25519 key")
        signer = cls(parts[2], raw[1:])
        if signer.verifier.key_id.hex() != parts[3].lower():
            raise NoteError("the signer key's id does not match its name and key")
        return signer

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line and this key's signature line."""
        body = _check_text(text)
        signature = self._key.sign(body)
        encoded = base64.b64encode(self.verifier.key_id + signature).decode("ascii")
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {encoded}\n"


def _check_text(text: str) -> bytes:
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise NoteError("a note holds no control characters but newline")
    return text.encode("utf-8")


def open_note(note: str | bytes, verifier: Verifier) -> str:
    """The text of ``note`` once a signature by ``verifier`` checks out.

    Signatures by other keys are ignored (C2SP); a failing signature by the pinned key,
    or none at all, raises ``NoteError``.
    """
    text, lines = _split_note(_decode_note(note))
    verified = False
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("a signature line starts with an em dash and a space")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        raw = _b64decode(encoded, "a signature")
        if len(raw) < 5:
            raise NoteError("a signature is too short")
        if name != verifier.name or raw[:4] != verifier.key_id:
            continue  # someone else's signature (a witness, an old key): ignored
        if not verifier.verify(text.encode("utf-8"), raw[4:]):
            raise NoteError("the signature by the pinned key does not verify")
        verified = True
    if not verified:
        raise NoteError("the note carries no signature by the pinned key")
    return text


def _decode_note(note: str | bytes) -> str:
    raw = note if isinstance(note, bytes) else note.encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_NOTE_BYTES:
        raise NoteError(f"the note is over {MAX_NOTE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NoteError("the note is not UTF-8") from err
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise NoteError("the note holds control characters")
    return text


def _split_note(note: str) -> tuple[str, list[str]]:
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("no blank line separates the text from the signatures")
    text, lines = note[: split + 1], note[split + 2 :].splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note carries 1 to {MAX_SIGNATURES} signature lines")
    return text, lines


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size and its root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode('ascii')}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) != 4 or lines[3] != "":
            raise NoteError("a checkpoint is exactly origin, size and root hash lines")
        origin, size, root = lines[:3]
        if not origin:
            raise NoteError("the checkpoint's origin is empty")
        if not _SIZE_RE.match(size):
            raise NoteError("the checkpoint's size is not a decimal number")
        raw = _b64decode(root, "the checkpoint's root hash")
        if len(raw) != HASH_SIZE:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size), raw)


def open_checkpoint(note: str | bytes, verifier: Verifier) -> Checkpoint:
    """Verify a signed checkpoint against the pinned key and check its origin."""
    checkpoint = Checkpoint.parse(open_note(note, verifier))
    if checkpoint.origin != verifier.name:
        raise NoteError(
            f"the checkpoint is for {checkpoint.origin!r}, the key for {verifier.name!r}"
        )
    return checkpoint
