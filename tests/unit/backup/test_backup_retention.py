"""Retention (``backup prune``): the newest backup of each of the last N days and M ISO
weeks that have one, the newest always, unreadable ones left alone, interrupted ones
swept after a day; timestamps come from the directory names, so no clock is faked."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from strongroom.backup.layout import backup_name, list_backups, parse_name, resolve_backup
from strongroom.backup.manifest import FORMAT, MANIFEST_NAME, VERSION
from strongroom.backup.retention import choose, prune
from strongroom.cli import main

NOW = datetime(2026, 11, 29, 3, 30, tzinfo=UTC)  # a Sunday


def make(root: Path, at: datetime, sequence: int = 0, *, manifest: bool = True) -> Path:
    path = root / backup_name(at, sequence)
    path.mkdir(parents=True)
    if manifest:
        body = {"format": FORMAT, "version": VERSION, "schema_revision": "0005",
                "database": {}, "blobs": {}, "ledger": {}, "files": []}  # fmt: skip
        (path / MANIFEST_NAME).write_text(json.dumps(body))
    return path


def names(paths: list[Path] | set[Path]) -> list[str]:
    return sorted(p.name for p in paths)


def test_names_round_trip_and_sort_newest_first(tmp_path: Path) -> None:
    a = make(tmp_path, NOW - timedelta(days=1))
    b = make(tmp_path, NOW)
    c = make(tmp_path, NOW, 1)
    (tmp_path / "not-a-backup").mkdir()
    make(tmp_path, NOW - timedelta(days=3), manifest=False)  # incomplete: no manifest
    assert [x.path for x in list_backups(tmp_path)] == [c, b, a]
    parsed = parse_name(c)
    assert parsed is not None
    assert parsed.taken_at == NOW.replace(second=0)
    assert resolve_backup(tmp_path) == c
    assert resolve_backup(a) == a


def test_nightly_backups_for_ten_weeks(tmp_path: Path) -> None:
    nightly = [make(tmp_path, NOW - timedelta(days=d)) for d in range(70)]
    keep = choose(list_backups(tmp_path), keep_daily=7, keep_weekly=4)
    # The last 7 days, plus the newest of each of the 4 most recent ISO weeks: this
    # week's newest is today's; the 3 weeks before end on Sundays 7, 14, 21 days ago.
    expected = {nightly[d] for d in range(7)} | {nightly[7], nightly[14], nightly[21]}
    assert keep == expected


def test_several_a_day_keep_the_newest_of_the_day(tmp_path: Path) -> None:
    early = make(tmp_path, NOW - timedelta(hours=3))
    late = make(tmp_path, NOW)
    yesterday = make(tmp_path, NOW - timedelta(days=1))
    keep = choose(list_backups(tmp_path), keep_daily=2, keep_weekly=0)
    assert keep == {late, yesterday}
    assert early not in keep


def test_gaps_do_not_empty_the_root(tmp_path: Path) -> None:
    old = make(tmp_path, NOW - timedelta(days=100))
    older = make(tmp_path, NOW - timedelta(days=200))
    assert choose(list_backups(tmp_path), keep_daily=1, keep_weekly=0) == {old}
    assert choose(list_backups(tmp_path), keep_daily=0, keep_weekly=0) == {old}
    assert choose(list_backups(tmp_path), keep_daily=3, keep_weekly=0) == {old, older}


def test_prune_deletes_what_the_policy_drops_and_sweeps_old_leftovers(tmp_path: Path) -> None:
    kept = [make(tmp_path, NOW - timedelta(days=d)) for d in range(3)]
    dropped = [make(tmp_path, NOW - timedelta(days=d)) for d in range(3, 6)]
    unreadable = make(tmp_path, NOW - timedelta(days=9), manifest=False)
    (unreadable / MANIFEST_NAME).write_text("{not json")
    fresh_leftover = tmp_path / ".incomplete-strongroom-x-1"
    stale_leftover = tmp_path / ".incomplete-strongroom-y-2"
    fresh_leftover.mkdir()
    stale_leftover.mkdir()
    two_days_ago = (NOW - timedelta(days=2)).timestamp()
    os.utime(stale_leftover, (two_days_ago, two_days_ago))

    plan = prune(tmp_path, keep_daily=3, keep_weekly=0, now=NOW, dry_run=True)
    assert names([b.path for b in plan.delete]) == names(dropped)
    assert plan.stale == [stale_leftover]
    assert all(p.exists() for p in [*dropped, stale_leftover])  # a dry run changes nothing

    plan = prune(tmp_path, keep_daily=3, keep_weekly=0, now=NOW, dry_run=False)
    assert all(p.exists() for p in kept)
    assert not any(p.exists() for p in dropped)
    assert plan.unreadable == [unreadable]
    assert unreadable.exists()  # not ours to judge: a person looks at it
    assert fresh_leftover.exists()  # may be a backup being written right now
    assert not stale_leftover.exists()


@pytest.mark.parametrize("dry_run", [True, False])
def test_prune_command(tmp_path: Path, dry_run: bool) -> None:
    now = datetime.now(UTC)
    backups = [make(tmp_path, now - timedelta(days=d)) for d in range(4)]
    args = ["backup", "prune", str(tmp_path), "--keep-daily", "2", "--keep-weekly", "0"]
    result = CliRunner().invoke(main, args + (["--dry-run"] if dry_run else []))
    assert result.exit_code == 0, result.output
    verb = "would delete" if dry_run else "deleted"
    assert f"{verb} {backups[2].name}" in result.output
    assert f"kept 2 backups; {verb} 2" in result.output
    assert backups[3].exists() is dry_run
    assert backups[0].exists()


def test_prune_of_a_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["backup", "prune", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_a_long_backup_still_writing_deep_in_its_tree_is_not_swept(tmp_path: Path) -> None:
    leftover = tmp_path / ".incomplete-strongroom-z-3"
    deep = leftover / "blobs" / "ab"
    deep.mkdir(parents=True)
    (deep / "abcdefabcdefabcdef").write_bytes(b"being copied")  # written "now"
    two_days_ago = (NOW - timedelta(days=2)).timestamp()
    for directory in (deep, deep.parent, leftover):  # no new entry up there for days
        os.utime(directory, (two_days_ago, two_days_ago))
    plan = prune(tmp_path, keep_daily=1, keep_weekly=0, now=NOW, dry_run=False)
    assert plan.stale == []
    assert leftover.exists()
    os.utime(deep / "abcdefabcdefabcdef", (two_days_ago, two_days_ago))
    plan = prune(tmp_path, keep_daily=1, keep_weekly=0, now=NOW, dry_run=False)
    assert plan.stale == [leftover]  # nothing changed for a day anywhere inside: swept
    assert not leftover.exists()
