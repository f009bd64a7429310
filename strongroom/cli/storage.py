"""``strongroom storage``: collect unreferenced blobs and scrub every stored file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from strongroom.cli.common import fail, open_database
from strongroom.files.deps import load_keyring, make_store
from strongroom.files.maintenance import collect_garbage, scrub
from strongroom.settings import ConfigError
from strongroom.storage.interfaces import StorageError

EXIT_DAMAGED = 1


@click.group("storage")
def storage_group() -> None:
    """The blob store: garbage collection and verification."""


@storage_group.command("gc")
@click.option(
    "--grace",
    type=click.IntRange(min=60),
    default=None,
    help="Seconds a blob must be old (default: STRONGROOM_STORAGE_GC_GRACE_SECONDS).",
)
@click.option("--dry-run", is_flag=True, help="Count what would go; remove nothing.")
def gc(grace: int | None, *, dry_run: bool) -> None:
    """Remove blobs no file refers to, and interrupted uploads, after a grace period."""
    with open_database("cannot collect:") as (database, settings):
        seconds = grace if grace is not None else settings.storage_gc_grace_seconds
        store = make_store(settings)
        try:
            with database.session() as db:
                report = collect_garbage(
                    db,
                    store,
                    grace=timedelta(seconds=seconds),
                    now=datetime.now(UTC),
                    dry_run=dry_run,
                )
        except StorageError as err:
            fail("the blob store failed:", [str(err)])
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"examined {report.examined} blobs older than {seconds} s; {verb} "
        f"{report.removed} unreferenced; {report.incomplete} interrupted uploads cleaned"
    )


@storage_group.command("verify")
def verify() -> None:
    """Re-read, decrypt and hash every file; compare with its row and the ledger.

    Changes nothing. Exits 1 listing each damaged or missing file.
    """
    with open_database("cannot verify:") as (database, settings):
        try:
            keys = load_keyring(settings, create=False)
        except ConfigError as err:
            fail("the master keys cannot be used:", err.problems)
        store = make_store(settings)
        try:
            with database.session(write=False) as db:
                report = scrub(db, store, keys)
        except StorageError as err:
            fail("the blob store failed:", [str(err)])
    for problem in report.problems:
        click.echo(f"DAMAGED {problem}", err=True)
    click.echo(
        f"checked {report.files} files ({report.bytes} bytes): {len(report.problems)} damaged"
    )
    if not report.ok:
        raise SystemExit(EXIT_DAMAGED)
