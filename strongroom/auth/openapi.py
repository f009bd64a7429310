"""Route requirements, written into the OpenAPI document.

Each operation that needs a signed-in caller gets the two security schemes (bearer
token, session cookie), its 401/403 answers and, in its description, the permission
and the token scope it needs; rate-limited ones document their 429.
"""

from __future__ import annotations

import re
from typing import Any

from apiflask import APIFlask

from strongroom.auth.authn import DEPS_KEY, cookie_name
from strongroom.auth.policy import Requirement, requirement_of

_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
SECURITY_SCHEMES = {
    "BearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "A session token (`srs_...`) or a personal access token (`srp_...`).",
    },
    "SessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "__Host-strongroom_session",
        "description": "Browsers; state-changing requests also need `X-CSRF-Token`.",
    },
}


def _requirements(app: APIFlask) -> dict[tuple[str, str], tuple[Requirement, bool]]:
    found = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        requirement = requirement_of(rule.endpoint, view)
        if requirement is None:
            continue
        limited = getattr(getattr(view, "__wrapped__", view), "_strongroom_route_limit", None)
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        for method in rule.methods or ():
            found[(path, method.lower())] = (requirement, limited is not None)
    return found


def _describe(requirement: Requirement) -> str:
    who = "an admin" if requirement.admin else "a signed-in user"
    if not requirement.tokens:
        tokens = "sessions only (personal access tokens are refused)"
    elif requirement.scope:
        tokens = f"personal access tokens need the `{requirement.scope}` scope"
    else:
        tokens = "any personal access token"
    return f"Requires {who} (`{requirement.permission}`); {tokens}."


def requirement_processor(app: APIFlask) -> Any:
    def process(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
        if not isinstance(spec, dict):
            raise TypeError("the OpenAPI spec processor needs the spec as a dict")
        schemes = {name: dict(scheme) for name, scheme in SECURITY_SCHEMES.items()}
        schemes["SessionCookie"]["name"] = cookie_name(app.extensions[DEPS_KEY])
        spec.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)
        requirements = _requirements(app)
        for path, item in spec.get("paths", {}).items():
            for method, operation in item.items():
                if (path, method) not in requirements or not isinstance(operation, dict):
                    continue
                requirement, limited = requirements[(path, method)]
                _annotate(operation, requirement, limited=limited)
        return spec

    return process


def _annotate(operation: dict[str, Any], requirement: Requirement, *, limited: bool) -> None:
    responses = operation.setdefault("responses", {})
    if limited:
        responses.setdefault("429", {"description": "Rate limited", "content": _PROBLEM})
    if not requirement.authenticated:
        operation["security"] = []
        return
    operation["security"] = [{"BearerAuth": []}, {"SessionCookie": []}]
    text = _describe(requirement)
    operation["description"] = f"{operation.get('description', '')}\n\n{text}".strip()
    responses.setdefault("401", {"description": "Not signed in", "content": _PROBLEM})
    responses.setdefault(
        "403", {"description": "Role, scope or CSRF token not sufficient", "content": _PROBLEM}
    )
    responses.setdefault(
        "429",
        {"description": "Too many invalid bearer tokens from this address", "content": _PROBLEM},
    )
