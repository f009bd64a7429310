"""The checkpoint signer from settings (production) or a development secret."""

from __future__ import annotations

import hashlib

from strongroom.devkeys import load_or_create_dev_secret
from strongroom.ledger.note import NoteError, Signer
from strongroom.settings import ConfigError, Mode, Settings, env_name

DEV_SECRET_NAME = "ledger_signing_seed"  # noqa: S105  # a file name, not a secret


def signing_key_problems(settings: Settings) -> list[str]:
    """Why the configured signing key cannot be used ([] when it can, or is not set)."""
    if settings.ledger_signing_key is None:
        return []
    try:
        signer = Signer.parse(settings.ledger_signing_key.get_secret_value())
    except NoteError as err:
        return [f"{env_name('ledger_signing_key')} is unusable: {err}."]
    if signer.name != settings.effective_ledger_origin:
        return [
            f"{env_name('ledger_signing_key')} is for {signer.name!r} but the ledger's origin "
            f"is {settings.effective_ledger_origin!r} (set STRONGROOM_LEDGER_ORIGIN to match)."
        ]
    return []


def load_signer(settings: Settings, *, create: bool = True) -> Signer:
    """The signer for checkpoints; raises ``ConfigError`` when there is none to use."""
    problems = signing_key_problems(settings)
    if problems:
        raise ConfigError(problems)
    if settings.ledger_signing_key is not None:
        return Signer.parse(settings.ledger_signing_key.get_secret_value())
    if settings.mode is Mode.PRODUCTION or not create:
        raise ConfigError([f"{env_name('ledger_signing_key')} is not set."])
    try:
        secret = load_or_create_dev_secret(settings.data_dir, DEV_SECRET_NAME)
    except (OSError, ValueError) as err:
        raise ConfigError([f"Development ledger key unusable: {err}"]) from err
    # The development key is derived from its own generated secret (with its own
    # label), so it shares nothing with the other development secrets.
    seed = hashlib.sha256(b"strongroom ledger signing seed v1\n" + secret.encode()).digest()
    return Signer(settings.effective_ledger_origin, seed)
