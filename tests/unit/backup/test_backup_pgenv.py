"""How ``pg_dump``/``pg_restore`` reach the database: libpq's environment, built from
the database URL, never arguments (which every user of the machine can read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from strongroom.backup.database import libpq_environment
from strongroom.backup.exceptions import SnapshotFailed
from strongroom.settings import normalise_database_url


def env_of(url: str) -> dict[str, str]:
    return libpq_environment(normalise_database_url(url, Path()))


def test_every_part_of_the_url_becomes_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    env = env_of(
        "postgresql://app:s%40cret@db.internal:6543/strongroom"
        "?sslmode=verify-full&options=-csearch_path%3Dtenant_a&application_name=sr"
    )
    assert env["PGHOST"] == "db.internal"
    assert env["PGPORT"] == "6543"
    assert env["PGUSER"] == "app"
    assert env["PGPASSWORD"] == "s@cret"
    assert env["PGDATABASE"] == "strongroom"
    assert env["PGSSLMODE"] == "verify-full"
    assert env["PGOPTIONS"] == "-csearch_path=tenant_a"
    assert env["PGAPPNAME"] == "sr"


def test_a_socket_directory_and_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    env = env_of("postgresql://strongroom@/strongroom?host=/var/run/postgresql")
    assert env["PGHOST"] == "/var/run/postgresql"
    assert "PGPASSWORD" not in env  # ~/.pgpass or peer authentication then


def test_an_unknown_parameter_is_named() -> None:
    with pytest.raises(SnapshotFailed, match="'frobnicate' is not supported"):
        env_of("postgresql://u@h/db?frobnicate=1")
