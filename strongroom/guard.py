"""Start-up checks: development secrets outside production, refusal inside it.

``prepare_settings`` is what every entry point calls before it serves anything; in
production it raises ``ConfigError`` listing every problem at once, so an operator
fixes them in one go instead of one restart at a time.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from zxcvbn import zxcvbn

from strongroom.devkeys import dev_secrets_dir, is_dev_material, load_or_create_dev_secret
from strongroom.ledger.keys import signing_key_problems
from strongroom.settings import ConfigError, Mode, Settings, env_name

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 32
MIN_METRICS_TOKEN_CHARS = 32
PACKAGE_DIR = Path(__file__).resolve().parent

# Values copied from tutorials, templates and the prototype's own checklist.
_PLACEHOLDER_FRAGMENTS = (
    "changeme",
    "change-me",
    "change_me",
    "change-this",
    "changethis",
    "your-secret",
    "your_secret",
    "yoursecret",
    "placeholder",
    "example",
    "replace-me",
    "insecure",
    "secret",
    "strongroom",
    "password",
)
# zxcvbn rates 32 random hex characters (128 bits) at 10^29 guesses or more; values
# made of words, keyboard walks, sequences or repeats score far lower (10^22-10^25
# for the usual "development-key-for-local-use-only"), so 10^26 separates the two.
MIN_GUESSES_LOG10 = 26
_ZXCVBN_MAX_CHARS = 72  # zxcvbn refuses longer input; 72 random characters are plenty


def prepare_settings(settings: Settings, *, create: bool = True) -> Settings:
    """Fill in development secrets outside production; refuse bad production settings.

    With ``create=False`` nothing is written to disk (used by ``config check``).
    """
    if settings.mode is Mode.PRODUCTION:
        problems = production_problems(settings)
        if problems:
            raise ConfigError(problems)
        return settings
    if settings.secret_key is None and create:
        try:
            secret = load_or_create_dev_secret(settings.data_dir, "secret_key")
        except (OSError, ValueError) as err:
            raise ConfigError([f"Development secret unusable: {err}"]) from err
        log.warning(
            "development secret key in use; it is kept in %s and must never be used in production",
            dev_secrets_dir(settings.data_dir),
        )
        return settings.model_copy(update={"secret_key": SecretStr(secret)})
    return settings


def production_problems(settings: Settings) -> list[str]:
    """Every reason the settings are unfit for production, one sentence each."""
    problems = _secret_problems(settings.secret_key)
    if settings.debug:
        problems.append(f"{env_name('debug')} is on: debug mode must be off in production.")
    if "*" in settings.cors_origins:
        problems.append(
            f"{env_name('cors_origins')} allows every origin ('*'): list the exact origins "
            "that may call the API."
        )
    problems.extend(_database_problems(settings))
    if settings.ledger_signing_key is None:
        problems.append(
            f"{env_name('ledger_signing_key')} is not set: production checkpoints need a key "
            "of their own (`strongroom ledger keygen` makes one)."
        )
    problems.extend(signing_key_problems(settings))
    problems.extend(_master_key_problems(settings))
    problems.extend(metrics_token_problems(settings.metrics_token))
    if settings.cookie_secure is False:
        problems.append(
            f"{env_name('cookie_secure')} is off: session cookies would travel over plain "
            "HTTP; serve over HTTPS (behind a proxy: set STRONGROOM_TRUSTED_PROXY_HOPS)."
        )
    if _inside_package(settings.data_dir):
        problems.append(
            f"{env_name('data_dir')} ({settings.data_dir}) is inside the installed package: "
            "it would be lost on upgrade; choose a directory such as /var/lib/strongroom."
        )
    return problems


def _master_key_problems(settings: Settings) -> list[str]:
    if settings.master_keys is None and settings.master_key_file is None:
        return [
            f"Neither {env_name('master_keys')} nor {env_name('master_key_file')} is set: "
            "production needs master keys of its own (`strongroom keys generate` makes one), "
            "kept and backed up apart from the data."
        ]
    if settings.master_keys is not None and is_dev_material(
        settings.master_keys.get_secret_value()
    ):
        return [f"{env_name('master_keys')} holds development key material."]
    key_file = settings.master_key_file
    if key_file is not None and key_file.resolve().is_relative_to(
        dev_secrets_dir(settings.data_dir).resolve()
    ):
        return [
            f"{env_name('master_key_file')} points at the generated development keys in "
            f"{key_file.parent}: generate production keys with `strongroom keys generate`."
        ]
    return []


def _secret_problems(secret: SecretStr | None) -> list[str]:
    name = env_name("secret_key")
    if secret is None or not secret.get_secret_value():
        return [
            f"{name} is not set: production needs a random secret of at least "
            f"{MIN_SECRET_BYTES} bytes (for example: python -c "
            "'import secrets; print(secrets.token_urlsafe(48))')."
        ]
    value = secret.get_secret_value()
    if is_dev_material(value):
        return [
            f"{name} holds a development-only secret generated by Strongroom: "
            "generate a new one for production."
        ]
    # One sentence about the secret is enough: any of these means "generate a new one".
    size = len(value.encode("utf-8"))
    if size < MIN_SECRET_BYTES:
        return [f"{name} is {size} bytes long: production needs at least {MIN_SECRET_BYTES}."]
    if looks_like_placeholder(value):
        return [f"{name} looks like a placeholder, not a random secret: generate a new one."]
    if too_guessable(value):
        return [
            f"{name} is made of words, sequences or repeats, not randomness: generate a new one."
        ]
    return []


def metrics_token_problems(token: SecretStr | None) -> list[str]:
    """Why the ``/metrics`` bearer token is unfit for production (none: not served)."""
    value = token.get_secret_value() if token is not None else ""
    if not value:
        return []
    name = env_name("metrics_token")
    if len(value) < MIN_METRICS_TOKEN_CHARS:
        return [
            f"{name} is {len(value)} characters long: production needs at least "
            f"{MIN_METRICS_TOKEN_CHARS} (for example: python -c "
            "'import secrets; print(secrets.token_urlsafe(32))')."
        ]
    if is_dev_material(value) or looks_like_placeholder(value) or too_guessable(value):
        return [f"{name} looks like a placeholder, not a random token: generate a new one."]
    return []


def looks_like_placeholder(value: str) -> bool:
    lowered = value.lower()
    return any(fragment in lowered for fragment in _PLACEHOLDER_FRAGMENTS)


def too_guessable(value: str) -> bool:
    """Whether zxcvbn finds the value far easier to guess than a random 128-bit token."""
    estimate = zxcvbn(value[:_ZXCVBN_MAX_CHARS])
    return float(estimate["guesses_log10"]) < MIN_GUESSES_LOG10


def _database_problems(settings: Settings) -> list[str]:
    if not settings.is_sqlite:
        return []
    name = env_name("database_url")
    database = make_url(settings.database_url).database
    if not database or database == ":memory:" or "mode=memory" in settings.database_url:
        return [f"{name} is an in-memory SQLite database: everything would be lost at restart."]
    db_path = Path(database)
    if _inside_package(db_path):
        return [
            f"{name} points at an SQLite file inside the installed package ({db_path}): "
            "it would be lost on upgrade; keep the database under the data directory."
        ]
    return []


def _inside_package(path: Path) -> bool:
    return path.resolve().is_relative_to(PACKAGE_DIR)
