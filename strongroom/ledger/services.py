"""``record_event``: the one way anything is written to the audit trail."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from strongroom.ledger.models import AuditEvent
from strongroom.ledger.vocabulary import TAGS
from strongroom.logs import request_id_var

log = logging.getLogger(__name__)

_MAX_DETAIL_TEXT = 256
# Detail keys that must never be written, whoever passes them: the trail is read by
# auditors and exported, and a secret in it could never be taken back.
_FORBIDDEN_DETAIL_KEYS = frozenset(
    {"password", "new_password", "current_password", "token", "secret", "code", "otp"}
)


def record_event(
    db: Session,
    tag: str,
    *,
    actor: str,
    target: str,
    details: Mapping[str, Any] | None = None,
    at: datetime,
) -> AuditEvent:
    """Append an event to the trail inside the caller's transaction (not committed here).

    ``actor`` and ``target`` are references such as ``user:42``, ``anonymous`` or
    ``username:alice``. Raises ``ValueError`` for a tag outside the vocabulary or a
    detail key that names a secret.
    """
    if tag not in TAGS:
        raise ValueError(f"unknown audit tag {tag!r}: add it to strongroom.ledger.vocabulary")
    clean = dict(details or {})
    leaked = _FORBIDDEN_DETAIL_KEYS & {key.lower() for key in clean}
    if leaked:
        raise ValueError(f"audit details must not carry secrets ({', '.join(sorted(leaked))})")
    for key, value in clean.items():
        if isinstance(value, str) and len(value) > _MAX_DETAIL_TEXT:
            clean[key] = value[:_MAX_DETAIL_TEXT]
    event = AuditEvent(
        occurred_at=at,
        tag=tag,
        actor=actor[:128],
        target=target[:128],
        details=clean,
        request_id=request_id_var.get(),
    )
    db.add(event)
    log.info("audit %s", tag, extra={"audit_tag": tag, "actor": event.actor})
    return event
