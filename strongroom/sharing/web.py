"""The policy as the API's views call it: for the signed-in caller of this request."""

from __future__ import annotations

from datetime import datetime

from strongroom.auth.authn import get_deps, require_principal
from strongroom.context import db_session
from strongroom.files.models import StoredFile
from strongroom.sharing.policy import Action, Actor, authorize


def authorized_file(
    action: Action, file_id: str, *, lock: bool = False
) -> tuple[StoredFile, str, datetime]:
    """The file, if the signed-in caller may do ``action`` to it, with the caller's
    ledger name and the request's time; refusals are ledgered and raised."""
    principal = require_principal()
    now = get_deps().now()
    file = authorize(db_session(), Actor.of(principal), action, file_id, now=now, lock=lock)
    return file, principal.actor, now
