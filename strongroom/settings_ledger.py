"""Settings for the audit ledger: origin, signing key and checkpoint cadence."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

_ORIGIN_RE = re.compile(r"^[^\s+]{1,200}$")


class LedgerSettings(BaseSettings):
    """The ledger part of ``Settings`` (inherited, never used alone)."""

    ledger_origin: str = Field(
        "",
        description="The log's name in checkpoints and its key name (no spaces, no `+`). "
        "Empty means the host of `STRONGROOM_BASE_URL` followed by `/ledger`.",
    )
    ledger_signing_key: SecretStr | None = Field(
        None,
        description="Ed25519 key that signs checkpoints, as "
        "`PRIVATE+KEY+<origin>+<id>+<base64>` (`strongroom ledger keygen` makes one). "
        "Required in production; separate from every other secret. Generated once into "
        "`<data dir>/dev-secrets/` otherwise.",
    )
    ledger_checkpoint_entries: int = Field(
        64, ge=1, le=1_000_000, description="Sign a new checkpoint after this many entries..."
    )
    ledger_checkpoint_seconds: int = Field(
        60,
        ge=1,
        le=86_400,
        description="...or when new entries are this many seconds past the last checkpoint.",
    )

    @field_validator("ledger_origin")
    @classmethod
    def _check_origin(cls, value: str) -> str:
        if value and not _ORIGIN_RE.match(value):
            raise ValueError("must be 1-200 characters without spaces or '+'")
        return value
