"""Where backups live: ``ROOT/strongroom-YYYYMMDDTHHMMSSZ[-N]/``, one directory each.

A backup is written under ``ROOT/.incomplete-<name>-<random>/`` and renamed to its
final name only once every file and its manifest are on disk, so a directory with a
final name is always complete; leftovers of an interrupted run keep the temporary
prefix and are removed by ``backup prune``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from strongroom.backup.exceptions import BackupError
from strongroom.backup.manifest import MANIFEST_NAME

PREFIX = "strongroom-"
INCOMPLETE_PREFIX = ".incomplete-"
_NAME = re.compile(r"strongroom-(\d{8}T\d{6}Z)(?:-(\d+))?")
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class BackupDir:
    """A complete backup directory and the time in its name (aware UTC)."""

    path: Path
    taken_at: datetime
    sequence: int

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.taken_at, self.sequence)


def backup_name(at: datetime, sequence: int = 0) -> str:
    stamp = at.astimezone(UTC).strftime(_STAMP)
    return f"{PREFIX}{stamp}" + (f"-{sequence}" if sequence else "")


def parse_name(path: Path) -> BackupDir | None:
    """The backup named by ``path``, or ``None`` for any other name."""
    match = _NAME.fullmatch(path.name)
    if match is None:
        return None
    taken = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
    return BackupDir(path, taken, int(match.group(2) or 0))


def list_backups(root: Path) -> list[BackupDir]:
    """Complete backups in ``root`` (final name and a manifest), newest first."""
    try:
        children = list(root.iterdir())
    except FileNotFoundError as err:
        raise BackupError(f"{root} does not exist") from err
    except NotADirectoryError as err:
        raise BackupError(f"{root} is not a directory") from err
    found = [parse_name(child) for child in children if child.is_dir()]
    complete = [b for b in found if b is not None and (b.path / MANIFEST_NAME).is_file()]
    return sorted(complete, key=lambda b: b.sort_key, reverse=True)


def resolve_backup(path: Path) -> Path:
    """``path`` itself when it holds a manifest, else the newest backup inside it."""
    if (path / MANIFEST_NAME).is_file():
        return path
    backups = list_backups(path)
    if not backups:
        raise BackupError(f"{path} is neither a backup nor a directory holding backups")
    return backups[0].path


def free_name(root: Path, at: datetime) -> str:
    """The final name for a backup taken at ``at`` that no directory in ``root`` has."""
    sequence = 0
    while (root / backup_name(at, sequence)).exists():
        sequence += 1
    return backup_name(at, sequence)
