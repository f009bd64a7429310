"""Every protected route refuses the wrong callers, found by walking the real URL map.

Nothing here lists routes by hand: the parameters come from the URL map of an app
built by ``create_app`` (on a throw-away SQLite file, at import time), and a test
checks that list against the URL map of the app the tests run on. A route added
tomorrow is checked tomorrow: without credentials, with an expired session, with a
revoked token, without the CSRF token, and by a user who is not allowed.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from strongroom.admin import services as admin_services
from strongroom.app import create_app
from strongroom.auth.authn import DEPS_KEY, SAFE_METHODS
from strongroom.auth.models import Invite, Role, User
from strongroom.auth.policy import Requirement, requirement_of
from strongroom.auth.principal import SCOPES
from strongroom.bodies import DEFAULT_POLICY
from strongroom.context import get_database
from tests.auth_helpers import FakeClock, SignedIn, register, sign_in, unique_name, use_clock
from tests.conftest import FAST_HASHING, AppFactory, migrate

API = "/api/v1"
PROBLEM = "urn:strongroom:problem:"
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
NO_SUCH_ID = 2_147_480_000  # fits PostgreSQL's integer; no test creates that many rows
# These checks are about access rules, not limits: plenty of room for the sign-ins,
# registrations and deliberately bad bearer tokens one test makes.
ROOMY_LIMITS: dict[str, str] = {
    "rate_limit_signin_ip": "1000/minute",
    "rate_limit_register_ip": "1000/hour",
    "rate_limit_token_failures_ip": "1000/minute",
}


@dataclass(frozen=True)
class Route:
    """One method of one URL rule that needs a signed-in caller."""

    method: str
    rule: str
    endpoint: str
    requirement: Requirement
    arguments: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"

    @property
    def changes_state(self) -> bool:
        return self.method not in SAFE_METHODS

    def path(self, values: dict[str, int]) -> str:
        return re.sub(r"<(?:[^<>:]+:)?(\w+)>", lambda m: str(values[m.group(1)]), self.rule)


def protected_routes(app: APIFlask) -> list[Route]:
    """Every (method, rule) of ``app`` whose requirement asks for a signed-in caller."""
    routes = []
    for rule in app.url_map.iter_rules():
        requirement = requirement_of(rule.endpoint, app.view_functions.get(rule.endpoint))
        if requirement is None or not requirement.authenticated:
            continue  # routes without a requirement fail test_every_route_declares_...
        for method in sorted(set(rule.methods or ()) - IGNORED_METHODS):
            routes.append(
                Route(method, rule.rule, rule.endpoint, requirement, tuple(sorted(rule.arguments)))
            )
    return sorted(routes, key=lambda r: (r.rule, r.method))


def _routes_of_a_real_app() -> list[Route]:
    """Built at import time (for the parameters) from a real app on a throw-away database."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # no .env file of the developer's
        try:
            url = f"sqlite:///{Path(tmp) / 'routes.db'}"
            migrate(url)
            app = create_app(
                {
                    **FAST_HASHING,
                    "mode": "testing",
                    "data_dir": Path(tmp) / "data",
                    "database_url": url,
                    "redis_url": "",
                    "secret_key": secrets.token_urlsafe(48),
                }
            )
            with app.app_context():
                get_database().dispose()
            return protected_routes(app)
        finally:
            os.chdir(cwd)
            root.handlers[:] = handlers  # create_app installed its log handler; undo it
            root.setLevel(level)


PROTECTED = _routes_of_a_real_app()
STATE_CHANGING = [r for r in PROTECTED if r.changes_state]
ADMIN_ONLY = [r for r in PROTECTED if r.requirement.admin]
OWN_OBJECTS = [r for r in PROTECTED if r.rule.startswith(f"{API}/me/") and r.arguments]


# --- actors and the victim's objects ---------------------------------------------------


@dataclass
class Actor:
    """A signed-in user and a test client holding their session cookie."""

    client: FlaskClient
    signed: SignedIn

    @property
    def user_id(self) -> int:
        return int(self.signed.user["id"])

    @property
    def csrf(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.signed.csrf_token}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Scene:
    """One app, its clock, and (made on demand) a victim whose objects routes point at."""

    def __init__(self, app: APIFlask) -> None:
        self.app = app
        self.clock = FakeClock()
        use_clock(app, self.clock)

    @property
    def idle_timeout(self) -> int:
        return int(self.app.extensions[DEPS_KEY].settings.session_idle_timeout)

    def account(self, prefix: str, *, admin: bool = False) -> Actor:
        client = self.app.test_client()
        username = register(client, unique_name(prefix))
        if admin:
            with self.app.app_context(), get_database().session() as db:
                user = db.query(User).filter_by(username=username).one()
                user.role = Role.ADMIN
                db.commit()
        return Actor(client, sign_in(client, username))

    @cached_property
    def victim(self) -> Actor:
        return self.account("victim")

    @cached_property
    def victim_session_id(self) -> int:
        sessions = self.victim.client.get(f"{API}/me/sessions").get_json()["sessions"]
        return int(next(s["id"] for s in sessions if s["current"]))

    def make_token(self, owner: Actor, scopes: list[str]) -> tuple[int, str]:
        """A personal access token of ``owner``'s, through the API: (id, secret)."""
        response = owner.client.post(
            f"{API}/me/tokens",
            json={"name": unique_name("pat"), "scopes": scopes},
            headers=owner.csrf,
        )
        assert response.status_code == 201, response.get_json()
        return int(response.get_json()["id"]), str(response.get_json()["token"])

    @cached_property
    def victim_token(self) -> tuple[int, str]:
        return self.make_token(self.victim, ["files:read"])

    @cached_property
    def invite_id(self) -> int:
        with self.app.app_context(), get_database().session() as db:
            _, invite = admin_services.create_invite(
                db, self.app.extensions[DEPS_KEY], actor_id=None, note="victim's", role=Role.USER
            )
            db.commit()
            return invite.id

    def object_id(self, argument: str) -> int:
        """An id for a path argument: the victim's own object where one fits."""
        if argument == "user_id":
            return self.victim.user_id
        if argument == "session_id":
            return self.victim_session_id
        if argument == "token_id":
            return self.victim_token[0]
        if argument == "invite_id":
            return self.invite_id
        return NO_SUCH_ID

    def path(self, route: Route) -> str:
        return route.path({name: self.object_id(name) for name in route.arguments})

    def assert_victim_intact(self) -> None:
        """Whatever of the victim's was made still exists and still works."""
        made = self.__dict__
        if "victim" in made:
            assert self.victim.client.get(f"{API}/me").status_code == 200, "victim's session"
        if "victim_token" in made:
            me = self.app.test_client().get(f"{API}/me", headers=bearer(self.victim_token[1]))
            assert me.status_code == 200, "victim's token"
        if "invite_id" in made:
            with self.app.app_context(), get_database().session() as db:
                invite = db.get_one(Invite, self.invite_id)
                assert invite.revoked_at is None, "victim's invitation"


@pytest.fixture
def scene(make_app: AppFactory) -> Scene:
    return Scene(make_app(**ROOMY_LIMITS))


def send(client: FlaskClient, route: Route, path: str, headers: dict[str, str]) -> TestResponse:
    """The route's method on ``path``; a body-taking method gets ``{}`` as JSON.

    The access checks run before the body is validated, so ``{}`` must never decide
    the answer of a refused request.
    """
    kwargs: dict[str, Any] = {"headers": headers}
    if route.method in {"POST", "PUT", "PATCH", "DELETE"}:
        view = client.application.view_functions[route.endpoint]
        media_types = getattr(view, "_strongroom_body", DEFAULT_POLICY).media_types
        if "application/json" in media_types:
            kwargs["json"] = {}
        else:  # an upload: a one-byte body of the first type it takes
            kwargs["data"], kwargs["content_type"] = b"x", media_types[0]
    return client.open(path, method=route.method, **kwargs)


def assert_problem(response: TestResponse, status: int, slug: str, context: object) -> None:
    if not response.request.path.startswith(f"{API}/"):
        # Pages answer errors as readable HTML pages with the same status.
        assert response.status_code == status, f"{context}: {response.status_code}"
        assert response.mimetype == "text/html", context
        return
    body = response.get_json(silent=True)
    assert response.status_code == status, f"{context}: {response.status_code} {body}"
    assert response.mimetype == "application/problem+json", context
    assert body is not None, context
    assert body["type"] == PROBLEM + slug, f"{context}: {body}"
    assert body["status"] == status, context


def assert_unauthenticated(response: TestResponse, context: object) -> None:
    if not response.request.path.startswith(f"{API}/"):
        # A page sends a caller who is not signed in to the sign-in page instead.
        assert response.status_code == 303, f"{context}: {response.status_code}"
        assert response.headers["Location"] == "/login", context
        return
    assert_problem(response, 401, "unauthenticated", context)
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), context


# --- the URL map as a whole ---------------------------------------------------------------


def test_every_route_declares_an_access_requirement(make_app: AppFactory) -> None:
    app = make_app()
    offenders = sorted(
        f"{rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        if requirement_of(rule.endpoint, app.view_functions.get(rule.endpoint)) is None
    )
    assert offenders == [], f"routes without an access requirement: {offenders}"
    not_admin = sorted(
        f"{rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(f"{API}/admin")
        and (req := requirement_of(rule.endpoint, app.view_functions[rule.endpoint])) is not None
        and req.authenticated
        and not req.admin
    )
    assert not_admin == [], f"admin routes open to non-admins: {not_admin}"


def test_the_parameters_are_the_routes_of_the_app_under_test(make_app: AppFactory) -> None:
    assert protected_routes(make_app()) == PROTECTED
    # Sanity: the walk found the accounts and admin APIs (an empty list tests nothing).
    assert {r.rule for r in ADMIN_ONLY} >= {f"{API}/admin/users", f"{API}/admin/invites"}
    assert {str(r) for r in OWN_OBJECTS} >= {
        f"DELETE {API}/me/sessions/<int(max=2147483647):session_id>",
        f"DELETE {API}/me/tokens/<int(max=2147483647):token_id>",
    }
    assert len(STATE_CHANGING) >= 10


# --- each protected route ------------------------------------------------------------------


@pytest.mark.parametrize("route", PROTECTED, ids=str)
def test_no_credentials_get_401(scene: Scene, route: Route) -> None:
    response = send(scene.app.test_client(), route, scene.path(route), headers={})
    assert_unauthenticated(response, route)
    scene.assert_victim_intact()


@pytest.mark.parametrize("route", PROTECTED, ids=str)
def test_an_idle_expired_session_gets_401(scene: Scene, route: Route) -> None:
    path = scene.path(route)
    # An admin where the route needs one, so the expiry is the only thing wrong.
    holder = scene.account("stale", admin=route.requirement.admin)
    by_header = sign_in(scene.app.test_client(), holder.signed.username)  # a second session
    assert holder.client.get(f"{API}/me").status_code == 200
    scene.clock.advance(seconds=scene.idle_timeout + 1)
    via_cookie = send(holder.client, route, path, headers=holder.csrf)
    assert_unauthenticated(via_cookie, f"{route} (cookie)")
    via_bearer = send(scene.app.test_client(), route, path, headers=by_header.bearer)
    assert_unauthenticated(via_bearer, f"{route} (bearer)")


@pytest.mark.parametrize("route", PROTECTED, ids=str)
def test_a_revoked_token_gets_401(scene: Scene, route: Route) -> None:
    path = scene.path(route)
    owner = scene.account("revoked", admin=route.requirement.admin)
    token_id, token = scene.make_token(owner, list(SCOPES))  # revocation is all that is wrong
    assert scene.app.test_client().get(f"{API}/me", headers=bearer(token)).status_code == 200
    revoked = owner.client.delete(f"{API}/me/tokens/{token_id}", headers=owner.csrf)
    assert revoked.status_code == 204
    response = send(scene.app.test_client(), route, path, headers=bearer(token))
    assert_unauthenticated(response, route)
    scene.assert_victim_intact()


@pytest.mark.parametrize("route", STATE_CHANGING, ids=str)
def test_cookie_requests_without_the_csrf_token_get_403(scene: Scene, route: Route) -> None:
    path = scene.path(route)
    actor = scene.account("csrf", admin=route.requirement.admin)
    other = sign_in(scene.app.test_client(), actor.signed.username)  # same user, other session
    for label, headers in (
        ("no token", {}),
        ("empty token", {"X-CSRF-Token": ""}),
        ("another session's token", {"X-CSRF-Token": other.csrf_token}),
        ("a made-up token", {"X-CSRF-Token": secrets.token_urlsafe(32)}),
    ):
        response = send(actor.client, route, path, headers=headers)
        assert_problem(response, 403, "csrf-failed", f"{route} ({label})")
    assert actor.client.get(f"{API}/me").status_code == 200  # the session itself is fine
    scene.assert_victim_intact()


@pytest.mark.parametrize("route", ADMIN_ONLY, ids=str)
def test_admin_routes_refuse_other_users(scene: Scene, route: Route) -> None:
    path = scene.path(route)
    intruder = scene.account("intruder")
    response = send(intruder.client, route, path, headers=intruder.csrf)
    assert_problem(response, 403, "forbidden", f"{route} (session)")
    # A token carrying the admin scope does not make its non-admin owner an admin.
    _, token = scene.make_token(intruder, list(SCOPES))
    response = send(scene.app.test_client(), route, path, headers=bearer(token))
    assert_problem(response, 403, "forbidden", f"{route} (token with the admin scope)")
    scene.assert_victim_intact()


@pytest.mark.parametrize("route", OWN_OBJECTS, ids=str)
def test_someone_elses_object_is_not_found(scene: Scene, route: Route) -> None:
    unknown = [a for a in route.arguments if scene.object_id(a) == NO_SUCH_ID]
    assert not unknown, f"{route}: teach Scene.object_id which victim object {unknown} names"
    path = scene.path(route)
    attacker = scene.account("attacker")
    response = send(attacker.client, route, path, headers=attacker.csrf)
    assert_problem(response, 404, "not-found", route)
    scene.assert_victim_intact()
    # The same request from the owner works, so the id really was the victim's.
    own = send(scene.victim.client, route, path, headers=scene.victim.csrf)
    assert 200 <= own.status_code < 300, (own.status_code, own.get_json(silent=True))


@pytest.mark.parametrize("route", PROTECTED, ids=str)
def test_the_right_caller_gets_past_the_checks(scene: Scene, route: Route) -> None:
    """The control for the refusals above: the route's own kind of caller is let in.

    ``{}`` is not a valid body for every route, so a 422 (or a 404/409 from the
    service) is fine here; a 401, a 403 or a 500 is not.
    """
    path = scene.path(route)
    if route in OWN_OBJECTS:
        caller = scene.victim
    else:
        caller = scene.account("rightful", admin=route.requirement.admin)
    response = send(caller.client, route, path, headers=caller.csrf)
    body = response.get_json(silent=True)
    assert response.status_code not in {401, 403}, (route, body)
    assert response.status_code < 500, (route, body)


def test_a_new_token_is_shown_once_and_works(scene: Scene) -> None:
    actor = scene.account("creator")
    created = actor.client.post(
        f"{API}/me/tokens", json={"name": "laptop", "scopes": ["files:read"]}, headers=actor.csrf
    )
    assert created.status_code == 201, created.get_json()
    token = created.get_json()["token"]
    assert token.startswith("srp_")
    me = scene.app.test_client().get(f"{API}/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.get_json()["auth"] == "token"
    listed = actor.client.get(f"{API}/me/tokens")
    assert token not in listed.get_data(as_text=True)


# --- malformed credentials -----------------------------------------------------------------

GARBAGE_AUTHORIZATION = {
    "bearer nonsense": "Bearer nonsense",
    "basic": "Basic abc",
    "basic credentials": "Basic dXNlcjpwYXNzd29yZA==",
    "digest": 'Digest username="admin", response="0"',
    "scheme only": "Bearer",
    "empty": "",
    "10 kB": "Bearer " + "x" * 10_240,
    "10 kB with a session prefix": "Bearer srs_" + "A" * 10_240,
    "unknown session": "Bearer srs_" + secrets.token_urlsafe(32),
    "unknown token": "Bearer srp_" + secrets.token_urlsafe(32),
    "a challenge token": "Bearer src_" + secrets.token_urlsafe(32),
    "latin-1": "Bearer \u00e9t\u00e9",
    "control characters": "Bearer srs_\x01\x02",
}


@pytest.mark.parametrize("header", GARBAGE_AUTHORIZATION.values(), ids=GARBAGE_AUTHORIZATION)
def test_garbage_authorization_gets_401_never_500(scene: Scene, header: str) -> None:
    client = scene.app.test_client()
    for route in PROTECTED:
        path = route.path(dict.fromkeys(route.arguments, NO_SUCH_ID))
        response = send(client, route, path, headers={"Authorization": header})
        assert_unauthenticated(response, route)


def test_a_valid_token_under_another_scheme_is_refused(scene: Scene) -> None:
    actor = scene.account("scheme")
    _, pat = scene.make_token(actor, ["files:read"])
    client = scene.app.test_client()
    for header in (f"Basic {actor.signed.token}", f"Token {pat}", f"{pat}", f"Bearer{pat}"):
        response = client.get(f"{API}/me", headers={"Authorization": header})
        assert_unauthenticated(response, header[:12])


# --- policy ----------------------------------------------------------------------------------


def test_an_admin_without_2fa_must_set_it_up_first(make_app: AppFactory) -> None:
    scene = Scene(make_app(require_2fa="admins", **ROOMY_LIMITS))
    admin = scene.account("admin", admin=True)
    response = admin.client.get(f"{API}/admin/users")
    assert_problem(response, 403, "two-factor-setup-required", "admin without 2FA")
    # Set-up itself stays open, and a plain user is not held to the admins' policy.
    assert admin.client.get(f"{API}/me/2fa").get_json()["required"] is True
    user = scene.account("user")
    assert user.client.get(f"{API}/me/sessions").status_code == 200
