"""Personal access tokens: the list, a new token (its secret shown once), revocation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response, request
from marshmallow import ValidationError

from strongroom.auth import access_tokens, accounts
from strongroom.auth.authn import get_deps, require_principal
from strongroom.auth.exceptions import (
    Conflict,
    InvalidCredentials,
    ReauthenticationRequired,
    Throttled,
)
from strongroom.auth.policy import login_required
from strongroom.auth.principal import SCOPES
from strongroom.auth.schemas import TokenIn
from strongroom.bodies import accepts_body
from strongroom.context import db_session
from strongroom.web.account import (
    REAUTH_MESSAGE,
    Errors,
    keeping_failures,
    require_recent_sign_in,
    wait_message,
)
from strongroom.web.account_security import once
from strongroom.web.blueprint import FORM, bp, done, page

# How long a new token lives, as the form offers it ("" = until revoked).
LIFETIMES = {"30": "30 days", "90": "90 days", "365": "1 year", "": "No expiry"}
DEFAULT_LIFETIME = "90"


@bp.get("/account/tokens")
@login_required("web:account:tokens", tokens=False)
def tokens() -> Response:
    return _tokens_page(typed={"lifetime": DEFAULT_LIFETIME, "scopes": ["files:read"]})


def _tokens_page(
    *, status: int = 200, typed: dict[str, Any], errors: Errors | None = None,
    created: access_tokens.NewAccessToken | None = None,
) -> Response:  # fmt: skip
    principal = require_principal()
    assert principal.session is not None  # noqa: S101  # tokens=False
    deps = get_deps()
    scopes = {s: d for s, d in SCOPES.items() if s != "admin" or principal.user.is_admin}
    return page(
        "account_tokens.html", status=status, typed=typed, errors=errors or {}, created=created,
        tokens=access_tokens.list_tokens(db_session(), deps, user_id=principal.user.id),
        scopes=scopes, lifetimes=LIFETIMES,
        needs_password=accounts.needs_reauthentication(deps, session=principal.session),
    )  # fmt: skip


def _token_body(typed: dict[str, Any]) -> dict[str, Any]:
    """The form as the API's ``TokenIn`` takes it (validated by the same schema)."""
    days = typed["lifetime"]
    expires = get_deps().now() + timedelta(days=int(days)) if days in LIFETIMES and days else None
    body: dict[str, Any] = TokenIn().load(
        {"name": typed["name"], "scopes": typed["scopes"],
         "expires_at": expires.isoformat() if expires else None}
    )  # fmt: skip
    body.pop("current_password", None)
    return body


@bp.post("/account/tokens")
@login_required("web:account:token:create", tokens=False)
@accepts_body(FORM)
def create_token() -> Response:
    principal = require_principal()
    assert principal.session is not None  # noqa: S101
    typed: dict[str, Any] = {
        "name": request.form.get("name", "").strip()[:100],
        "scopes": request.form.getlist("scopes")[: len(SCOPES)],
        "lifetime": request.form.get("lifetime", DEFAULT_LIFETIME)[:4],
    }
    try:
        body = _token_body(typed)
    except ValidationError as err:
        messages = err.messages_dict
        errors = {str(k): [_plain(k, v)] for k, v in messages.items()}
        return _tokens_page(status=422, typed=typed, errors=errors)
    db = db_session()
    try:
        with keeping_failures(db):
            require_recent_sign_in(principal)
            created = access_tokens.create_token(db, get_deps(), user=principal.user, **body)
    except (InvalidCredentials, ReauthenticationRequired):
        errors = {"current_password": [REAUTH_MESSAGE]}
        return _tokens_page(status=422, typed=typed, errors=errors)
    except Throttled as err:
        return _tokens_page(
            status=429, typed=typed, errors={"current_password": [wait_message(err)]}
        )
    except Conflict as err:
        return _tokens_page(status=409, typed=typed, errors={"form": [str(err)]})
    db.commit()
    fresh = {"lifetime": DEFAULT_LIFETIME, "scopes": ["files:read"]}
    return once(_tokens_page(status=201, typed=fresh, created=created))


def _plain(field: object, messages: Any) -> str:
    """One readable sentence for a field the schema refused."""
    if field == "name":
        return "Give the token a name (up to 100 characters, no control characters)."
    if field == "scopes":
        return "Choose what the token may do: at least one of the listed rights."
    return " ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)


@bp.post("/account/tokens/<int(max=2147483647):token_id>/revoke")
@login_required("web:account:token:revoke", tokens=False)
@accepts_body(FORM)
def revoke_token(token_id: int) -> Response:
    principal = require_principal()
    db = db_session()
    # AccountNotFound (someone else's token, or gone already) becomes the 404 page.
    access_tokens.revoke_token(
        db, get_deps(), user=principal.user, token_id=token_id, actor=principal.actor
    )
    db.commit()
    return done("The token was revoked; it no longer works.", "web.tokens")
