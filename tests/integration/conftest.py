"""Fixtures for tests that drive the app through HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from tests import support
from tests.auth_helpers import FakeClock, SignedIn, new_account, use_clock
from tests.conftest import AppFactory


@pytest.fixture
def make_probe_app(make_app: AppFactory) -> AppFactory:
    """Like ``make_app``, with the test-only probe API registered."""

    def factory(**overrides: Any) -> APIFlask:
        app = make_app(**overrides)
        app.register_blueprint(support.bp)
        return app

    return factory


@pytest.fixture
def probe(make_probe_app: AppFactory) -> FlaskClient:
    return make_probe_app().test_client()


# Three signed-in users of the test's ``app`` (through its ``client``, whose cookie is
# the last one signed in): owners, grantees and strangers for the files tests.
@pytest.fixture
def alice(client: FlaskClient) -> SignedIn:
    return new_account(client, "alice")


@pytest.fixture
def bob(client: FlaskClient) -> SignedIn:
    return new_account(client, "bob")


@pytest.fixture
def carol(client: FlaskClient) -> SignedIn:
    return new_account(client, "carol")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked_app(make_app: AppFactory, clock: FakeClock) -> APIFlask:
    """An app whose accounts services read time from ``clock``."""
    app = make_app()
    use_clock(app, clock)
    return app
