"""One database session per request: shared within it, rolled back and closed after it."""

from __future__ import annotations

from sqlalchemy import text

from strongroom.context import db_session
from tests.conftest import AppFactory, migrate


def test_session_is_shared_within_a_request_and_closed_after(make_app: AppFactory) -> None:
    app = make_app()
    with app.test_request_context("/"):
        first = db_session()
        assert db_session() is first
        assert first.execute(text("SELECT 1")).scalar() == 1
        assert first.in_transaction()
    assert not first.in_transaction()
    with app.test_request_context("/"):
        assert db_session() is not first


def test_uncommitted_work_is_rolled_back(make_app: AppFactory, fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    app = make_app(database_url=fresh_database_url)
    with app.test_request_context("/"):
        session = db_session()
        session.execute(text("CREATE TABLE scratch (x INTEGER)"))
        session.commit()
        session.execute(text("INSERT INTO scratch VALUES (1)"))  # never committed
    with app.test_request_context("/"):
        session = db_session()
        assert session.execute(text("SELECT count(*) FROM scratch")).scalar() == 0
        session.execute(text("INSERT INTO scratch VALUES (2)"))
        session.commit()
    with app.test_request_context("/"):
        assert db_session().execute(text("SELECT x FROM scratch")).scalars().all() == [2]
