"""Settings: environment parsing, validation messages, derived defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from strongroom.settings import (
    GIB,
    ConfigError,
    Mode,
    load_settings,
    mask_url,
    normalise_database_url,
    unknown_environment_names,
)


def test_defaults_keep_everything_under_the_data_dir() -> None:
    settings = load_settings()
    assert settings.mode is Mode.DEVELOPMENT
    assert settings.data_dir == (Path.cwd() / "var").resolve()
    assert settings.database_url == f"sqlite:///{settings.data_dir / 'strongroom.db'}"
    assert settings.secret_key is None
    assert settings.debug is False
    assert settings.cors_origins == []
    assert settings.log_format == "text"
    assert settings.max_upload_size == 5 * GIB


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STRONGROOM_MODE", "Production")
    monkeypatch.setenv("STRONGROOM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STRONGROOM_CORS_ORIGINS", "https://a.example, http://localhost:3000")
    monkeypatch.setenv("STRONGROOM_LOG_LEVEL", "debug")
    monkeypatch.setenv("STRONGROOM_TRUSTED_PROXY_HOPS", "2")
    settings = load_settings()
    assert settings.mode is Mode.PRODUCTION
    assert settings.data_dir == tmp_path.resolve()
    assert settings.cors_origins == ["https://a.example", "http://localhost:3000"]
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "json"  # production default
    assert settings.trusted_proxy_hops == 2


def test_reads_dotenv_in_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text(
        "STRONGROOM_MAX_UPLOAD_SIZE=12345\nSTRONGROOM_BASE_URL=https://x.example/\n"
    )
    settings = load_settings()
    assert settings.max_upload_size == 12345
    assert settings.base_url == "https://x.example"
    monkeypatch.setenv("STRONGROOM_MAX_UPLOAD_SIZE", "99")
    assert load_settings().max_upload_size == 99  # the environment wins over .env


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("STRONGROOM_MODE", "staging", "STRONGROOM_MODE"),
        ("STRONGROOM_CORS_ORIGINS", "https://ok.example,https://bad.example/path", "not an origin"),
        ("STRONGROOM_MAX_REQUEST_SIZE", "10", "STRONGROOM_MAX_REQUEST_SIZE"),
        ("STRONGROOM_MAX_UPLOAD_SIZE", "0", "STRONGROOM_MAX_UPLOAD_SIZE"),
        ("STRONGROOM_TRUSTED_PROXY_HOPS", "9", "STRONGROOM_TRUSTED_PROXY_HOPS"),
        ("STRONGROOM_LOG_LEVEL", "loud", "STRONGROOM_LOG_LEVEL"),
        ("STRONGROOM_LOG_FORMAT", "xml", "STRONGROOM_LOG_FORMAT"),
        ("STRONGROOM_BASE_URL", "ftp://x.example", "http:// or https://"),
        ("STRONGROOM_BASE_URL", "https://x.example/?a=1", "query string"),
        ("STRONGROOM_DATABASE_URL", "mysql://root@localhost/x", "unsupported database"),
        ("STRONGROOM_DATABASE_URL", "not a url", "must be a URL"),
        ("STRONGROOM_REDIS_URL", "http://localhost:6379", "redis://"),
        ("STRONGROOM_DATABASE_POOL_SIZE", "0", "STRONGROOM_DATABASE_POOL_SIZE"),
        ("STRONGROOM_STORAGE_BACKEND", "floppy", "STRONGROOM_STORAGE_BACKEND"),
    ],
)
def test_invalid_values_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(name)
    assert fragment in caught.value.problems[0]


def test_every_invalid_setting_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRONGROOM_MODE", "nope")
    monkeypatch.setenv("STRONGROOM_LOG_LEVEL", "nope")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert len(caught.value.problems) == 2


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////srv/x.db", "sqlite:////srv/x.db"),
        ("", "sqlite:////data/strongroom.db"),
    ],
)
def test_database_url_uses_the_shipped_driver(given: str, expected: str) -> None:
    assert normalise_database_url(given, Path("/data")) == expected


def test_mask_url_hides_passwords_only() -> None:
    assert mask_url("postgresql+psycopg://app:s3cret@db:5432/x") == (
        "postgresql+psycopg://app:***@db:5432/x"
    )
    assert mask_url("sqlite:////srv/x.db") == "sqlite:////srv/x.db"
    assert mask_url("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert mask_url("postgresql://db/x?user=app&password=pw&sslmode=require") == (
        "postgresql://db/x?user=app&password=***&sslmode=require"
    )


def test_repr_never_shows_url_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRONGROOM_DATABASE_URL", "postgresql://app:dbpassword@db/x")
    monkeypatch.setenv("STRONGROOM_REDIS_URL", "redis://:redispassword@cache:6379/0")
    monkeypatch.setenv("STRONGROOM_SECRET_KEY", "k" * 40)
    text = repr(load_settings())
    assert "dbpassword" not in text
    assert "redispassword" not in text
    assert "k" * 40 not in text
    assert "app:***@db" in text


def test_unknown_prefixed_names_are_found() -> None:
    environ = {
        "STRONGROOM_SECRETKEY": "typo",
        "STRONGROOM_MODE": "testing",
        "STRONGROOM_TEST_DATABASE_URL": "harness, not a setting",
        "HOME": "/root",
    }
    assert unknown_environment_names(environ) == ["STRONGROOM_SECRETKEY"]
