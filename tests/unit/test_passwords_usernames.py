"""The password policy, Argon2id hashing, and the username rule and its normalisation."""

from __future__ import annotations

import secrets
import string
from typing import Any

import pytest

from strongroom.auth.exceptions import InvalidUsername, PasswordRejected
from strongroom.auth.passwords import MAX_LENGTH, Passwords, common_passwords, policy_problems
from strongroom.auth.usernames import RESERVED, canonical_username, lookup_username
from strongroom.settings import load_settings

FAST: dict[str, Any] = {
    "mode": "testing",
    "testing_fast_password_hashing": True,
    "argon2_memory_kib": 64,
    "argon2_time_cost": 1,
    "argon2_parallelism": 1,
}
STRONG = "violet-harbour-lantern-97"
ALPHABET = string.ascii_letters + string.digits + string.punctuation


def passwords(**overrides: Any) -> Passwords:
    return Passwords(load_settings({**FAST, **overrides}))


def random_password(length: int) -> str:
    """Random characters: strong by any estimate, and never a word or the username."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def problems(password: str, username: str = "alice", min_length: int = 12) -> list[str]:
    return policy_problems(password, username=username, min_length=min_length)


# --- policy_problems ----------------------------------------------------------------


def test_a_strong_passphrase_passes() -> None:
    assert problems(STRONG) == []
    assert problems("correct horse battery staple") == []


def test_the_minimum_length_boundary() -> None:
    assert problems("Kq7#vT2m!xLp") == []  # 12 characters
    eleven = problems("Kq7#vT2m!xL")
    assert len(eleven) == 1
    assert "at least 12 characters" in eleven[0]


def test_the_minimum_length_is_configurable() -> None:
    fifteen = "Kq7#vT2m!xLp3Rw"
    assert problems(fifteen, min_length=12) == []
    refused = problems(fifteen, min_length=16)
    assert len(refused) == 1
    assert "at least 16 characters" in refused[0]
    assert problems(fifteen + "9", min_length=16) == []


def test_the_maximum_length_boundary() -> None:
    assert problems(random_password(MAX_LENGTH)) == []
    refused = problems(random_password(MAX_LENGTH + 1))
    assert refused == [f"Use at most {MAX_LENGTH} characters."]
    assert MAX_LENGTH == 1024


def test_length_counts_characters_not_bytes() -> None:
    # Twelve characters that take far more than twelve bytes in UTF-8.
    assert problems("ÆØÅ漢字🔑ñüçßé€") == []
    assert "at least 12" in problems("ÆØÅ漢字🔑ñüçßé")[0]


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("xx-alice-violet-harbour", "alice"),
        ("xx-ALICE-violet-harbour", "alice"),
        ("xx-alice-violet-harbour", "ALICE"),
        ("violet-harbour-AlIcE", "aLiCe"),
    ],
)
def test_the_username_inside_the_password_is_refused_whatever_the_case(
    password: str, username: str
) -> None:
    assert any("username" in reason for reason in problems(password, username=username))


def test_a_password_without_the_username_is_not_refused_for_it() -> None:
    assert not any("username" in r for r in problems(STRONG, username="harbourmaster"))


@pytest.mark.parametrize("password", ["password1234", "PASSWORD1234", "PassWord1234"])
def test_breached_passwords_are_refused_case_insensitively(password: str) -> None:
    assert password.lower() in common_passwords()
    refused = problems(password)
    assert len(refused) == 1
    assert "breached" in refused[0]


def test_the_breached_list_holds_only_long_enough_lower_case_entries() -> None:
    entries = common_passwords()
    assert len(entries) > 10_000
    assert all(entry == entry.lower() and len(entry) >= 8 for entry in entries)


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "abcdefghijkl", "qwertyuiopasdfgh"])
def test_guessable_passwords_are_refused_by_zxcvbn(password: str) -> None:
    refused = problems(password)
    assert len(refused) == 1
    assert refused[0].endswith("Add more words or characters.")
    assert "breached" not in refused[0]


def test_nothing_is_trimmed() -> None:
    # Ten characters and two spaces are twelve characters: long enough.
    assert problems("Kq7#vT2m!x  ") == []
    assert problems("  Kq7#vT2m!x") == []
    # A breached password with spaces around it is no longer the breached password.
    assert not any("breached" in r for r in problems(" password1234 "))


def test_every_reason_is_reported_at_once() -> None:
    refused = problems("alice1234567", username="alice")
    assert any("username" in r for r in refused)
    assert len(refused) == 2  # the username, and zxcvbn's verdict


# --- Passwords ----------------------------------------------------------------------


def test_hash_and_verify() -> None:
    hasher = passwords()
    stored = hasher.hash(STRONG)
    assert stored.startswith("$argon2id$")
    assert STRONG not in stored
    assert hasher.hash(STRONG) != stored  # salted
    verdict = hasher.verify(stored, STRONG)
    assert verdict.ok
    assert not verdict.needs_rehash


@pytest.mark.parametrize(
    "attempt", ["violet-harbour-lantern-98", " violet-harbour-lantern-97", STRONG.upper(), ""]
)
def test_verify_refuses_anything_but_the_exact_password(attempt: str) -> None:
    hasher = passwords()
    verdict = hasher.verify(hasher.hash(STRONG), attempt)
    assert not verdict.ok
    assert not verdict.needs_rehash


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$m=64,t=1,p=1$garbage"])
def test_verify_refuses_a_broken_hash_without_raising(stored: str) -> None:
    assert not passwords().verify(stored, STRONG).ok


@pytest.mark.parametrize(
    "changed", [{"argon2_time_cost": 2}, {"argon2_memory_kib": 128}, {"argon2_parallelism": 2}]
)
def test_a_hash_made_with_other_parameters_needs_rehash(changed: dict[str, int]) -> None:
    old = passwords().hash(STRONG)
    verdict = passwords(**changed).verify(old, STRONG)
    assert verdict.ok
    assert verdict.needs_rehash
    assert not passwords().verify(old, STRONG).needs_rehash


def test_burn_verifies_against_a_dummy_hash() -> None:
    passwords().burn(STRONG)  # must not raise, whatever is passed


def test_check_policy_raises_with_every_reason_and_uses_the_configured_minimum() -> None:
    hasher = passwords(password_min_length=16)
    with pytest.raises(PasswordRejected) as caught:
        hasher.check_policy("Kq7#vT2m!xLp3Rw", username="alice")
    assert caught.value.reasons == [
        "Use at least 16 characters (a few words make a good password)."
    ]
    assert caught.value.extra == {"reasons": caught.value.reasons}
    hasher.check_policy("Kq7#vT2m!xLp3Rw9", username="alice")
    with pytest.raises(PasswordRejected) as caught:
        passwords().check_policy("alice-violet-harbour-97", username="alice")
    assert any("username" in r for r in caught.value.reasons)


# --- usernames ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("alice", "alice"),
        ("Alice", "alice"),
        ("ALICE.B_C-D", "alice.b_c-d"),
        ("abc", "abc"),
        ("123", "123"),
        ("a" * 32, "a" * 32),
        ("a.-_b", "a.-_b"),
        ("admin", "admin"),  # the bootstrap admin's default name is allowed
    ],
)
def test_canonical_username_accepts_the_rule_and_lowers_it(raw: str, stored: str) -> None:
    assert canonical_username(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ab",
        "a" * 33,
        "bad name",
        " alice",
        "alice ",
        "-alice",
        "alice-",
        ".alice",
        "alice.",
        "_alice",
        "\u0430lice",  # Cyrillic a
        "al\u200bice",  # zero-width space
        "\uff41\uff4c\uff49\uff43\uff45",  # full-width "alice"
        "<script>",
        "x'; drop table users;--",
        "al@ice",
        "al/ice",
        "alice\t",
        "alice\n",
        "alice\r\n",
        "\nalice",
        "ali\nce",
        "alice\x00",
    ],
)
def test_canonical_username_refuses_names_outside_the_rule(raw: str) -> None:
    with pytest.raises(InvalidUsername):
        canonical_username(raw)


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_reserved_names_cannot_be_taken_in_any_case(name: str) -> None:
    # "me" is also too short; the others are refused for being reserved.
    reason = "reserved" if len(name) >= 3 else "characters"
    with pytest.raises(InvalidUsername, match=reason):
        canonical_username(name)
    with pytest.raises(InvalidUsername, match=reason):
        canonical_username(name.upper())


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        ("alice", "alice"),
        ("ALICE", "alice"),
        ("\uff21\uff2c\uff29\uff23\uff25", "alice"),  # full-width upper case
        ("\uff41\uff4c\uff49\uff43\uff45-\uff11", "alice-1"),
        ("\ufb01le-box", "file-box"),  # the "fi" ligature
        ("root", "root"),  # reserved only at registration; looking it up is harmless
    ],
)
def test_lookup_username_normalises_what_was_typed(raw: str, found: str) -> None:
    assert lookup_username(raw) == found


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ab",
        "a" * 33,
        "bad name",
        " alice",
        "\u0430lice",  # NFKC keeps Cyrillic letters as they are
        "al\u200bice",
        "<script>",
        "x'; drop table users;--",
        "alice\n",
        "a" * 100_000,
    ],
)
def test_lookup_username_answers_none_when_no_account_can_match(raw: str) -> None:
    assert lookup_username(raw) is None


def test_nfkc_applies_at_lookup_only() -> None:
    full_width = "\uff41\uff4c\uff49\uff43\uff45"
    assert lookup_username(full_width) == "alice"
    with pytest.raises(InvalidUsername):
        canonical_username(full_width)
