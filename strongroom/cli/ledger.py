"""``strongroom ledger``: verify the log, sign a checkpoint now, make a signing key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from sqlalchemy.orm import Session

from strongroom.app import ensure_schema_current
from strongroom.cli.common import fail, settings_or_exit
from strongroom.db import Database
from strongroom.guard import prepare_settings
from strongroom.ledger.checkpoints import make_checkpoint
from strongroom.ledger.keys import load_signer
from strongroom.ledger.note import Signer
from strongroom.ledger.verify import LedgerTampered, verify_ledger
from strongroom.settings import ConfigError, Settings

EXIT_TAMPERED = 1


@click.group("ledger")
def ledger_group() -> None:
    """The verifiable audit ledger."""


@contextmanager
def _ledger_session() -> Iterator[tuple[Session, Settings]]:
    settings = settings_or_exit()
    try:
        settings = prepare_settings(settings)
        database = Database(settings)
    except ConfigError as err:
        fail("cannot open the ledger:", err.problems)
    try:
        ensure_schema_current(database)
        with database.session() as db:
            yield db, settings
    except ConfigError as err:
        fail("cannot open the ledger:", err.problems)
    finally:
        database.dispose()


@ledger_group.command("verify")
def verify() -> None:
    """Recompute every leaf, subtree and checkpoint; exit 1 naming the first mismatch."""
    started = time.monotonic()
    with _ledger_session() as (db, settings):
        try:
            verifier = load_signer(settings).verifier
        except ConfigError as err:
            fail("no key to check checkpoint signatures with:", err.problems)
        try:
            report = verify_ledger(db, verifier)
        except LedgerTampered as err:
            click.echo(f"LEDGER TAMPERED at {err.where}: {err.what}", err=True)
            raise SystemExit(EXIT_TAMPERED) from err
    click.echo(
        f"ledger OK: {report.entries} entries, {report.nodes} subtrees, "
        f"{report.checkpoints} checkpoints verified ({report.redacted} redacted) "
        f"in {time.monotonic() - started:.1f} s"
    )


@ledger_group.command("checkpoint")
def checkpoint() -> None:
    """Sign and store a checkpoint at the current size now; print it."""
    with _ledger_session() as (db, settings):
        try:
            signer = load_signer(settings)
        except ConfigError as err:
            fail("cannot sign:", err.problems)
        stored = make_checkpoint(db, signer, at=datetime.now(UTC))
        db.commit()
        click.echo(stored.note, nl=False)


@ledger_group.command("keygen")
@click.option("--origin", help="The log's origin (default: from the settings).")
def keygen(origin: str | None) -> None:
    """Print a new signing key (for STRONGROOM_LEDGER_SIGNING_KEY) and its public key."""
    name = origin or settings_or_exit().effective_ledger_origin
    signer = Signer.generate(name)
    click.echo(f"STRONGROOM_LEDGER_SIGNING_KEY={signer.encode()}")
    click.echo(f"# public (verifier) key: {signer.verifier.encode()}", err=True)
