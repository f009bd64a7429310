"""The access matrix: every kind of caller against every file route and method, with
the exact status each must get (docs/security.md has the same table).

Each case builds a fresh world — alice's file, shared with bob, once shared with
rita and revoked, a share link, carol unrelated, an admin, personal access tokens of
alice with one scope each — and makes one request. The link holder offers the link's
token to the API, where it is no credential (the link's own routes, under /s/, are
tested in test_share_links.py). Runs on SQLite and, in `make test`, PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from tests.auth_helpers import SignedIn, make_admin, new_account
from tests.conftest import AppFactory
from tests.files_helpers import API, upload

ACTORS = [
    "owner",
    "grantee",
    "revoked-grantee",
    "other-user",
    "admin",
    "anonymous",
    "link-holder",  # the share link's token, offered as a bearer token to the API
    "token-files-read",
    "token-files-write",
    "token-shares-write",
]

# (method, path template, JSON body); {file}, {grant}, {link} are filled from the world.
ROUTES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "view": ("GET", "/files/{file}", None),
    "rename": ("PATCH", "/files/{file}", {"name": "renamed.txt"}),
    "delete": ("DELETE", "/files/{file}", None),
    "download": ("GET", "/files/{file}/content", None),
    "history": ("GET", "/files/{file}/history", None),
    "list-grants": ("GET", "/files/{file}/grants", None),
    "share": ("POST", "/files/{file}/grants", {"username": "{dora}"}),
    "change-grant": ("PATCH", "/files/{file}/grants/{grant}", {"expires_at": None}),
    "revoke-grant": ("DELETE", "/files/{file}/grants/{grant}", None),
    "decline": ("DELETE", "/shared/{file}", None),
    "list-links": ("GET", "/files/{file}/links", None),
    "create-link": ("POST", "/files/{file}/links", {"note": "for the team"}),
    "revoke-link": ("DELETE", "/files/{file}/links/{link}", None),
}

OK = {
    "view": 200, "rename": 200, "delete": 204, "download": 200, "history": 200,
    "list-grants": 200, "share": 201, "change-grant": 200, "revoke-grant": 204,
    "decline": 404,  # the owner has no share of their own file to drop
    "list-links": 200, "create-link": 201, "revoke-link": 204,
}  # fmt: skip
NOT_FOUND = dict.fromkeys(ROUTES, 404)
UNAUTHENTICATED = dict.fromkeys(ROUTES, 401)
SCOPE_OF = {
    "view": "files:read", "download": "files:read", "history": "files:read",
    "decline": "files:read", "rename": "files:write", "delete": "files:write",
    "list-grants": "shares:write", "share": "shares:write", "change-grant": "shares:write",
    "revoke-grant": "shares:write", "list-links": "shares:write",
    "create-link": "shares:write", "revoke-link": "shares:write",
}  # fmt: skip


def with_scope(scope: str) -> dict[str, int]:
    """The owner's answers through a token that has only ``scope``."""
    return {route: OK[route] if SCOPE_OF[route] == scope else 403 for route in ROUTES}


EXPECTED: dict[str, dict[str, int]] = {
    "owner": OK,
    "grantee": {
        **dict.fromkeys(ROUTES, 403),
        "view": 200,
        "download": 200,
        "decline": 204,
    },
    "revoked-grantee": NOT_FOUND,
    "other-user": NOT_FOUND,
    "admin": NOT_FOUND,
    "anonymous": UNAUTHENTICATED,
    "link-holder": UNAUTHENTICATED,
    "token-files-read": with_scope("files:read"),
    "token-files-write": with_scope("files:write"),
    "token-shares-write": with_scope("shares:write"),
}


@dataclass
class World:
    app: APIFlask
    file_id: str
    grant_id: int
    link_id: str
    bearer: dict[str, str | None]
    dora: str


def _token(client: FlaskClient, who: SignedIn, scope: str) -> str:
    made = client.post(
        f"{API}/me/tokens",
        json={"name": scope, "scopes": [scope]},
        headers={"Authorization": f"Bearer {who.token}"},
    )
    assert made.status_code == 201, made.get_json()
    token: str = made.get_json()["token"]
    return token


def _post(client: FlaskClient, who: SignedIn, path: str, body: dict[str, Any]) -> Any:
    response = client.post(API + path, json=body, headers={"Authorization": f"Bearer {who.token}"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def world(make_app: AppFactory) -> World:
    app = make_app(rate_limit_signin_ip="1000/minute", rate_limit_register_ip="1000/hour")
    client = app.test_client()
    alice, bob, rita, carol, dora = (new_account(client, n) for n in
                                     ("alice", "bob", "rita", "carol", "dora"))  # fmt: skip
    file_id = upload(client, alice, b"matrix")["id"]
    grant = _post(client, alice, f"/files/{file_id}/grants", {"username": bob.username})
    revoked = _post(client, alice, f"/files/{file_id}/grants", {"username": rita.username})
    gone = client.delete(
        f"{API}/files/{file_id}/grants/{revoked['id']}",
        headers={"Authorization": f"Bearer {alice.token}"},
    )
    assert gone.status_code == 204
    link = _post(client, alice, f"/files/{file_id}/links", {"max_downloads": 3})
    bearer: dict[str, str | None] = {
        "owner": alice.token,
        "grantee": bob.token,
        "revoked-grantee": rita.token,
        "other-user": carol.token,
        "admin": make_admin(app).token,
        "anonymous": None,
        "link-holder": link["url"].rsplit("/", 1)[-1],  # the link's token
        "token-files-read": _token(client, alice, "files:read"),
        "token-files-write": _token(client, alice, "files:write"),
        "token-shares-write": _token(client, alice, "shares:write"),
    }
    return World(app, file_id, grant["id"], link["id"], bearer, dora.username)


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("actor", ACTORS)
def test_access_matrix(world: World, actor: str, route: str) -> None:
    method, template, body = ROUTES[route]
    path = template.format(file=world.file_id, grant=world.grant_id, link=world.link_id)
    if body is not None:
        body = {k: (v.format(dora=world.dora) if isinstance(v, str) else v)
                for k, v in body.items()}  # fmt: skip
    token = world.bearer[actor]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = world.app.test_client().open(API + path, method=method, headers=headers, json=body)
    response.close()
    assert response.status_code == EXPECTED[actor][route], (actor, route, response.get_json())


def test_the_matrix_covers_every_file_route(world: World) -> None:
    """A file route added without a row here fails this test."""
    covered = {(method, re.sub(r"\{[a-z]+\}", "*", API + t)) for method, t, _ in ROUTES.values()}
    for rule in world.app.url_map.iter_rules():
        if not rule.rule.startswith((f"{API}/files/<", f"{API}/shared/<")):
            continue
        shape = re.sub(r"<[^>]+>", "*", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (method, shape) in covered, f"{method} {rule.rule} is not in the access matrix"
