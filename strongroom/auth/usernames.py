"""The username rule, and the normalisation that makes usernames case-insensitive.

Rule: 3-32 characters of ASCII letters, digits, ``.``, ``_`` and ``-``, starting and
ending with a letter or digit; stored and compared in lower case. Restricting names
to ASCII removes look-alike attacks (Cyrillic ``\u0430`` for Latin ``a``, zero-width
characters, full-width forms) instead of trying to detect them.

At registration the name must already be in that form (what you type is what you
get); at sign-in the input is NFKC-normalised and case-folded first, so a name typed
on a phone with full-width or upper-case letters still finds the account.
"""

from __future__ import annotations

import re
import unicodedata

from strongroom.auth.exceptions import InvalidUsername

MIN_LENGTH = 3
MAX_LENGTH = 32
# fullmatch, never match: "$" would also accept a trailing newline.
_RULE = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
# Names that would read as the system itself in the audit trail or in links.
RESERVED = frozenset(
    {"admin-bot", "anonymous", "api", "me", "root", "strongroom", "system", "support"}
)
RULE_TEXT = (
    f"{MIN_LENGTH}-{MAX_LENGTH} characters: letters a-z, digits, '.', '_' or '-', "
    "starting and ending with a letter or digit"
)


def canonical_username(raw: str) -> str:
    """The stored form of a new username; raises ``InvalidUsername`` when it breaks the rule."""
    if not raw.isascii():
        raise InvalidUsername(f"Usernames use plain ASCII only ({RULE_TEXT}).")
    name = raw.lower()
    if not (MIN_LENGTH <= len(name) <= MAX_LENGTH) or not _RULE.fullmatch(name):
        raise InvalidUsername(f"A username needs {RULE_TEXT}.")
    if name in RESERVED:
        raise InvalidUsername(f"The username {name!r} is reserved.")
    return name


def lookup_username(raw: str) -> str | None:
    """The form to look an account up by at sign-in, or ``None`` if no account can match."""
    name = unicodedata.normalize("NFKC", raw[: MAX_LENGTH * 4]).casefold()
    if not (MIN_LENGTH <= len(name) <= MAX_LENGTH) or not _RULE.fullmatch(name):
        return None
    return name
