"""Fixtures for tests that drive the app through HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from tests import support
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
