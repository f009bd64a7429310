"""Password hashing (Argon2id) and the password policy.

Policy, after NIST SP 800-63B and OWASP ASVS 5.0 (V6): a minimum length (12 by
default, never below 8), at least 64 characters accepted (we accept 1024), every
character allowed and nothing trimmed or truncated, no composition rules; refused
when it is in the bundled list of breached passwords, when zxcvbn estimates it
guessable in under 10^10 tries (after 72 characters zxcvbn stops looking, and
length alone carries the strength), or when it contains the username.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.resources import files

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from strongroom.auth.exceptions import PasswordRejected
from strongroom.settings_accounts import AccountSettings

MAX_LENGTH = 1024
MIN_GUESSES_LOG10 = 10  # zxcvbn's score 4 starts here: "very unguessable" offline
_ZXCVBN_MAX_CHARS = 72


@dataclass(frozen=True)
class Verdict:
    ok: bool
    needs_rehash: bool = False


@dataclass(frozen=True)
class Assessment:
    """What the policy thinks of a password: every reason it is refused (none when it
    is accepted) and zxcvbn's score from 0 (guessable) to 4, for a strength meter."""

    reasons: list[str]
    score: int

    @property
    def acceptable(self) -> bool:
        return not self.reasons


class Passwords:
    """Hashes and verifies passwords with the configured Argon2id parameters."""

    def __init__(self, settings: AccountSettings) -> None:
        self.min_length = settings.password_min_length
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # Verified against for unknown usernames, so they cost what a real check costs.
        self._dummy_hash = self._hasher.hash("strongroom dummy password for timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> Verdict:
        """Whether ``password`` matches; ``needs_rehash`` when the parameters changed."""
        try:
            self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verdict(ok=False)
        return Verdict(ok=True, needs_rehash=self._hasher.check_needs_rehash(stored_hash))

    def burn(self, password: str) -> None:
        """Spend the time of one verification (for an account that does not exist)."""
        self.verify(self._dummy_hash, password)

    def check_policy(self, password: str, *, username: str) -> None:
        """Raise ``PasswordRejected`` with every reason the password is unacceptable."""
        reasons = policy_problems(password, username=username, min_length=self.min_length)
        if reasons:
            raise PasswordRejected(reasons)

    def assess(self, password: str, *, username: str) -> Assessment:
        """The policy's verdict with a strength score, for live feedback while typing
        (the same rules ``check_policy`` enforces, so the meter never disagrees)."""
        return assess(password, username=username, min_length=self.min_length)


def policy_problems(password: str, *, username: str, min_length: int) -> list[str]:
    """Each reason ``password`` breaks the policy, as sentences for the person typing it."""
    return assess(password, username=username, min_length=min_length).reasons


def assess(password: str, *, username: str, min_length: int) -> Assessment:
    """Every reason ``password`` breaks the policy, and zxcvbn's score (0-4)."""
    if len(password) < min_length:
        return Assessment(
            [f"Use at least {min_length} characters (a few words make a good password)."], 0
        )
    if len(password) > MAX_LENGTH:
        return Assessment([f"Use at most {MAX_LENGTH} characters."], 0)
    reasons = []
    lowered = password.casefold()
    if username and username.casefold() in lowered:
        reasons.append("Do not use your username in the password.")
    if lowered in common_passwords():
        reasons.append("This password appears in lists of breached passwords; choose another.")
        return Assessment(reasons, 0)
    result = zxcvbn(password[:_ZXCVBN_MAX_CHARS], user_inputs=[username, "strongroom"])
    if result["guesses_log10"] < MIN_GUESSES_LOG10:
        hint = result["feedback"].get("warning") or "It would be easy to guess."
        reasons.append(f"{hint.rstrip('.')}. Add more words or characters.")
    # A refused password never shows as strong, whatever zxcvbn alone would say.
    score = int(result["score"]) if not reasons else min(int(result["score"]), 2)
    return Assessment(reasons, score)


@functools.cache
def common_passwords() -> frozenset[str]:
    text = (files("strongroom.auth") / "data" / "common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
