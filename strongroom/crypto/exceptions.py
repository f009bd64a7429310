"""The exceptions of ``strongroom.crypto``.

``FormatError`` and its subclasses mean "these bytes are not an intact Strongroom file";
the precise class says why, so damage can be told apart from a missing key in logs and
in the ledger. No message ever contains key material.
"""

from __future__ import annotations

from strongroom.exceptions import StrongroomError


class CryptoError(StrongroomError):
    """Something in encryption, decryption or key handling failed."""


class FormatError(CryptoError):
    """The bytes are not a valid Strongroom file."""


class HeaderError(FormatError):
    """The 53-byte header is missing or not one this version can read."""


class TruncatedHeader(HeaderError):
    """The stream ended before the header was complete."""


class BadMagic(HeaderError):
    """The stream does not start with ``STRONG\\r\\n``."""


class UnsupportedVersion(HeaderError):
    """The header names a format version other than 1."""


class UnsupportedAlgorithm(HeaderError):
    """The header names an algorithm other than AES-256-GCM with HKDF-SHA256."""


class BadSegmentSize(HeaderError):
    """The header's segment size is outside 64 bytes .. 16 MiB."""


class SegmentAuthError(FormatError):
    """A segment failed authentication: a changed byte, a segment moved, repeated or
    taken from another file, a tampered salt or prefix, the wrong key or file id."""


class TruncatedError(FormatError):
    """The stream ended before its last segment."""


class TrailingDataError(FormatError):
    """There are bytes after the last segment."""


class KeyringError(CryptoError):
    """A master key is missing, malformed or does not open a wrapped key."""


class KeyringInvalid(KeyringError):
    """The key text or key file is malformed or unsafe (the message names the problem,
    never the key)."""


class MasterKeyUnavailable(KeyringError):
    """The wrapped key names a master key version this provider does not have."""


class UnwrapFailed(KeyringError):
    """The wrapped key does not authenticate: wrong master key, another file's id, or
    tampered."""
