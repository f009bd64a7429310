"""CORS: only listed origins, only under /api/, credentials never with a wildcard."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import AppFactory

ALLOWED = "https://files.example"
SPEC = "/api/v1/openapi.json"


def preflight(client: FlaskClient, origin: str, path: str = SPEC):  # type: ignore[no-untyped-def]
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )


def test_listed_origin_gets_cors_headers_with_credentials(make_app: AppFactory) -> None:
    client = make_app(cors_origins=[ALLOWED, "http://localhost:5173"]).test_client()
    response = client.get(SPEC, headers={"Origin": ALLOWED})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
    assert "Origin" in response.headers["Vary"]
    pre = preflight(client, ALLOWED)
    assert pre.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "authorization" in pre.headers["Access-Control-Allow-Headers"].lower()


def test_unlisted_origin_gets_no_cors_headers(make_app: AppFactory) -> None:
    client = make_app(cors_origins=[ALLOWED]).test_client()
    for response in (
        client.get(SPEC, headers={"Origin": "https://evil.example"}),
        preflight(client, "https://evil.example"),
        client.get(SPEC, headers={"Origin": ALLOWED + ".evil.example"}),
    ):
        assert not any(name.startswith("Access-Control-") for name, _ in response.headers)


def test_no_cors_outside_the_api(make_app: AppFactory) -> None:
    client = make_app(cors_origins=[ALLOWED]).test_client()
    response = client.get("/healthz", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_origins_configured_means_none_allowed(client: FlaskClient) -> None:
    response = client.get(SPEC, headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_wildcard_outside_production_never_sends_credentials(make_app: AppFactory) -> None:
    client = make_app(cors_origins=["*"]).test_client()
    response = client.get(SPEC, headers={"Origin": "https://any.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_ipv6_origins_match_exactly(make_app: AppFactory) -> None:
    # Brackets would turn a plain origin into a regex character class if passed raw.
    client = make_app(cors_origins=["http://[::1]:3000"]).test_client()
    ok = client.get(SPEC, headers={"Origin": "http://[::1]:3000"})
    assert ok.headers["Access-Control-Allow-Origin"] == "http://[::1]:3000"
    for origin in ("http://1:3000", "http://::3000", "http://:3000"):
        response = client.get(SPEC, headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in response.headers, origin


def test_dots_in_origins_are_not_wildcards(make_app: AppFactory) -> None:
    client = make_app(cors_origins=[ALLOWED]).test_client()
    response = client.get(SPEC, headers={"Origin": "https://filesXexample"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_origin_header_reveals_nothing(make_app: AppFactory) -> None:
    response = make_app(cors_origins=[ALLOWED]).test_client().get(SPEC)
    assert not any(name.startswith("Access-Control-") for name, _ in response.headers)
