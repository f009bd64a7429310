"""Settings for operating the service: metrics, error tracking, HTTPS and headers,
maintenance."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

_BIND_RE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
MAX_PORT = 65535


class OpsSettings(BaseSettings):
    """The operations part of ``Settings`` (inherited, never used alone)."""

    # -- metrics -------------------------------------------------------------------
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token that `GET /metrics` on the app's own port requires "
        "(at least 32 characters). Empty: `/metrics` is not served on the app port.",
    )
    metrics_bind: str = Field(
        "",
        description="`host:port` where `strongroom serve` also exposes the metrics of all "
        "its workers without a token, for a Prometheus on a private interface "
        "(`127.0.0.1:9464`). Empty for none.",
    )

    # -- error tracking ------------------------------------------------------------
    sentry_dsn: SecretStr | None = Field(
        None,
        description="Sentry DSN: errors (with their request id, never cookies, "
        "authorization headers, passwords, tokens or file names) are sent there. "
        "Empty turns error tracking off.",
    )
    sentry_environment: str = Field(
        "",
        max_length=64,
        description="Environment name shown in Sentry. Empty means the mode.",
    )
    sentry_traces_sample_rate: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of requests Sentry traces for performance (0 for none).",
    )

    # -- HTTPS and security headers ------------------------------------------------
    https_redirect: bool | None = Field(
        None,
        description="Redirect plain-HTTP requests to HTTPS (308; `/healthz` and "
        "`/readyz` excepted). Empty means on in production, off otherwise. Behind a "
        "proxy that terminates TLS, set `STRONGROOM_TRUSTED_PROXY_HOPS` so the app "
        "sees the original scheme.",
    )
    hsts_seconds: int = Field(
        63_072_000,
        ge=0,
        le=63_072_000,
        description="`Strict-Transport-Security` max-age sent on HTTPS responses in "
        "production (two years; 0 sends none).",
    )
    hsts_include_subdomains: bool = Field(
        default=False,
        description="Add `includeSubDomains` to `Strict-Transport-Security`.",
    )
    hsts_preload: bool = Field(
        default=False,
        description="Add `preload` to `Strict-Transport-Security` (only if the domain is "
        "submitted to the browsers' preload list).",
    )

    # -- maintenance ---------------------------------------------------------------
    maintenance_retention_days: int = Field(
        30,
        ge=0,
        le=3650,
        description="Days that ended grants, share links, invitations and personal access "
        "tokens stay listed (as expired, revoked or used up) before `strongroom "
        "maintenance run` deletes them; their history stays in the ledger. Expired "
        "sessions and 2FA sign-in challenges are deleted at once.",
    )

    @field_validator("metrics_bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        match = _BIND_RE.match(value)
        if not match or not 0 < int(match.group(2)) <= MAX_PORT:
            raise ValueError("must be host:port, such as 127.0.0.1:9464")
        return value

    def https_redirect_on(self, *, production: bool) -> bool:
        return production if self.https_redirect is None else self.https_redirect
