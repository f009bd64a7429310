"""Security headers on every kind of response, the HTTPS redirect, and proxy trust.

Production apps are called over ``https://`` (as behind a TLS-terminating proxy that
is trusted) unless the test is about plain HTTP.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from apiflask import APIFlask
from werkzeug.test import TestResponse

from strongroom.ops.headers import NON_PAGE_CSP, PAGE_CSP, PERMISSIONS_POLICY
from tests.auth_helpers import STRONG_PASSWORD, SignedIn, unique_name
from tests.conftest import AppFactory
from tests.files_helpers import API, random_bytes

BASE_URL = "https://files.example"
HTTPS = "https://files.example"
PRODUCTION_EXTRAS = {
    # Production's password hashing floor, at the cheapest time cost it allows.
    "argon2_memory_kib": 19 * 1024,
    "argon2_time_cost": 2,
    # The signing key make_app generates is for this origin, whatever the base URL.
    "ledger_origin": "127.0.0.1:8000/ledger",
}
DOWNLOAD_CSP = "sandbox; default-src 'none'"
TWO_YEARS = 63_072_000


def production_app(make_app: AppFactory, **overrides: Any) -> APIFlask:
    settings = {"mode": "production", "base_url": BASE_URL, **PRODUCTION_EXTRAS, **overrides}
    return make_app(**settings)


@dataclass
class Responses:
    """One response of each kind from one app."""

    page: TestResponse
    api: TestResponse
    problem: TestResponse
    download: TestResponse
    share_page: TestResponse
    share_api: TestResponse
    static: TestResponse
    error_page: TestResponse


def collect(app: APIFlask, scheme: str) -> Responses:
    client = app.test_client()
    base = f"{scheme}://files.example"
    who: SignedIn = new_account_on(app, base)
    file_id = upload_on(app, base, who)
    link = app.test_client().post(
        f"{API}/files/{file_id}/links", json={}, headers=who.bearer, base_url=base
    )
    assert link.status_code == 201, link.get_json()
    token = link.get_json()["url"].rsplit("/s/", 1)[1]
    html = {"Accept": "text/html"}
    responses = Responses(
        page=client.get("/login", base_url=base),
        api=client.get(f"{API}/files", headers=who.bearer, base_url=base),
        problem=client.get(f"{API}/files", base_url=base),
        download=client.get(f"{API}/files/{file_id}/content", headers=who.bearer, base_url=base),
        share_page=client.get(f"/s/{token}", headers=html, base_url=base),
        share_api=client.get(f"/s/{token}", base_url=base),
        static=client.get("/static/strongroom.css", base_url=base),
        error_page=client.get("/no-such-page", headers=html, base_url=base),
    )
    for response in vars(responses).values():
        response.get_data()  # read streamed bodies (a download, a static file) to the end
        response.close()
    return responses


def new_account_on(app: APIFlask, base: str) -> SignedIn:
    client = app.test_client()
    username = unique_name("headers")
    body = {"username": username, "password": STRONG_PASSWORD}
    registered = client.post(f"{API}/auth/register", json=body, base_url=base)
    assert registered.status_code == 201, registered.get_json()
    signed_in = client.post(f"{API}/auth/login", json=body, base_url=base)
    assert signed_in.status_code == 200, signed_in.get_json()
    data = signed_in.get_json()
    return SignedIn(username, STRONG_PASSWORD, data["token"], data["csrf_token"], data["user"])


def upload_on(app: APIFlask, base: str, who: SignedIn) -> str:
    response = app.test_client().post(
        f"{API}/files",
        data=random_bytes(3000),
        content_type="application/octet-stream",
        headers={"X-File-Name": "plan.txt", **who.bearer},
        base_url=base,
    )
    assert response.status_code == 201, response.get_json()
    file_id: str = response.get_json()["id"]
    return file_id


def assert_common(response: TestResponse) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Permissions-Policy"] == PERMISSIONS_POLICY
    assert "camera=()" in headers["Permissions-Policy"]
    assert "microphone=()" in headers["Permissions-Policy"]
    assert "geolocation=()" in headers["Permissions-Policy"]
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"] or (
        headers["Content-Security-Policy"] == DOWNLOAD_CSP  # sandboxed: cannot be framed usefully
    )


def assert_kinds(responses: Responses) -> None:
    """Each kind of response has the headers that fit it."""
    assert responses.page.status_code == 200
    assert responses.page.headers["Content-Security-Policy"] == PAGE_CSP
    assert responses.page.headers["Referrer-Policy"] == "same-origin"

    assert responses.api.status_code == 200
    assert responses.api.mimetype == "application/json"
    assert responses.api.headers["Content-Security-Policy"] == NON_PAGE_CSP
    assert responses.api.headers["Referrer-Policy"] == "same-origin"

    assert responses.problem.status_code == 401
    assert responses.problem.mimetype == "application/problem+json"
    assert responses.problem.headers["Content-Security-Policy"] == NON_PAGE_CSP

    assert responses.download.status_code == 200
    assert responses.download.headers["Content-Security-Policy"] == DOWNLOAD_CSP

    for share in (responses.share_page, responses.share_api):
        assert share.status_code == 200
        assert share.headers["Referrer-Policy"] == "no-referrer"
        assert share.headers["Cache-Control"] == "no-store"
    assert responses.share_page.mimetype == "text/html"
    assert responses.share_page.headers["Content-Security-Policy"] == PAGE_CSP
    assert responses.share_api.headers["Content-Security-Policy"] == NON_PAGE_CSP

    assert responses.static.status_code == 200
    assert responses.static.headers["Content-Security-Policy"] == NON_PAGE_CSP

    assert responses.error_page.status_code == 404
    assert responses.error_page.mimetype == "text/html"
    assert responses.error_page.headers["Content-Security-Policy"] == PAGE_CSP

    for response in vars(responses).values():
        assert_common(response)


def test_production_over_https_sends_every_header_and_hsts(make_app: AppFactory) -> None:
    responses = collect(production_app(make_app), "https")
    assert_kinds(responses)
    for response in vars(responses).values():
        assert response.headers["Strict-Transport-Security"] == f"max-age={TWO_YEARS}"


@pytest.mark.parametrize("mode", ["development", "testing"])
def test_other_modes_send_every_header_but_hsts(make_app: AppFactory, mode: str) -> None:
    app = make_app(mode=mode, base_url=BASE_URL)
    for scheme in ("http", "https"):
        responses = collect(app, scheme)
        assert_kinds(responses)
        for response in vars(responses).values():
            assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"hsts_seconds": 3600}, "max-age=3600"),
        ({"hsts_include_subdomains": True}, f"max-age={TWO_YEARS}; includeSubDomains"),
        (
            {"hsts_include_subdomains": True, "hsts_preload": True},
            f"max-age={TWO_YEARS}; includeSubDomains; preload",
        ),
        ({"hsts_preload": True}, f"max-age={TWO_YEARS}; preload"),
        ({"hsts_seconds": 0}, None),
    ],
)
def test_hsts_follows_its_settings(
    make_app: AppFactory, overrides: dict[str, Any], expected: str | None
) -> None:
    client = production_app(make_app, **overrides).test_client()
    response = client.get("/healthz", base_url=HTTPS)
    assert response.headers.get("Strict-Transport-Security") == expected


def test_no_hsts_over_plain_http(make_app: AppFactory) -> None:
    client = production_app(make_app, https_redirect=False).test_client()
    response = client.get("/login")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert response.headers["Content-Security-Policy"] == PAGE_CSP


# -- the redirect ------------------------------------------------------------------


def test_plain_http_is_redirected_to_the_configured_host(make_app: AppFactory) -> None:
    client = production_app(make_app).test_client()
    response = client.get("/files/caf%C3%A9 x?sort=name&q=a%26b", headers={"Host": "evil.example"})
    assert response.status_code == 308
    assert (
        response.headers["Location"]
        == "https://files.example/files/caf%C3%A9%20x?sort=name&q=a%26b"
    )
    assert_common(response)
    assert "Strict-Transport-Security" not in response.headers  # meaningless over HTTP
    assert response.headers["X-Request-ID"]


def test_api_clients_are_redirected_keeping_the_method(make_app: AppFactory) -> None:
    client = production_app(make_app).test_client()
    response = client.post(
        f"{API}/auth/login", json={"username": "someone", "password": "whatever-it-is"}
    )
    assert response.status_code == 308  # a 308 is repeated with the same method and body
    assert response.headers["Location"] == f"https://files.example{API}/auth/login"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_probes_stay_on_plain_http(make_app: AppFactory, path: str) -> None:
    response = production_app(make_app).test_client().get(path)
    assert response.status_code == 200
    assert_common(response)


def test_metrics_scrapes_stay_on_plain_http(make_app: AppFactory) -> None:
    metrics_token = secrets.token_urlsafe(32)
    client = production_app(make_app, metrics_token=metrics_token).test_client()
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    assert scraped.status_code == 200
    assert_common(scraped)
    assert client.get("/metrics/x").status_code == 308  # only the exact path


def test_redirect_keeps_the_https_port_of_the_base_url(make_app: AppFactory) -> None:
    client = production_app(make_app, base_url="https://files.example:8443").test_client()
    response = client.get("/login")
    assert response.headers["Location"] == "https://files.example:8443/login"


def test_an_http_base_url_redirects_to_the_default_https_port(make_app: AppFactory) -> None:
    client = production_app(make_app, base_url="http://files.example:8080").test_client()
    assert client.get("/login").headers["Location"] == "https://files.example/login"


@pytest.mark.parametrize(
    ("mode", "setting", "redirected"),
    [
        ("production", None, True),
        ("production", False, False),
        ("development", None, False),
        ("testing", None, False),
        ("development", True, True),
    ],
)
def test_redirect_follows_mode_and_setting(
    make_app: AppFactory, mode: str, setting: bool | None, redirected: bool
) -> None:
    overrides: dict[str, Any] = {"mode": mode, "base_url": BASE_URL, "https_redirect": setting}
    if mode == "production":
        overrides.update(PRODUCTION_EXTRAS)
    response = make_app(**overrides).test_client().get("/login")
    assert response.status_code == (308 if redirected else 200)


def test_https_requests_are_not_redirected(make_app: AppFactory) -> None:
    response = production_app(make_app).test_client().get("/login", base_url=HTTPS)
    assert response.status_code == 200


# -- trusting X-Forwarded-* --------------------------------------------------------


def test_forged_forwarded_proto_does_not_count_without_trusted_hops(make_app: AppFactory) -> None:
    client = production_app(make_app, trusted_proxy_hops=0).test_client()
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 308
    assert "Strict-Transport-Security" not in response.headers


def test_one_trusted_hop_counts_only_the_last_value(make_app: AppFactory) -> None:
    client = production_app(make_app, trusted_proxy_hops=1).test_client()
    trusted = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert trusted.status_code == 200
    assert trusted.headers["Strict-Transport-Security"] == f"max-age={TWO_YEARS}"
    # The client forged "https"; the proxy appended the scheme it really saw.
    forged = client.get("/login", headers={"X-Forwarded-Proto": "https, http"})
    assert forged.status_code == 308
    assert "Strict-Transport-Security" not in forged.headers
    # The proxy's own value is the last one, whatever the client sent before it.
    appended = client.get("/login", headers={"X-Forwarded-Proto": "http, https"})
    assert appended.status_code == 200


def test_a_forwarded_host_never_picks_the_redirect_target(make_app: AppFactory) -> None:
    client = production_app(make_app, trusted_proxy_hops=1).test_client()
    response = client.get(
        "/login",
        headers={"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"},
    )
    assert response.headers["Location"] == "https://files.example/login"


def test_production_cookies_are_secure(make_app: AppFactory) -> None:
    app = production_app(make_app)
    who = new_account_on(app, HTTPS)
    response = app.test_client().post(
        f"{API}/auth/login",
        json={"username": who.username, "password": who.password},
        base_url=HTTPS,
    )
    assert response.status_code == 200
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies
    for cookie in cookies:
        assert cookie.startswith("__Host-")
        assert "; Secure" in cookie
        assert "; HttpOnly" in cookie
