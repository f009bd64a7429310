"""``backup prune``: keep the newest backup of each of the last N days and M weeks.

Days and ISO weeks are counted in UTC over the days and weeks that *have* a backup
(as restic and borg do), so a gap in the schedule never empties the root. The newest
complete backup is always kept, whatever N and M say. Directories whose manifest does
not read are neither counted nor deleted (they are reported for a person to look at);
leftovers of interrupted runs (``.incomplete-*``) in which nothing changed for a day
are removed (every file and directory inside counts: a long backup writing blobs deep
in its tree is still alive though its top directory no longer changes).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from strongroom.backup.exceptions import ManifestInvalid
from strongroom.backup.layout import INCOMPLETE_PREFIX, BackupDir, list_backups
from strongroom.backup.manifest import load_manifest

STALE_AFTER = timedelta(days=1)


@dataclass
class PrunePlan:
    """What pruning keeps, deletes, skips (unreadable manifests) and cleans up."""

    keep: list[BackupDir] = field(default_factory=list)
    delete: list[BackupDir] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)


def choose(backups: list[BackupDir], *, keep_daily: int, keep_weekly: int) -> set[Path]:
    """The paths to keep among ``backups`` (newest first)."""
    keep = {backups[0].path} if backups else set()
    days: set[object] = set()
    weeks: set[object] = set()
    for backup in backups:
        day = backup.taken_at.date()
        if day not in days and len(days) < keep_daily:
            days.add(day)
            keep.add(backup.path)
        week = backup.taken_at.isocalendar()[:2]
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.add(week)
            keep.add(backup.path)
    return keep


def last_change(path: Path) -> float:
    """The newest modification time of ``path`` and everything below it (links not
    followed)."""
    newest = path.lstat().st_mtime
    for directory, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                newest = max(newest, (Path(directory) / name).lstat().st_mtime)
            except FileNotFoundError:
                continue  # removed while we looked: the writer is alive
    return newest


def plan_prune(root: Path, *, keep_daily: int, keep_weekly: int, now: datetime) -> PrunePlan:
    """Decide, without changing anything."""
    plan = PrunePlan()
    readable = []
    for backup in list_backups(root):
        try:
            load_manifest(backup.path)
        except ManifestInvalid:
            plan.unreadable.append(backup.path)
            continue
        readable.append(backup)
    kept = choose(readable, keep_daily=keep_daily, keep_weekly=keep_weekly)
    for backup in readable:
        (plan.keep if backup.path in kept else plan.delete).append(backup)
    cutoff = (now - STALE_AFTER).timestamp()
    plan.stale = sorted(
        child
        for child in root.iterdir()
        if child.name.startswith(INCOMPLETE_PREFIX)
        and child.is_dir()
        and last_change(child) < cutoff
    )
    return plan


def prune(
    root: Path, *, keep_daily: int, keep_weekly: int, now: datetime | None = None, dry_run: bool
) -> PrunePlan:
    """Apply the plan (unless ``dry_run``) and return it."""
    plan = plan_prune(
        root, keep_daily=keep_daily, keep_weekly=keep_weekly, now=now or datetime.now(UTC)
    )
    if not dry_run:
        for backup in plan.delete:
            shutil.rmtree(backup.path)
        for leftover in plan.stale:
            shutil.rmtree(leftover)
    return plan
