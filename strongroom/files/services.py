"""File metadata: list, rename, delete, usage.

Who may touch a file is decided by ``strongroom.sharing.policy.authorize`` before
any of these run; they take the row it returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from strongroom.auth.models import User
from strongroom.crypto.keys import KeyProvider
from strongroom.files.models import StoredFile
from strongroom.files.names import clean_name, name_key
from strongroom.ledger.services import record_event

SortKey = Literal["name", "-name", "created", "-created", "size", "-size"]
_SORT_COLUMNS = {
    "name": StoredFile.name_key,
    "created": StoredFile.created_at,
    "size": StoredFile.size,
}


@dataclass(frozen=True)
class FilePage:
    """One page of a listing and the total number of matching files."""

    items: Sequence[StoredFile]
    total: int


def list_files(
    db: Session,
    *,
    owner_id: int,
    query: str = "",
    sort: SortKey = "-created",
    offset: int = 0,
    limit: int = 50,
) -> FilePage:
    """The owner's files whose name contains ``query`` (case-insensitively), sorted."""
    base = select(StoredFile).where(StoredFile.owner_id == owner_id)
    if query:
        pattern = "%" + _escape_like(name_key(query)) + "%"
        base = base.where(StoredFile.name_key.like(pattern, escape="\\"))
    total = db.scalar(select(func.count()).select_from(base.subquery())) or 0
    column = _SORT_COLUMNS[sort.lstrip("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    # The id breaks ties, so paging is stable when names or times are equal.
    rows = db.scalars(base.order_by(order, StoredFile.id).offset(offset).limit(limit)).all()
    return FilePage(items=rows, total=total)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def rename_file(
    db: Session, found: StoredFile, *, new_name: str, actor: str, at: datetime
) -> StoredFile:
    """Rename ``found`` (locked by the caller, who commits); raises ``InvalidFileName``."""
    name = clean_name(new_name)
    if name == found.name:
        return found
    record_event(
        db,
        "file:rename",
        actor=actor,
        target=found.ref,
        details={"from": found.name, "to": name},
        at=at,
    )
    found.name, found.name_key, found.updated_at = name, name_key(name), at
    db.flush()
    return found


def delete_file(db: Session, found: StoredFile, *, actor: str, at: datetime) -> str:
    """Delete ``found`` (locked by the caller) and ledger it; its grants and share links
    go with it in the same transaction (foreign keys ``ON DELETE CASCADE``). The caller
    commits, then removes the blob, whose key is returned.
    """
    record_event(
        db,
        "file:delete",
        actor=actor,
        target=found.ref,
        details={"name": found.name, "sha256": found.sha256.hex()},
        at=at,
    )
    db.execute(delete(StoredFile).where(StoredFile.id == found.id))
    return found.blob_key


def record_download(
    db: Session, row: StoredFile, *, actor: str, byte_range: tuple[int, int] | None, at: datetime
) -> None:
    """Ledger a read of ``row`` (the caller commits before streaming)."""
    details: dict[str, object] = {"size": row.size}
    if byte_range is not None:
        details["range"] = f"{byte_range[0]}-{byte_range[1]}"
    record_event(db, "file:download", actor=actor, target=row.ref, details=details, at=at)


def storage_overview(db: Session, *, keys: KeyProvider, backend: str) -> dict[str, Any]:
    """Bytes and files per user, files per master key version (for admins)."""
    per_user = db.execute(
        select(User.id, User.username, func.sum(StoredFile.size), func.count(StoredFile.id))
        .join(StoredFile, StoredFile.owner_id == User.id)
        .group_by(User.id, User.username)
        .order_by(func.sum(StoredFile.size).desc())
    ).all()
    users = [
        {"user_id": uid, "username": name, "bytes": int(total), "files": int(count)}
        for uid, name, total, count in per_user
    ]
    return {
        "backend": backend,
        "users": users,
        "total_bytes": sum(u["bytes"] for u in users),
        "total_files": sum(u["files"] for u in users),
        "current_key_version": keys.current_version(),
        "key_versions": files_per_key_version(db),
    }


def files_per_key_version(db: Session) -> list[dict[str, Any]]:
    """``[{"version": "1", "files": 12}, ...]`` in version order."""
    rows = db.execute(
        select(StoredFile.key_version, func.count(StoredFile.id)).group_by(StoredFile.key_version)
    ).all()
    return [
        {"version": v, "files": int(n)} for v, n in sorted(rows, key=lambda r: version_order(r[0]))
    ]


def version_order(version: str) -> tuple[int, str]:
    """Sort key: numeric versions in number order, any others after them."""
    return (int(version), "") if version.isdigit() else (1 << 62, version)
