"""A file's history and the ledger explorer.

The pages list what the server says; the browser then checks it. ``history.js`` and
``ledger.js`` fetch the same JSON as the API, recompute every leaf hash from the
entry's canonical bytes with WebCrypto, check the inclusion proofs up to the signed
checkpoint's root and the checkpoint's Ed25519 signature, so a person need not trust
this server's word that the events are the ones in the signed log.
"""

from __future__ import annotations

from flask import Response

from strongroom.auth.policy import login_required
from strongroom.context import db_session, writes_on_read
from strongroom.ledger.web import get_ledger
from strongroom.sharing import history
from strongroom.sharing.policy import Action
from strongroom.sharing.web import authorized_file
from strongroom.web.blueprint import bp, int_arg, page

HISTORY_PAGE = 100


@bp.get("/files/<file_id>/history")
@login_required("web:files:history", tokens=False)
@writes_on_read
def file_history(file_id: str) -> Response:
    """Every event about the file (the owner only, as the API's history route)."""
    file, _actor, now = authorized_file(Action.HISTORY, file_id, lock=True)
    db = db_session()
    checkpoint = history.current_checkpoint(db, get_ledger().signer, now=now)
    page_number = int_arg("page", 1)
    found = history.file_history(
        db, file.id, checkpoint, offset=(page_number - 1) * HISTORY_PAGE, limit=HISTORY_PAGE
    )
    db.commit()  # the checkpoint, if one was signed
    return page(
        "history.html",
        file=file,
        checkpoint=checkpoint,
        entries=[p.entry for p in found.entries],
        total=found.total,
        page=page_number,
        pages=max(1, -(-found.total // HISTORY_PAGE)),
    )
