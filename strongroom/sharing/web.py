"""The policy as the API's views call it: for the signed-in caller of this request."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, request

from strongroom.auth.authn import get_deps, on_refusal, require_principal
from strongroom.auth.principal import Principal
from strongroom.context import db_session
from strongroom.files.models import StoredFile
from strongroom.sharing.policy import Action, Actor, authorize, deny


def authorized_file(
    action: Action, file_id: str, *, lock: bool = False
) -> tuple[StoredFile, str, datetime]:
    """The file, if the signed-in caller may do ``action`` to it, with the caller's
    ledger name and the request's time; refusals are ledgered and raised."""
    principal = require_principal()
    now = get_deps().now()
    file = authorize(db_session(), Actor.of(principal), action, file_id, now=now, lock=lock)
    return file, principal.actor, now


def _ledger_route_refusal(principal: Principal, permission: str, reason: str) -> None:
    """A token refused by a file route's declared scope is a refused attempt on that
    file too: ledgered like the policy's own refusals."""
    file_id = (request.view_args or {}).get("file_id")
    if isinstance(file_id, str):
        now = get_deps().now()
        deny(db_session(), Actor.of(principal), permission, file_id, reason, now=now)


def init_app(app: Flask) -> None:
    on_refusal(app, _ledger_route_refusal)
