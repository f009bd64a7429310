"""A file's history and the ledger explorer.

The pages list what the server says; the browser then checks it. ``history.js`` and
``ledger.js`` fetch the same JSON as the API, recompute every leaf hash from the
entry's canonical bytes with WebCrypto, check the inclusion proofs up to the signed
checkpoint's root and the checkpoint's Ed25519 signature, and remember the checkpoint
to prove next time that the ledger only grew. So a person need not trust this server's
word that the events are the ones in the signed log.

Who sees what follows the API: a file's history is its owner's (others get 404 from
the same policy); in the explorer an admin reads every event, a user their own, and
anyone signed in may see any entry's hash and proof. An erased entry has no event to
read: its page names the ``ledger:entry:redact`` entry that records the erasure, which
the script must verify before it calls the entry erased (spec section 6).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from flask import Response, abort, request, url_for
from sqlalchemy import select

from strongroom.auth.authn import get_deps, require_principal
from strongroom.auth.policy import login_required
from strongroom.auth.principal import Principal
from strongroom.context import db_session, writes_on_read
from strongroom.ledger import browse, proofs
from strongroom.ledger.models import LedgerCheckpoint, LedgerEntry
from strongroom.ledger.services import REDACT_TAG
from strongroom.ledger.views import may_see
from strongroom.ledger.web import get_ledger
from strongroom.sharing import history
from strongroom.sharing.policy import Action
from strongroom.sharing.web import authorized_file
from strongroom.web.blueprint import bp, int_arg, page
from strongroom.web.ledger_words import LABELS, LABELS_JSON, names_for

HISTORY_PAGE = 100
LEDGER_PAGE = 50


@bp.app_template_filter("b64")
def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _signed_checkpoint() -> LedgerCheckpoint:
    """A signed checkpoint covering every entry so far (signed now if need be, as the
    history API does), so that every entry a page lists can be proven."""
    db = db_session()
    checkpoint = history.current_checkpoint(db, get_ledger().signer, now=get_deps().now())
    db.commit()
    return checkpoint


def _readable(entry: LedgerEntry, principal: Principal) -> bool:
    """Whether the page shows the entry's event: the reader may see it (as in the API)
    and it was not erased (an admin may see every event, but an erased one is gone)."""
    return entry.event is not None and may_see(entry, principal)


def _redactions(entries: list[LedgerEntry]) -> dict[int, int]:
    """The index of the entry recording each erased entry's redaction. The script
    proves an erasure with it: a row whose event was merely deleted from the database
    has none, and another row cannot pass for it (its signed bytes name its index)."""
    erased = [f"entry:{e.index}" for e in entries if e.event is None]
    if not erased:
        return {}
    found = db_session().execute(
        select(LedgerEntry.target, LedgerEntry.index)
        .where(LedgerEntry.tag == REDACT_TAG, LedgerEntry.target.in_(erased))
    ).all()  # fmt: skip
    return {int(target.removeprefix("entry:")): index for target, index in found}


def _words(entries: list[LedgerEntry]) -> dict[str, Any]:
    """The labels and names a page shows, and the same as JSON for its script."""
    names = names_for(db_session(), entries, owner_id=require_principal().user.id)
    return {
        "labels": LABELS,
        "labels_json": LABELS_JSON,
        "names": names,
        "names_json": json.dumps(names, separators=(",", ":")),
    }


@bp.get("/files/<file_id>/history")
@login_required("web:files:history", tokens=False)
@writes_on_read
def file_history(file_id: str) -> Response:
    """Every event about the file (the owner only, as the API's history route)."""
    file, _actor, now = authorized_file(Action.HISTORY, file_id, lock=True)
    db = db_session()
    checkpoint = history.current_checkpoint(db, get_ledger().signer, now=now)
    number = int_arg("page", 1)
    offset = (number - 1) * HISTORY_PAGE
    found = history.file_history(db, file.id, checkpoint, offset=offset, limit=HISTORY_PAGE)
    db.commit()  # the checkpoint, if one was signed
    entries = [p.entry for p in found.entries]
    return page(
        "history.html",
        file=file,
        entries=entries,
        total=found.total,
        page=number,
        pages=max(1, -(-found.total // HISTORY_PAGE)),
        api=url_for("sharing.history", file_id=file.id, offset=offset, limit=HISTORY_PAGE),
        **_words(entries),
    )


@bp.get("/ledger")
@login_required("web:ledger:list", tokens=False)
@writes_on_read
def ledger() -> Response:
    """The latest checkpoint and the entries, newest first: an admin's choice of all
    or their own, a user's own by default (others' show only their hashes)."""
    principal = require_principal()
    admin = principal.user.is_admin
    show = request.args.get("show", "all" if admin else "mine")
    show = show if show in {"all", "mine"} else "mine"
    checkpoint = _signed_checkpoint()
    number = int_arg("page", 1)
    found = browse.newest_entries(
        db_session(), involving=None if show == "all" else principal.actor,
        offset=(number - 1) * LEDGER_PAGE, limit=LEDGER_PAGE,
    )  # fmt: skip
    visible = [e for e in found.entries if _readable(e, principal)]
    return page(
        "ledger.html",
        checkpoint=checkpoint,
        key=get_ledger().signer.verifier.encode(),
        entries=found.entries,
        visible={e.index for e in visible},
        redactions=_redactions(list(found.entries)),
        total=found.total,
        show=show,
        page=number,
        pages=max(1, -(-found.total // LEDGER_PAGE)),
        **_words(visible),  # names only from events the reader may see
    )


@bp.get("/ledger/entries/<int(max=4611686018427387904):index>")
@login_required("web:ledger:entry", tokens=False)
@writes_on_read
def ledger_entry(index: int) -> Response:
    """One entry with its inclusion proof in the latest checkpoint's tree."""
    checkpoint = _signed_checkpoint()
    db = db_session()
    entry = db.get(LedgerEntry, index) if index < checkpoint.size else None
    if entry is None:
        abort(404)
    visible = _readable(entry, require_principal())
    return page(
        "ledger_entry.html",
        checkpoint=checkpoint,
        key=get_ledger().signer.verifier.encode(),
        entry=entry,
        visible=visible,
        redaction=_redactions([entry]).get(index),
        proof=proofs.inclusion_proof(db, index, checkpoint.size),
        api=url_for("ledger.entry", index=index, tree_size=checkpoint.size),
        **_words([entry] if visible else []),
    )
