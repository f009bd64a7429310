"""Settings for accounts: passwords, sessions, 2FA, registration and rate limits.

Kept apart from ``strongroom.settings`` so each file stays readable; ``Settings``
inherits these fields, so they are read and documented like every other setting.
"""

from __future__ import annotations

from typing import Literal

from limits import parse
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

# RFC 9106's second recommended option, and argon2-cffi's default: 64 MiB, t=3, p=4.
ARGON2_DEFAULT_MEMORY_KIB = 64 * 1024
# OWASP's floor for Argon2id (19 MiB, t=2); nothing below it outside the test suite.
ARGON2_MIN_MEMORY_KIB = 19 * 1024
ARGON2_MIN_TIME_COST = 2

RATE_LIMIT_HELP = " Syntax: `N per period`, e.g. `10/minute` or `5 per 15 minutes`."


class AccountSettings(BaseSettings):
    """The account-related part of ``Settings`` (inherited, never used alone)."""

    registration: Literal["open", "invite", "closed"] = Field(
        "open",
        description="Who may create an account: `open` (anyone), `invite` (only with a "
        "single-use invitation from an admin) or `closed` (only admins create accounts).",
    )
    password_min_length: int = Field(
        12, ge=8, le=128, description="Shortest password accepted (never below 8)."
    )
    argon2_time_cost: int = Field(3, ge=1, le=20, description="Argon2id iterations.")
    argon2_memory_kib: int = Field(
        ARGON2_DEFAULT_MEMORY_KIB, ge=8, le=4 * 1024 * 1024, description="Argon2id memory in KiB."
    )
    argon2_parallelism: int = Field(4, ge=1, le=16, description="Argon2id lanes.")
    testing_fast_password_hashing: bool = Field(
        default=False,
        description="Test suites only: allows Argon2 parameters below the safe floor "
        "(19 MiB, 2 iterations). Refused outside `testing` mode.",
    )
    session_idle_timeout: int = Field(
        30 * 60,
        ge=60,
        le=7 * 24 * 3600,
        description="Seconds of inactivity after which a session ends.",
    )
    session_lifetime: int = Field(
        12 * 3600,
        ge=300,
        le=30 * 24 * 3600,
        description="Seconds after sign-in at which a session ends whatever its activity.",
    )
    login_challenge_lifetime: int = Field(
        300,
        ge=30,
        le=900,
        description="Seconds a half-finished sign-in (password accepted, 2FA code awaited) "
        "stays usable. It grants nothing but the right to send the code.",
    )
    require_2fa: Literal["", "none", "admins", "everyone"] = Field(
        "",
        description="Who must enrol in two-factor authentication before doing anything "
        "else: `none`, `admins` or `everyone`. Empty means `admins` in production and "
        "`none` otherwise.",
    )
    invite_lifetime: int = Field(
        7 * 24 * 3600, ge=3600, le=90 * 24 * 3600, description="Seconds an invitation stays valid."
    )
    cookie_secure: bool | None = Field(
        None,
        description="Send the session cookie only over HTTPS (and name it `__Host-...`). "
        "Empty means on outside development mode.",
    )
    bootstrap_admin_username: str = Field(
        "admin",
        description="Username of the admin created from `STRONGROOM_BOOTSTRAP_ADMIN_PASSWORD`.",
    )
    bootstrap_admin_password: SecretStr | None = Field(
        None,
        description="Read once at start-up when no admin exists: creates the first admin "
        "with this password, which must be changed at first sign-in. Remove it afterwards.",
    )
    rate_limit_signin_ip: str = Field(
        "60/minute",
        description="Sign-in attempts per client IP, whatever the account." + RATE_LIMIT_HELP,
    )
    rate_limit_signin_account_ip: str = Field(
        "10/minute",
        description="Failed sign-ins per account and client IP; past it even the right "
        "password is refused until the window passes." + RATE_LIMIT_HELP,
    )
    rate_limit_register_ip: str = Field(
        "5/hour", description="Registrations per client IP." + RATE_LIMIT_HELP
    )
    rate_limit_password_check_ip: str = Field(
        "60/minute",
        description="Password-strength checks (`POST /api/v1/auth/password-check`, the "
        "registration page's live feedback) per client IP." + RATE_LIMIT_HELP,
    )
    rate_limit_2fa_account: str = Field(
        "5 per 5 minutes",
        description="Wrong 2FA or recovery codes per account." + RATE_LIMIT_HELP,
    )
    rate_limit_token_failures_ip: str = Field(
        "20/minute",
        description="Requests with an invalid bearer token per client IP; past it every "
        "bearer request from that IP is refused until the window passes." + RATE_LIMIT_HELP,
    )
    rate_limit_password_change: str = Field(
        "5 per 15 minutes",
        description="Wrong current passwords per account when changing the password or "
        "turning off 2FA." + RATE_LIMIT_HELP,
    )
    rate_limit_link_ip: str = Field(
        "120/minute",
        description="Requests to share-link URLs (`/s/...`) per client IP." + RATE_LIMIT_HELP,
    )
    rate_limit_link_password: str = Field(
        "10 per 15 minutes",
        description="Wrong share-link passwords per link and client IP; past it even the "
        "right password is refused until the window passes." + RATE_LIMIT_HELP,
    )

    @field_validator(
        "rate_limit_signin_ip",
        "rate_limit_signin_account_ip",
        "rate_limit_register_ip",
        "rate_limit_password_check_ip",
        "rate_limit_2fa_account",
        "rate_limit_token_failures_ip",
        "rate_limit_password_change",
        "rate_limit_link_ip",
        "rate_limit_link_password",
    )
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as err:
            raise ValueError(f"{value!r} is not a rate limit like `10/minute`") from err
        return value

    @field_validator("bootstrap_admin_username")
    @classmethod
    def _check_bootstrap_username(cls, value: str) -> str:
        return value.strip()

    def argon2_problems(self) -> list[str]:
        """Why the Argon2 parameters are too weak, unless the test-only flag allows it."""
        if self.testing_fast_password_hashing:
            return []
        problems = []
        if self.argon2_memory_kib < ARGON2_MIN_MEMORY_KIB:
            problems.append(
                f"STRONGROOM_ARGON2_MEMORY_KIB is {self.argon2_memory_kib}: at least "
                f"{ARGON2_MIN_MEMORY_KIB} KiB (19 MiB) keeps password guessing expensive."
            )
        if self.argon2_time_cost < ARGON2_MIN_TIME_COST:
            problems.append(
                f"STRONGROOM_ARGON2_TIME_COST is {self.argon2_time_cost}: at least "
                f"{ARGON2_MIN_TIME_COST} iterations are needed."
            )
        return problems

    def two_factor_required_for(self, *, is_admin: bool, production: bool) -> bool:
        policy = self.require_2fa or ("admins" if production else "none")
        return policy == "everyone" or (policy == "admins" and is_admin)

    def secure_cookies(self, *, development: bool) -> bool:
        return (not development) if self.cookie_secure is None else self.cookie_secure


RateLimitSetting = Literal[
    "rate_limit_signin_ip",
    "rate_limit_signin_account_ip",
    "rate_limit_register_ip",
    "rate_limit_password_check_ip",
    "rate_limit_2fa_account",
    "rate_limit_token_failures_ip",
    "rate_limit_password_change",
    "rate_limit_link_ip",
    "rate_limit_link_password",
]
