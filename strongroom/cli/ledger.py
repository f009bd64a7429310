"""``strongroom ledger``: verify the log, sign a checkpoint now, make a signing key,
export the log and verify an export offline."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.orm import Session

from strongroom.cli.common import fail, open_database, settings_or_exit
from strongroom.ledger.checkpoints import make_checkpoint
from strongroom.ledger.export import ExportInvalid, ExportReport, export_ledger, verify_export
from strongroom.ledger.keys import load_signer
from strongroom.ledger.note import MAX_NOTE_BYTES, NoteError, Signer, Verifier
from strongroom.ledger.verify import LedgerTampered, verify_ledger
from strongroom.settings import ConfigError, Settings

EXIT_TAMPERED = 1


@click.group("ledger")
def ledger_group() -> None:
    """The verifiable audit ledger."""


@contextmanager
def _ledger_session(*, write: bool = True) -> Iterator[tuple[Session, Settings]]:
    with (
        open_database("cannot open the ledger:") as (database, settings),
        database.session(write=write) as db,
    ):
        yield db, settings


@ledger_group.command("verify")
def verify() -> None:
    """Recompute every leaf, subtree and checkpoint; exit 1 naming the first mismatch."""
    started = time.monotonic()
    with _ledger_session(write=False) as (db, settings):
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


@ledger_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write the log, its checkpoints and public key to DIRECTORY (new or empty)."""
    with _ledger_session(write=False) as (db, settings):
        try:
            verifier_key = load_signer(settings).verifier.encode()
        except ConfigError as err:
            fail("no public key to export:", err.problems)
        try:
            manifest = export_ledger(db, directory, verifier_key)
        except OSError as err:
            fail("cannot export:", [str(err)])
        except LookupError as err:  # stored subtrees missing: the database is damaged
            fail("cannot export:", [f"{err}; run `strongroom ledger verify`"])
    checkpoints = len(list((directory / "checkpoints").iterdir()))
    click.echo(
        f"exported {manifest['size']} entries and {checkpoints} checkpoints of "
        f"{manifest['origin']} to {directory}\nroot {manifest['root']}\n"
        f"signed with {verifier_key} (auditors check it against the key they pinned)"
    )


def _read_bounded(path: Path, limit: int, what: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as err:
        fail(f"cannot read {what}:", [str(err)])
    if len(data) > limit:
        fail(f"cannot read {what}:", [f"{path} is over {limit} bytes"])
    return data


def _pinned_key(value: str) -> Verifier:
    text = value
    if value.startswith("@"):
        raw = _read_bounded(Path(value[1:]), 4096, "the public key")
        text = raw.decode("utf-8", errors="replace")
    try:
        return Verifier.parse(text)
    except NoteError as err:
        fail("the public key is unusable:", [str(err)])


@ledger_group.command("verify-export")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--public-key", "public_key", required=True, metavar="KEY",
    help="The verifier key you pinned (name+id+key), or @FILE holding it.",
)  # fmt: skip
@click.option(
    "--checkpoint", "trusted_file", metavar="FILE",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A signed checkpoint you kept earlier: the export must extend it.",
)  # fmt: skip
def verify_export_command(directory: Path, public_key: str, trusted_file: Path | None) -> None:
    """Check an export offline (no database, no settings); exit 1 at the first mismatch."""
    verifier = _pinned_key(public_key)
    trusted = None
    if trusted_file is not None:
        trusted = _read_bounded(trusted_file, MAX_NOTE_BYTES, "the checkpoint")
    started = time.monotonic()
    try:
        report = verify_export(directory, verifier, trusted)
    except ExportInvalid as err:
        click.echo(f"EXPORT INVALID at {err.where}: {err.what}", err=True)
        raise SystemExit(EXIT_TAMPERED) from err
    click.echo(_summary(report, time.monotonic() - started))


def _summary(report: ExportReport, seconds: float) -> str:
    lines = [
        f"export OK: {report.size} entries ({report.redacted} redacted) of {report.origin}, "
        f"{report.checkpoints} signed checkpoints verified in {seconds:.1f} s",
        f"root {base64.b64encode(report.root).decode('ascii')}",
    ]
    if report.trusted_size is not None:
        lines.append(f"consistent with your checkpoint at size {report.trusted_size}")
    signed = report.signed_size or 0
    if signed < report.size:
        lines.append(
            f"note: entries {signed}..{report.size - 1} are covered by no signed checkpoint "
            "(only by the export's unsigned manifest)"
        )
    return "\n".join(lines)
