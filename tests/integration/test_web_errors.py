"""The HTML error pages: every status in the site's layout (with the nav for the signed
in), a plain-language explanation, the request id, a way home, the wait of a 429 in
words; a bare page when the layout itself fails; the API keeps problem+json."""

from __future__ import annotations

import html

import pytest
from apiflask import APIFlask
from flask import Blueprint, abort
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from strongroom.auth.exceptions import Throttled
from strongroom.auth.policy import public
from strongroom.errors import PROBLEM_MIMETYPE
from strongroom.web import error_page
from strongroom.web.error_page import wait_words
from tests.auth_helpers import new_account
from tests.conftest import AppFactory

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
failing = Blueprint("failing_pages", __name__, url_prefix="/test-errors")


@failing.get("/boom")
@public("test:errors")
def boom() -> str:
    raise RuntimeError("internal detail: postgresql://app:pw@db/x")


@failing.get("/status/<int:code>")
@public("test:errors")
def status(code: int) -> str:
    abort(code)


@failing.get("/throttled")
@public("test:errors")
def throttled() -> str:
    raise Throttled("Too many attempts from your address.", 90)


@pytest.fixture
def app(make_app: AppFactory) -> APIFlask:
    made = make_app()
    made.register_blueprint(failing)
    return made


def page_text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def assert_error_page(response: TestResponse, status: int, *expected: str) -> str:
    assert response.status_code == status
    assert response.mimetype == "text/html"
    text = page_text(response)
    assert response.headers["X-Request-ID"] in text
    assert 'href="/"' in text  # a way home
    assert "Content-Security-Policy" in response.headers
    for words in expected:
        assert words in text, words
    return text


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (400, "reload its page and try again"),
        (403, "ask an administrator"),
        (404, "There is nothing at this address"),
        (405, "does not take that kind of request"),
        (413, "larger than this server accepts"),
        (503, "try again in a few minutes"),
    ],
)
def test_each_status_has_its_page(app: APIFlask, code: int, words: str) -> None:
    response = app.test_client().get(f"/test-errors/status/{code}", headers=BROWSER)
    assert_error_page(response, code, words, str(code))


def test_a_missing_page(app: APIFlask) -> None:
    response = app.test_client().get("/no/such/page", headers=BROWSER)
    text = assert_error_page(response, 404, "<h1>Not found</h1>", "Back to Strongroom")
    assert "Sign out" not in text  # nobody is signed in
    assert "requested URL was not found" not in text  # Werkzeug's stock wording


def test_the_signed_in_see_the_nav_on_error_pages(app: APIFlask) -> None:
    browser: FlaskClient = app.test_client()
    account = new_account(browser, "lost")
    for path in ("/no/such/page", "/test-errors/status/403"):
        text = page_text(browser.get(path, headers=BROWSER))
        assert "Sign out" in text, path
        assert account.username in text, path
        assert 'href="/files"' in text, path


def test_429_says_how_long_to_wait(app: APIFlask) -> None:
    response = app.test_client().get("/test-errors/throttled", headers=BROWSER)
    assert_error_page(response, 429, "Please wait 1 minute and 30 seconds and try again.")
    assert response.headers["Retry-After"] == "90"


def test_500_hides_internals(app: APIFlask) -> None:
    response = app.test_client().get("/test-errors/boom", headers=BROWSER)
    text = assert_error_page(response, 500, "Something went wrong on our side")
    assert "postgresql://" not in text
    assert "RuntimeError" not in text
    assert "Traceback" not in text


def test_a_failing_layout_falls_back_to_a_bare_page(
    app: APIFlask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("the template is broken")

    monkeypatch.setattr(error_page, "render_template", broken)
    response = app.test_client().get("/test-errors/throttled", headers=BROWSER)
    text = assert_error_page(response, 429, "Too many requests", "Please wait 1 minute")
    assert "<main" in text
    assert "the template is broken" not in text


def test_a_failing_user_lookup_falls_back_to_a_bare_page(
    app: APIFlask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database is gone")

    browser = app.test_client()
    new_account(browser, "unlucky")
    monkeypatch.setattr(error_page.sessions, "find_session", broken)
    response = browser.get("/no/such/page", headers=BROWSER)
    text = assert_error_page(response, 404, "Not found")
    assert "Sign out" not in text


def test_error_pages_escape_what_they_show(app: APIFlask) -> None:
    response = app.test_client().get("/<script>alert(1)</script>", headers=BROWSER)
    assert "<script>alert" not in response.get_data(as_text=True)


def test_the_api_keeps_problem_json(app: APIFlask) -> None:
    response = app.test_client().get("/api/v1/no-such-thing", headers=BROWSER)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM_MIMETYPE
    assert response.get_json()["type"] == "urn:strongroom:problem:not-found"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "1 second"),
        (1, "1 second"),
        (30, "30 seconds"),
        (60, "1 minute"),
        (90, "1 minute and 30 seconds"),
        (3599, "59 minutes and 59 seconds"),
        (3600, "1 hour"),
        (3601, "1 hour and 1 minute"),
        (7260, "2 hours and 1 minute"),
    ],
)
def test_wait_words(seconds: int, words: str) -> None:
    assert wait_words(seconds) == words
