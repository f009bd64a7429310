"""``strongroom backup``: create, verify, restore and prune backups (docs/operations/backup.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from strongroom.backup.create import Tools, create_backup
from strongroom.backup.exceptions import BackupError
from strongroom.backup.layout import resolve_backup
from strongroom.backup.manifest import Manifest, load_manifest
from strongroom.backup.restore import restore_backup
from strongroom.backup.retention import prune as prune_backups
from strongroom.backup.verify import verify_backup
from strongroom.cli.common import fail, open_database, settings_or_exit
from strongroom.crypto.keys import KeyProvider
from strongroom.db import Database
from strongroom.files.deps import load_keyring, make_store
from strongroom.guard import prepare_settings
from strongroom.ledger.keys import load_signer
from strongroom.ledger.note import NoteError, Verifier
from strongroom.settings import ConfigError, Settings
from strongroom.storage.interfaces import BlobStore, StorageError

EXIT_BAD = 1
_PG_DUMP = click.option(
    "--pg-dump", default="pg_dump", show_default=True, help="The pg_dump program (PostgreSQL)."
)
_PG_RESTORE = click.option(
    "--pg-restore", default="pg_restore", show_default=True, help="The pg_restore program."
)


@click.group("backup")
def backup_group() -> None:
    """Backups of the database, the blobs and the ledger's latest checkpoint.

    Master keys and the ledger signing key are never in a backup: back them up
    separately (docs/operations/keys.md).
    """


def _keys(settings: Settings) -> KeyProvider | None:
    try:
        return load_keyring(settings, create=False)
    except ConfigError:
        return None  # only fingerprints and warnings need them


@backup_group.command("create")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@_PG_DUMP
def create(root: Path, pg_dump: str) -> None:
    """Write a new backup directory strongroom-<UTC time> inside ROOT.

    It is written under a temporary name and renamed when complete.
    """
    with open_database("cannot back up:") as (database, settings):
        try:
            signer = load_signer(settings)
        except ConfigError as err:
            fail("no ledger key to sign the backup's checkpoint with:", err.problems)
        try:
            path, manifest = create_backup(
                root,
                settings=settings,
                database=database,
                store=make_store(settings),
                signer=signer,
                keys=_keys(settings),
                now=datetime.now(UTC),
                tools=Tools(pg_dump=pg_dump),
            )
        except (BackupError, StorageError, SQLAlchemyError, OSError) as err:
            fail("the backup failed (nothing was kept):", [str(err)])
    blobs = manifest.blobs
    verb = "copied" if blobs["mode"] == "copied" else "listed (they stay in S3)"
    click.echo(
        f"backup written to {path}\n"
        f"database ({manifest.database['kind']}) at revision {manifest.schema_revision}; "
        f"{blobs['count']} blobs ({blobs['bytes']} bytes) {verb}; " + _checkpoint(manifest)
    )


def _checkpoint(manifest: Manifest) -> str:
    size = manifest.ledger.get("size")
    return "no checkpoint (empty ledger)" if size is None else f"checkpoint at ledger size {size}"


def _pinned(value: str | None) -> Verifier | None:
    if value is None:
        return None
    try:
        text = Path(value[1:]).read_text("ascii") if value.startswith("@") else value
        return Verifier.parse(text.strip())
    except (OSError, UnicodeDecodeError, NoteError) as err:
        fail("the public key is unusable:", [str(err)])


def _s3_store_for(backup: Path, *, offline: bool) -> BlobStore | None:
    """The configured S3 store when the backup's blobs are listed in S3."""
    try:
        mode = load_manifest(backup).blobs.get("mode")
    except BackupError:
        return None  # verify reports it
    if offline or mode != "s3-listed":
        return None
    settings = settings_or_exit()
    if settings.storage_backend != "s3":
        fail(
            "cannot check the backup's S3 blobs:",
            ["STRONGROOM_STORAGE_BACKEND is not s3; configure the bucket or pass --offline"],
        )
    return make_store(settings)


@backup_group.command("verify")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--public-key", metavar="KEY",
    help="The ledger verifier key you pinned (or @FILE): the backup's must be the same.",
)  # fmt: skip
@click.option("--offline", is_flag=True, help="Do not check the S3 bucket for listed blobs.")
@_PG_RESTORE
def verify(path: Path, public_key: str | None, *, offline: bool, pg_restore: str) -> None:
    """Check a backup (PATH, or the newest inside PATH); exit 1 naming each problem."""
    try:
        backup = resolve_backup(path)
    except BackupError as err:
        fail("nothing to verify:", [str(err)])
    report = verify_backup(
        backup,
        pinned=_pinned(public_key),
        s3_store=_s3_store_for(backup, offline=offline),
        pg_restore=pg_restore,
    )
    for note in report.notes:
        click.echo(f"note: {note}")
    for problem in report.problems:
        click.echo(f"PROBLEM {problem}", err=True)
    if not report.ok:
        click.echo(f"backup {backup} is NOT usable: {len(report.problems)} problems", err=True)
        raise SystemExit(EXIT_BAD)
    manifest = report.manifest
    assert manifest is not None  # noqa: S101  # ok implies a manifest
    click.echo(
        f"backup {backup} OK: {len(manifest.files)} files hashed, database copy sound, "
        f"{manifest.blobs['count']} blobs present, {_checkpoint(manifest)} verified"
    )


@backup_group.command("restore")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_PG_RESTORE
def restore(path: Path, pg_restore: str) -> None:
    """Restore a backup (PATH, or the newest inside PATH) into an empty instance.

    The database and blob store named by the settings must be empty; the master keys
    and ledger signing key must be configured (from your key backup).
    """
    try:
        settings = prepare_settings(settings_or_exit())
        backup = resolve_backup(path)
        signer = load_signer(settings)
    except ConfigError as err:
        fail("cannot restore:", err.problems)
    except BackupError as err:
        fail("nothing to restore:", [str(err)])
    database = Database(settings)
    try:
        report = restore_backup(
            backup,
            settings=settings,
            database=database,
            store=make_store(settings),
            signer=signer,
            keys=_keys(settings),
            tools=Tools(pg_restore=pg_restore),
        )
    except (BackupError, StorageError, SQLAlchemyError, OSError) as err:
        fail("restore failed:", [str(err)])
    finally:
        database.dispose()
    click.echo(
        f"restored {backup}: {report.files} files, {report.blobs} blobs; schema "
        f"{report.revision_before} -> {report.revision_after}\n"
        "next: `strongroom ledger verify` and `strongroom storage verify`"
    )
    for warning in report.warnings:
        click.echo(f"WARNING {warning}", err=True)


@backup_group.command("prune")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--keep-daily", type=click.IntRange(min=0), default=7, show_default=True,
              help="Keep the newest backup of each of the last N days that have one.")  # fmt: skip
@click.option("--keep-weekly", type=click.IntRange(min=0), default=4, show_default=True,
              help="Keep the newest backup of each of the last M ISO weeks.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Say what would go; delete nothing.")
def prune(root: Path, keep_daily: int, keep_weekly: int, *, dry_run: bool) -> None:
    """Delete backups in ROOT beyond the retention policy (the newest always stays)."""
    try:
        plan = prune_backups(root, keep_daily=keep_daily, keep_weekly=keep_weekly, dry_run=dry_run)
    except (BackupError, OSError) as err:
        fail("cannot prune:", [str(err)])
    verb = "would delete" if dry_run else "deleted"
    for backup in plan.delete:
        click.echo(f"{verb} {backup.path.name}")
    for leftover in plan.stale:
        click.echo(f"{verb} interrupted {leftover.name}")
    for path in plan.unreadable:
        click.echo(f"left alone (manifest unreadable): {path.name}", err=True)
    click.echo(f"kept {len(plan.keep)} backups; {verb} {len(plan.delete)}")
