"""The production guard: one message per problem, and development secrets outside it."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path
from typing import Any

import pytest

import strongroom
from strongroom.crypto.keys import generate_key, key_line
from strongroom.devkeys import DEV_MARKER, load_or_create_dev_secret
from strongroom.guard import (
    looks_like_placeholder,
    prepare_settings,
    production_problems,
    too_guessable,
)
from strongroom.ledger.note import Signer
from strongroom.settings import ConfigError, load_settings

GOOD_SECRET = secrets.token_urlsafe(48)
PACKAGE_DIR = Path(strongroom.__file__).resolve().parent


LEDGER_KEY = Signer.generate("127.0.0.1:8000/ledger").encode()
MASTER_KEYS = key_line("1", generate_key())


def production(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "mode": "production",
        "secret_key": GOOD_SECRET,
        "ledger_signing_key": LEDGER_KEY,
        "master_keys": MASTER_KEYS,
        "data_dir": tmp_path,
        **overrides,
    }


def test_good_production_settings_pass(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path, cors_origins="https://files.example"))
    assert production_problems(settings) == []
    assert prepare_settings(settings) is settings


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"secret_key": None}, "STRONGROOM_SECRET_KEY is not set"),
        ({"secret_key": ""}, "STRONGROOM_SECRET_KEY is not set"),
        ({"secret_key": "Kq8#zL2!mW9@xR4$"}, "is 16 bytes long"),
        ({"secret_key": "your-secret-key-here-min-32-chars"}, "placeholder"),
        ({"secret_key": "CHANGEME-" + GOOD_SECRET}, "placeholder"),
        ({"secret_key": "ab" * 40}, "not randomness"),
        ({"secret_key": "0123456789" * 4}, "not randomness"),
        ({"secret_key": "abcdefghijklmnopqrstuvwxyz012345"}, "not randomness"),
        ({"secret_key": "development-key-for-local-use-only"}, "not randomness"),
        ({"secret_key": "s3cr3t-k3y-f0r-pr0duct10n-d3pl0y!"}, "not randomness"),
        ({"secret_key": "my-company-strongroom-production-secret-2026"}, "placeholder"),
        ({"secret_key": " " + DEV_MARKER + "0123456789abcdef" * 4}, "development-only secret"),
        ({"secret_key": DEV_MARKER + "0123456789abcdef" * 4}, "development-only secret"),
        ({"debug": True}, "STRONGROOM_DEBUG is on"),
        ({"cookie_secure": False}, "STRONGROOM_COOKIE_SECURE is off"),
        ({"ledger_signing_key": None}, "STRONGROOM_LEDGER_SIGNING_KEY is not set"),
        ({"ledger_signing_key": "PRIVATE+KEY+x"}, "STRONGROOM_LEDGER_SIGNING_KEY is unusable"),
        (
            {"ledger_signing_key": Signer.generate("other.example/ledger").encode()},
            "set STRONGROOM_LEDGER_ORIGIN to match",
        ),
        (
            {"master_keys": None},
            "Neither STRONGROOM_MASTER_KEYS nor STRONGROOM_MASTER_KEY_FILE is set",
        ),
        ({"master_keys": f"# {DEV_MARKER}\n{MASTER_KEYS}"}, "development key material"),
        (
            {"master_keys": None, "master_key_file": "DATA/dev-secrets/master-keys"},
            "generated development keys",
        ),
        ({"cors_origins": "https://a.example,*"}, "allows every origin"),
        ({"database_url": "sqlite://"}, "in-memory SQLite"),
        ({"database_url": "sqlite:///:memory:"}, "in-memory SQLite"),
        ({"database_url": f"sqlite:///{PACKAGE_DIR / 'strongroom.db'}"}, "inside the installed"),
        (
            {"data_dir": PACKAGE_DIR / "var", "database_url": "postgresql://u@db/x"},
            "STRONGROOM_DATA_DIR",
        ),
    ],
)
def test_each_rule_refuses_with_its_own_message(
    tmp_path: Path, overrides: dict[str, Any], fragment: str
) -> None:
    if str(overrides.get("master_key_file", "")).startswith("DATA/"):
        overrides = {**overrides, "master_key_file": tmp_path / overrides["master_key_file"][5:]}
    settings = load_settings(production(tmp_path, **overrides))
    problems = production_problems(settings)
    assert len(problems) == 1, problems
    assert fragment in problems[0]
    with pytest.raises(ConfigError) as caught:
        prepare_settings(settings)
    assert caught.value.problems == problems


def test_all_problems_are_listed_together(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path, secret_key=None, debug=True, cors_origins="*"))
    problems = production_problems(settings)
    assert [p.split(" ", 1)[0] for p in problems] == [
        "STRONGROOM_SECRET_KEY",
        "STRONGROOM_DEBUG",
        "STRONGROOM_CORS_ORIGINS",
    ]


def test_production_never_generates_a_secret(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path, secret_key=None))
    with pytest.raises(ConfigError):
        prepare_settings(settings)
    assert not (tmp_path / "dev-secrets").exists()


def test_development_generates_a_private_secret_once(tmp_path: Path) -> None:
    first = prepare_settings(load_settings({"data_dir": tmp_path}))
    second = prepare_settings(load_settings({"data_dir": tmp_path}))
    assert first.secret_key is not None
    assert second.secret_key is not None
    value = first.secret_key.get_secret_value()
    assert value.startswith(DEV_MARKER)
    assert len(value) >= len(DEV_MARKER) + 64
    assert value == second.secret_key.get_secret_value()  # survives a restart
    path = tmp_path / "dev-secrets" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_dev_secret_copied_into_production_is_refused(tmp_path: Path) -> None:
    copied = load_or_create_dev_secret(tmp_path, "secret_key")
    settings = load_settings(production(tmp_path, secret_key=copied))
    assert any("development-only" in p for p in production_problems(settings))


def test_dev_secret_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_or_create_dev_secret(tmp_path, "secret_key")
    path = tmp_path / "dev-secrets" / "secret_key"
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_dev_secret(tmp_path, "secret_key")


def test_dev_secret_file_with_foreign_content_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "dev-secrets"
    directory.mkdir()
    (directory / "secret_key").write_text("hunter2")
    (directory / "secret_key").chmod(0o600)
    with pytest.raises(ValueError, match="does not hold"):
        load_or_create_dev_secret(tmp_path, "secret_key")


def test_config_check_does_not_create_secrets(tmp_path: Path) -> None:
    settings = prepare_settings(load_settings({"data_dir": tmp_path}), create=False)
    assert settings.secret_key is None
    assert not (tmp_path / "dev-secrets").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("change-me-please-0123456789abcdefghij", True),
        ("your-secret-key-here-min-32-chars", True),
        (GOOD_SECRET, False),
    ],
)
def test_placeholder_detection(value: str, expected: bool) -> None:
    assert looks_like_placeholder(value) is expected


@pytest.mark.parametrize(
    "value", [secrets.token_hex(16), secrets.token_urlsafe(32), secrets.token_urlsafe(64)]
)
def test_random_tokens_are_not_too_guessable(value: str) -> None:
    assert not too_guessable(value)


def test_unusable_dev_secret_file_is_a_config_error(tmp_path: Path) -> None:
    load_or_create_dev_secret(tmp_path, "secret_key")
    (tmp_path / "dev-secrets" / "secret_key").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        prepare_settings(load_settings({"data_dir": tmp_path}))


def test_fast_password_hashing_is_refused_outside_testing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="for test suites only"):
        load_settings(production(tmp_path, testing_fast_password_hashing=True))


def test_weak_argon2_parameters_are_refused_without_the_testing_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ARGON2_MEMORY_KIB"):
        load_settings(production(tmp_path, argon2_memory_kib=8192))
    with pytest.raises(ConfigError, match="ARGON2_TIME_COST"):
        load_settings({"mode": "testing", "argon2_time_cost": 1})
