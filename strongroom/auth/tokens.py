"""Random tokens, their hashes, and the small symmetric encryption of TOTP seeds.

Every bearer secret is 256 random bits behind a prefix that says what it is
(``srs_`` session, ``srp_`` personal access token, ``src_`` 2FA challenge, ``sri_``
invitation), so leaked tokens are easy to search for in code and logs. Only the
SHA-256 of a token is stored: the token is uniformly random, so a slow hash would
add nothing, and lookups stay one indexed equality query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SESSION_PREFIX = "srs_"
PAT_PREFIX = "srp_"
CHALLENGE_PREFIX = "src_"
INVITE_PREFIX = "sri_"
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 64  # prefix + 43 base64url characters, with room to spare
_NONCE_BYTES = 12


def new_token(prefix: str) -> str:
    """A fresh token: ``prefix`` followed by 256 random bits in base64url."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def has_prefix(token: str, prefix: str) -> bool:
    return token.startswith(prefix) and len(token) <= MAX_TOKEN_LENGTH


def csrf_token_for(secret_key: str, session_token_hash: bytes) -> str:
    """The CSRF token bound to one session: HMAC of its token hash under the secret key.

    It changes with every new session, cannot be computed without the secret key,
    and needs no storage of its own (synchronizer token pattern, stateless form).
    """
    mac = hmac.new(secret_key.encode("utf-8"), b"csrf:" + session_token_hash, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class SeedBox:
    """Encrypts TOTP seeds at rest with AES-256-GCM under a key derived from the secret
    key (HKDF-SHA256, its own ``info`` so the key serves nothing else). The user id is
    the associated data, so a seed copied onto another account does not decrypt.

    Rotating ``STRONGROOM_SECRET_KEY`` makes stored seeds unreadable: those users
    then sign in with a recovery code and enrol again (see docs/security.md).
    """

    def __init__(self, secret_key: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"strongroom totp seed v1"
        ).derive(secret_key.encode("utf-8"))
        self._aead = AESGCM(key)

    def seal(self, seed: str, *, user_id: int) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, seed.encode("ascii"), _aad(user_id))

    def open(self, sealed: bytes, *, user_id: int) -> str | None:
        """The seed, or ``None`` when it does not decrypt (another key, another user)."""
        try:
            plain = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _aad(user_id))
        except (InvalidTag, ValueError):
            return None
        return plain.decode("ascii")


def _aad(user_id: int) -> bytes:
    return f"user:{user_id}".encode("ascii")
