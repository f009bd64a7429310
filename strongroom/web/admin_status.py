"""The admin status page: readiness of the database, blob store and Redis (the same
checks as ``/readyz``), storage use (as ``/api/v1/admin/storage``), the ledger's size
and last checkpoint, and the recent security events, a page at a time."""

from __future__ import annotations

from datetime import timedelta

from flask import Response

from strongroom.admin import monitoring
from strongroom.auth.authn import get_deps
from strongroom.auth.policy import admin_required
from strongroom.context import db_session, get_database, get_settings
from strongroom.files import services as file_services
from strongroom.files.deps import get_file_deps
from strongroom.ledger.vocabulary import TAGS
from strongroom.ops.services import Readiness, check_everything
from strongroom.web.blueprint import bp, int_arg, page

EVENTS_PER_PAGE = 25
# Readiness check names as people read them.
CHECK_NAMES = {
    "database": "Database",
    "migrations": "Database schema",
    "data_dir": "Data directory",
    "blob_store": "Blob store",
    "redis": "Redis (rate limits)",
}


def age_words(age: timedelta) -> str:
    """How long ago, roughly: "just now", "5 minutes ago", "3 hours ago", "2 days ago"."""
    seconds = int(age.total_seconds())
    for size, unit in ((86_400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def _readiness() -> Readiness:
    settings = get_settings()
    return check_everything(
        get_database().engine, data_dir=settings.data_dir, store=get_file_deps().store,
        redis_url=settings.redis_url,
    )  # fmt: skip


@bp.get("/admin/status")
@admin_required("web:admin:status", tokens=False)
def admin_status() -> Response:
    db = db_session()
    store = get_file_deps().store
    number = int_arg("page", 1, high=100_000)
    events = monitoring.security_events(db, page=number, per_page=EVENTS_PER_PAGE)
    ledger = monitoring.ledger_status(db, now=get_deps().now())
    return page(
        "admin_status.html",
        readiness=_readiness(),
        check_names=CHECK_NAMES,
        storage=file_services.storage_overview(db, keys=get_file_deps().keys, backend=store.name),
        ledger=ledger,
        checkpoint_age=age_words(ledger.checkpoint_age) if ledger.checkpoint_age else "",
        events=events.events,
        total=events.total,
        names=monitoring.usernames(db, events.events),
        tags=TAGS,
        page=number,
        pages=max(1, -(-events.total // EVENTS_PER_PAGE)),
    )
