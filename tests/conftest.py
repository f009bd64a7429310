"""Shared fixtures: databases (SQLite by default, PostgreSQL when asked), apps, clients.

The same suite runs on both databases: ``make test`` runs it once on SQLite, then the
database tests (auto-marked ``db``) again with ``STRONGROOM_TEST_DATABASE_URL`` set.
On PostgreSQL every test run works in schemas of its own, dropped afterwards, so it
never touches other data in the database. In CI (``CI=true``) an unreachable
PostgreSQL fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from apiflask import APIFlask
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from strongroom.app import create_app
from strongroom.context import get_database
from strongroom.crypto.keys import generate_key, key_line
from strongroom.db import Database, upgrade
from strongroom.ledger.note import Signer
from strongroom.settings import ENV_PREFIX, load_settings, normalise_database_url
from tests.storage_support import (
    S3_TEST_PART_SIZE,
    TEST_CREDENTIALS,
    TEST_REGION,
    moto_server,
    s3_test_store,
)

PG_ENV = "STRONGROOM_TEST_DATABASE_URL"
# `s3`: apps under test keep blobs on a local S3-compatible server (moto) instead of
# the local disk; `make test-postgres` runs the database tests that way.
STORAGE_ENV = "STRONGROOM_TEST_STORAGE"
REDIS_ENV = "STRONGROOM_TEST_REDIS_URL"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DB_FIXTURES = {"database_url", "fresh_database_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark database tests so ``make test`` can run them again on PostgreSQL."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if DB_FIXTURES & fixtures:
            item.add_marker(pytest.mark.db)
        if "postgres_url" in fixtures:
            item.add_marker(pytest.mark.postgres)
        if "redis_url" in fixtures:
            item.add_marker(pytest.mark.redis)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer setting or .env file may leak into a test."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) and not name.startswith(f"{ENV_PREFIX}TEST_"):
            monkeypatch.delenv(name)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


class PostgresSchemas:
    """Creates throw-away schemas in the PostgreSQL named by the environment."""

    def __init__(self, base_url: str) -> None:
        self.base_url = normalise_database_url(base_url, Path())
        self.admin = create_engine(self.base_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def check_reachable(self) -> None:
        try:
            with self.admin.connect() as connection:
                connection.execute(text("SELECT 1"))
        except OperationalError as err:
            message = (
                f"PostgreSQL at {make_url(self.base_url).render_as_string()} "
                f"is unreachable: {err.orig}"
            )
            if IN_CI:
                pytest.fail(f"{message} (CI requires it)", pytrace=False)
            pytest.skip(message)

    def new(self) -> str:
        name = f"sr_test_{secrets.token_hex(6)}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
        self.created.append(name)
        url = make_url(self.base_url).update_query_dict({"options": f"-csearch_path={name}"})
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            for name in self.created:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def _postgres() -> Iterator[PostgresSchemas | None]:
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    schemas = PostgresSchemas(base)
    yield schemas
    schemas.drop_all()


@pytest.fixture
def postgres_url(_postgres: PostgresSchemas | None) -> str:
    """An empty PostgreSQL schema; the test is skipped (failed in CI) without one."""
    if _postgres is None:
        if IN_CI:
            pytest.fail(f"{PG_ENV} is not set; CI runs the PostgreSQL tests", pytrace=False)
        pytest.skip(f"{PG_ENV} is not set")
    _postgres.check_reachable()
    return _postgres.new()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis named by the environment, its test database emptied before and after."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        if IN_CI:
            pytest.fail(f"{REDIS_ENV} is not set; CI runs the Redis tests", pytrace=False)
        pytest.skip(f"{REDIS_ENV} is not set")
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as err:
        message = f"Redis at {url} is unreachable: {err}"
        if IN_CI:
            pytest.fail(f"{message} (CI requires it)", pytrace=False)
        pytest.skip(message)
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def fresh_database_url(_postgres: PostgresSchemas | None, tmp_path: Path) -> str:
    """An empty database of the kind this run tests, without any migration applied."""
    if _postgres is None:
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    _postgres.check_reachable()
    return _postgres.new()


# The newest migration: the one line to change when a migration is added.
MIGRATION_HEAD = "0005"


def migrate(url: str) -> None:
    database = Database(load_settings({"database_url": url}))
    try:
        upgrade(database.engine)
    finally:
        database.dispose()


@pytest.fixture(scope="session")
def database_url(
    _postgres: PostgresSchemas | None, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A migrated database shared by the tests of this run."""
    if _postgres is None:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'strongroom.db'}"
    else:
        _postgres.check_reachable()
        url = _postgres.new()
    migrate(url)
    return url


AppFactory = Callable[..., APIFlask]
FAST_HASHING: dict[str, Any] = {
    "testing_fast_password_hashing": True,
    "argon2_memory_kib": 64,
    "argon2_time_cost": 1,
    "argon2_parallelism": 1,
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server process shared by the session."""
    with moto_server() as server:
        yield server.endpoint_url


@pytest.fixture
def storage_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Blob store settings for the apps of one test: the local default, or (with
    ``STRONGROOM_TEST_STORAGE=s3``) a fresh bucket on the session's moto server."""
    if os.environ.get(STORAGE_ENV, "local") != "s3":
        return {}
    endpoint: str = request.getfixturevalue("moto_endpoint")
    store = s3_test_store(endpoint)
    store.close()
    return {
        "storage_backend": "s3",
        "s3_bucket": store.bucket,
        "s3_prefix": "blobs/",
        "s3_endpoint_url": endpoint,
        "s3_region": TEST_REGION,
        "s3_access_key_id": TEST_CREDENTIALS["access_key_id"],
        "s3_secret_access_key": TEST_CREDENTIALS["secret_access_key"],
        "s3_part_size": S3_TEST_PART_SIZE,
    }


@pytest.fixture
def make_app(
    database_url: str, tmp_path: Path, storage_settings: dict[str, Any]
) -> Iterator[AppFactory]:
    """Build apps in testing mode on the run's database and blob store; overrides as
    keyword arguments."""
    apps: list[APIFlask] = []

    def factory(**overrides: Any) -> APIFlask:
        settings: dict[str, Any] = {
            "mode": "testing",
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "secret_key": secrets.token_urlsafe(48),
            **storage_settings,
            **overrides,
        }
        if settings["mode"] == "production" and "ledger_signing_key" not in settings:
            settings["ledger_signing_key"] = Signer.generate("127.0.0.1:8000/ledger").encode()
        if settings["mode"] == "production" and "master_key_file" not in settings:
            settings.setdefault("master_keys", key_line("1", generate_key()))
        if settings["mode"] == "testing":
            # Cheap Argon2 for speed, allowed only by this explicit testing flag.
            settings = {**FAST_HASHING, **settings}
        app = create_app(settings)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            get_database().dispose()


@pytest.fixture
def app(make_app: AppFactory) -> APIFlask:
    return make_app()


@pytest.fixture
def client(app: APIFlask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
