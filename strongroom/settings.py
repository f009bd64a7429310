"""The one validated settings object, read from ``STRONGROOM_*`` variables and ``.env``.

Every setting has a description; ``docs/configuration.md`` is generated from them
(``strongroom config docs``) and a test fails when the two drift apart.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode, SettingsConfigDict

from strongroom.settings_accounts import AccountSettings
from strongroom.settings_files import FileSettings
from strongroom.settings_ledger import LedgerSettings
from strongroom.settings_ops import OpsSettings

ENV_PREFIX = "STRONGROOM_"
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

URL_FIELDS = frozenset({"database_url", "redis_url"})
_ORIGIN_RE = re.compile(r"^https?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


class Mode(enum.StrEnum):
    """How the service runs; production turns on every guard."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"
    TESTING = "testing"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(AccountSettings, FileSettings, LedgerSettings, OpsSettings):
    """Everything Strongroom can be told from the outside, validated once at start-up."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    mode: Mode = Field(
        Mode.DEVELOPMENT,
        description="`development`, `production` or `testing`. Production refuses to start "
        "with weak or development-only configuration.",
    )
    debug: bool = Field(
        default=False,
        description="Flask debug mode: the interactive debugger under `strongroom serve --dev` "
        "and tracebacks in error responses. Refused in production.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Secret used to sign cookies and tokens; at least 32 random bytes. "
        "Required in production; generated once into `<data dir>/dev-secrets/` otherwise.",
    )
    data_dir: Path = Field(
        Path("var"),
        description="Directory for the embedded SQLite database, local blobs and generated "
        "development secrets. Relative paths are taken from the working directory.",
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL. Empty means SQLite at `<data dir>/strongroom.db`. "
        "PostgreSQL: `postgresql://user:password@host:5432/dbname`.",
    )
    database_pool_size: int = Field(
        5, ge=1, le=100, description="Connections kept open per process (PostgreSQL)."
    )
    database_max_overflow: int = Field(
        10, ge=0, le=100, description="Extra connections allowed under load (PostgreSQL)."
    )
    database_pool_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds to wait for a free pooled connection."
    )
    redis_url: str = Field(
        "",
        description="Redis URL (`redis://host:6379/0`) for shared rate limits and caches. "
        "Empty means none; production deployments with several processes should set it.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed to call `/api/*` from a browser "
        "(`https://files.example.com`). Empty allows none. `*` is refused in production.",
    )
    max_request_size: int = Field(
        1 * MIB,
        ge=1 * KIB,
        le=64 * MIB,
        description="Largest request body in bytes for ordinary API calls (JSON).",
    )
    max_upload_size: int = Field(5 * GIB, ge=1, description="Largest file upload in bytes.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level written to the log."
    )
    log_format: Literal["json", "text", ""] = Field(
        "",
        description="`json` (one object per line) or `text`. Empty means json in "
        "production and text otherwise.",
    )
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="The public URL people reach the service at, used in links.",
    )
    trusted_proxy_hops: int = Field(
        0,
        ge=0,
        le=5,
        description="How many reverse proxies in front of the app may set `X-Forwarded-*`. "
        "0 trusts none.",
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _lower_mode(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not _ORIGIN_RE.match(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: use scheme://host[:port] with no path "
                    "or trailing slash"
                )
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an absolute http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str, info: ValidationInfo) -> str:
        return normalise_database_url(value, info.data.get("data_dir", Path("var").resolve()))

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        if not self.log_format:
            self.log_format = "json" if self.mode is Mode.PRODUCTION else "text"
        if self.testing_fast_password_hashing and self.mode is not Mode.TESTING:
            raise ValueError(
                "STRONGROOM_TESTING_FAST_PASSWORD_HASHING is for test suites only "
                "(STRONGROOM_MODE=testing)"
            )
        problems = self.argon2_problems()
        if problems:
            raise ValueError(" ".join(problems))
        return self

    @property
    def effective_ledger_origin(self) -> str:
        """``STRONGROOM_LEDGER_ORIGIN``, or ``<host of the base URL>/ledger``."""
        host = urlsplit(self.base_url).netloc.rsplit("@", 1)[-1]
        return self.ledger_origin or f"{host}/ledger"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def __repr_args__(self) -> Any:
        # URLs may carry passwords; keep them out of reprs, tracebacks and logs.
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name in URL_FIELDS and value else value


def normalise_database_url(url: str, data_dir: Path) -> str:
    """Return the SQLAlchemy URL to use, choosing the driver Strongroom ships with."""
    if not url:
        return f"sqlite:///{data_dir / 'strongroom.db'}"
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must be a URL such as postgresql://user@host/db or sqlite:///path")
    if scheme in {"postgres", "postgresql", "postgresql+psycopg"}:
        return f"postgresql+psycopg://{rest}"
    if scheme in {"sqlite", "sqlite+pysqlite"}:
        return f"sqlite://{rest}"
    raise ValueError(f"unsupported database {scheme!r}: use SQLite or PostgreSQL")


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the environment (and ``.env``), apply ``overrides``, validate.

    Raises ``ConfigError`` with one readable sentence per invalid setting.
    """
    try:
        return Settings(**dict(overrides or {}))
    except ValidationError as err:
        raise ConfigError([_describe(error) for error in err.errors()]) from err


def _describe(error: Mapping[str, Any]) -> str:
    field = str(error["loc"][0]) if error.get("loc") else "settings"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{env_name(field)}: {message}"


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def unknown_environment_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """``STRONGROOM_*`` variables that match no setting: usually a typo worth a warning."""
    known = {env_name(name) for name in Settings.model_fields}
    names = environ if environ is not None else os.environ
    return sorted(
        name
        for name in names
        if name.startswith(ENV_PREFIX)
        and name not in known
        and not name.startswith(f"{ENV_PREFIX}TEST_")
    )


def mask_url(url: str) -> str:
    """The URL with any password (in the authority or a ``password=`` query) as ``***``."""
    parts = urlsplit(url)
    if parts.password is None and "password" not in parts.query.lower():
        return url  # nothing to hide (and urlunsplit would rewrite sqlite:////path)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    if parts.query:
        query = [
            f"{key}=***" if key.lower() in {"password", "passwd"} else f"{key}{sep}{value}"
            for key, sep, value in (pair.partition("=") for pair in parts.query.split("&"))
        ]
        parts = parts._replace(query="&".join(query))
    return urlunsplit(parts)
