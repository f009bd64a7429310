"""The ledger's place in the web app: its signer and checkpoint cadence, and the hook
that stores a checkpoint after a request that appended entries (when one is due)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy.exc import SQLAlchemyError

from strongroom.context import get_database
from strongroom.ledger.checkpoints import Cadence, checkpoint_if_due
from strongroom.ledger.note import Signer
from strongroom.ledger.services import APPENDED
from strongroom.settings import Settings

log = logging.getLogger(__name__)
KEY = "strongroom.ledger"


@dataclass(frozen=True)
class LedgerDeps:
    signer: Signer
    cadence: Cadence


def get_ledger() -> LedgerDeps:
    deps: LedgerDeps = current_app.extensions[KEY]
    return deps


def _checkpoint_after_appends(_exc: BaseException | None) -> None:
    session = g.get("db_session")
    if session is None or not session.info.pop(APPENDED, False):
        return
    # The request's own transaction is over: what it wrote is committed, and anything
    # else is dropped when its session closes. End it now: on SQLite a page that read
    # after its commit (an error page, say) holds the write lock, and the checkpoint's
    # session below would wait out the busy timeout and give up.
    session.rollback()
    deps = get_ledger()
    clock = current_app.extensions["strongroom.auth"].clock
    try:
        with get_database().session() as db:
            checkpoint_if_due(db, deps.signer, deps.cadence, at=clock.now())
    except SQLAlchemyError:
        # The entries are committed; the next request (or `strongroom ledger
        # checkpoint`) signs them. Never fail a finished request over this.
        log.warning("checkpoint postponed: the database was busy", exc_info=True)


def init_app(app: Flask, settings: Settings, signer: Signer) -> None:
    cadence = Cadence(settings.ledger_checkpoint_entries, settings.ledger_checkpoint_seconds)
    app.extensions[KEY] = LedgerDeps(signer, cadence)
    # Before the request's session is closed (teardowns run in reverse order).
    app.teardown_request(_checkpoint_after_appends)
