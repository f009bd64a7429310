"""What each route requires, declared on the route, enforced before it runs.

Deny by default: a route without a declaration is refused (and a test walks the URL
map so none ships without one). A declaration names the permission
(``account:password:change``), whether a signed-in user is needed, whether the user
must be an admin, which scope a personal access token needs (or that tokens may not
use the route at all), and whether it stays open to an account that must first
change its password or enrol in 2FA.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from strongroom.auth.principal import SCOPES

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "_strongroom_requirement"


@dataclass(frozen=True)
class Requirement:
    """The access rule of one route."""

    permission: str
    authenticated: bool = True
    admin: bool = False
    # None: any personal access token may use the route; otherwise the scope it needs.
    scope: str | None = None
    tokens: bool = True  # False: sessions only (tokens cannot manage credentials)
    while_restricted: bool = False  # open to accounts that must change password / enrol 2FA
    # True: the route checks a credential of its own in ``Authorization`` (the metrics
    # token), so that header is neither looked up as a user's token nor counted as a
    # failed one, and no session is looked up either.
    own_credential: bool = False


def _declare(requirement: Requirement) -> Callable[[F], F]:
    if requirement.scope is not None and requirement.scope not in SCOPES:
        raise ValueError(f"unknown scope {requirement.scope!r}")

    def decorate(view: F) -> F:
        setattr(view, ATTRIBUTE, requirement)
        return view

    return decorate


def public(permission: str) -> Callable[[F], F]:
    """Anyone may call the route, signed in or not."""
    return _declare(Requirement(permission, authenticated=False, while_restricted=True))


def own_credential(permission: str) -> Callable[[F], F]:
    """No user: the view checks a bearer token of its own (``/metrics``)."""
    return _declare(
        Requirement(permission, authenticated=False, while_restricted=True, own_credential=True)
    )


def login_required(
    permission: str,
    *,
    scope: str | None = None,
    tokens: bool = True,
    while_restricted: bool = False,
) -> Callable[[F], F]:
    """A signed-in user; a token needs ``scope`` (or may not call it: ``tokens=False``)."""
    return _declare(
        Requirement(permission, scope=scope, tokens=tokens, while_restricted=while_restricted)
    )


def admin_required(permission: str, *, tokens: bool = True) -> Callable[[F], F]:
    """A signed-in admin; a personal access token also needs the ``admin`` scope.

    ``tokens=False`` for actions that hand out credentials (temporary passwords,
    2FA resets, new accounts, invitations): a leaked token must not be enough to
    take over accounts, the admin's own included.
    """
    return _declare(Requirement(permission, admin=True, scope="admin", tokens=tokens))


# Endpoints that Flask and APIFlask add themselves.
BUILTIN: dict[str, Requirement] = {
    "static": Requirement("site:static", authenticated=False, while_restricted=True),
    "openapi.spec": Requirement("site:api-spec", authenticated=False, while_restricted=True),
}


def requirement_of(endpoint: str, view: Callable[..., Any] | None) -> Requirement | None:
    found = getattr(view, ATTRIBUTE, None)
    if found is None:
        found = getattr(getattr(view, "__wrapped__", None), ATTRIBUTE, None)
    return found if found is not None else BUILTIN.get(endpoint)
