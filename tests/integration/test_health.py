"""/healthz and /readyz, including a database that goes away."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.test import TestResponse

from strongroom.context import get_database
from tests.conftest import MIGRATION_HEAD, AppFactory, migrate
from tests.support import TcpForwarder


def readiness_after_outage(client: FlaskClient, forwarder: TcpForwarder) -> TestResponse:
    """``/readyz`` once while the dependency behind ``forwarder`` is up, then after it drops."""
    try:
        assert client.get("/readyz").status_code == 200
        forwarder.stop()
        return client.get("/readyz")
    finally:
        forwarder.stop()


def test_healthz_needs_nothing(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_when_everything_is_fine(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["failing"] == []
    assert set(body["checks"]) == {"database", "migrations", "data_dir", "blob_store"}
    assert body["checks"]["migrations"]["detail"] == MIGRATION_HEAD


def test_unready_when_data_dir_is_not_writable(make_app: AppFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "volume"
    app = make_app(data_dir=data_dir)
    shutil.rmtree(data_dir)
    data_dir.write_text("the volume was replaced by a file")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    # The local blob store lives in the data directory, so its probe fails with it.
    local = app.extensions["strongroom.settings"].storage_backend == "local"
    assert response.get_json()["failing"] == ["data_dir"] + (["blob_store"] if local else [])


def test_unready_when_migrations_are_pending(make_app: AppFactory, fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    app = make_app(database_url=fresh_database_url)
    engine = create_engine(fresh_database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["migrations"]
    assert "strongroom db upgrade" in body["checks"]["migrations"]["detail"]


def test_unready_when_sqlite_file_is_gone(make_app: AppFactory, tmp_path: Path) -> None:
    db_file = tmp_path / "gone.db"
    url = f"sqlite:///{db_file}"
    migrate(url)
    app = make_app(database_url=url)
    with app.app_context():
        get_database().dispose()
    db_file.unlink()
    db_file.mkdir()  # a path that cannot be opened as a database any more
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["database", "migrations"]
    assert body["checks"]["database"]["detail"] == "unreachable"


def test_unready_when_postgres_goes_down(make_app: AppFactory, postgres_url: str) -> None:
    migrate(postgres_url)
    url = make_url(postgres_url)
    forwarder = TcpForwarder(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=forwarder.port).render_as_string(hide_password=False)
    client = make_app(database_url=proxied).test_client()
    response = readiness_after_outage(client, forwarder)
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unready"
    assert "database" in body["failing"]
    assert "127.0.0.1" not in response.get_data(as_text=True)  # no connection details leak
    assert client.get("/healthz").status_code == 200  # liveness does not depend on it


def test_ready_checks_redis_when_configured(make_app: AppFactory, redis_url: str) -> None:
    body = make_app(redis_url=redis_url).test_client().get("/readyz").get_json()
    assert body["status"] == "ready"
    assert body["checks"]["redis"] == {"ok": True, "detail": ""}


def test_degraded_not_unready_when_redis_goes_down(make_app: AppFactory, redis_url: str) -> None:
    url = urlsplit(redis_url)
    forwarder = TcpForwarder(url.hostname or "127.0.0.1", url.port or 6379)
    client = make_app(redis_url=f"redis://127.0.0.1:{forwarder.port}/15").test_client()
    response = readiness_after_outage(client, forwarder)
    # Rate limits fall back to process memory: degraded, but still serving.
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["failing"], body["degraded"]) == ("ready", [], ["redis"])
    assert body["checks"]["redis"] == {"ok": False, "detail": "unreachable"}
