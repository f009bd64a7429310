"""``strongroom keys``: master keys that wrap every file's data key.

``generate`` prints a new key entry; ``status`` shows the versions and how many files
each wraps; ``rotate`` adds a new version (when the keys live in a key file) and
re-wraps every data key under it, without rewriting a single blob.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from strongroom.cli.common import fail, open_database
from strongroom.crypto.exceptions import KeyringError
from strongroom.crypto.keys import add_key_version, generate_key, key_line
from strongroom.files.deps import Keyring, keyring_path, load_keyring
from strongroom.files.rotation import pending, record_new_version, rewrap_all
from strongroom.files.services import files_per_key_version, version_order
from strongroom.settings import ConfigError, Settings, env_name

CLI_ACTOR = "cli:keys"


@click.group("keys")
def keys_group() -> None:
    """Master keys (key-encryption keys) and their rotation."""


@keys_group.command("generate")
@click.option(
    "--version", "version", default="1", show_default=True, help="Version number of the new key."
)
def generate(version: str) -> None:
    """Print a new master key entry for STRONGROOM_MASTER_KEYS or the key file."""
    if not version.isdigit() or int(version) < 1:
        fail("cannot generate:", ["--version must be a positive integer"])
    click.echo(key_line(str(int(version)), generate_key()))
    click.echo(
        "# keep it secret, and back it up apart from the data: without it the files "
        "it wraps cannot be read",
        err=True,
    )


@keys_group.command("status")
def status() -> None:
    """Show each master key version and how many files it wraps."""
    with open_database("cannot read the keys:") as (database, settings):
        keys = _keyring(settings)
        with database.session(write=False) as db:
            counts = {row["version"]: row["files"] for row in files_per_key_version(db)}
    current = keys.current_version()
    source = keyring_path(settings) or env_name("master_keys")
    click.echo(f"master keys from {source}; current version {current}")
    for version in sorted(set(keys.versions()) | set(counts), key=version_order):
        held = "held" if version in keys.versions() else "MISSING"
        mark = " (current)" if version == current else ""
        fingerprint = keys.fingerprint(version) if version in keys.versions() else "-"
        click.echo(
            f"  version {version}{mark}: {counts.get(version, 0)} files, "
            f"key {held}, fingerprint {fingerprint}"
        )
    missing = [v for v in counts if v not in keys.versions()]
    if missing:
        fail("files are wrapped by versions the keyring lacks:", [", ".join(missing)])


@keys_group.command("rotate")
@click.option(
    "--resume", is_flag=True, help="Add no new version; finish re-wrapping under the current one."
)
def rotate(*, resume: bool) -> None:
    """Add a master key version and re-wrap every data key under it (resumable)."""
    with open_database("cannot rotate:") as (database, settings):
        path = keyring_path(settings)
        if not resume:
            if path is None:
                fail(
                    "cannot add a version to STRONGROOM_MASTER_KEYS:",
                    [
                        "add `strongroom keys generate --version N` to it on every server, "
                        "restart them, then run `strongroom keys rotate --resume`"
                    ],
                )
            version = add_key_version(path)
            keys = _keyring(settings)
            record_new_version(
                database,
                version=version,
                fingerprint=keys.fingerprint(version),
                actor=CLI_ACTOR,
                at=datetime.now(UTC),
            )
            click.echo(f"added master key version {version} to {path}")
        keys = _keyring(settings)
        with database.session(write=False) as db:
            todo = pending(db, keys)
        click.echo(f"re-wrapping {todo} data keys under version {keys.current_version()}")
        try:
            report = rewrap_all(
                database,
                keys,
                actor=CLI_ACTOR,
                now=lambda: datetime.now(UTC),
                progress=lambda done: click.echo(f"  {done}/{todo}"),
            )
        except KeyringError as err:
            fail("rotation stopped (run it again with --resume once fixed):", [str(err)])
    click.echo(f"done: {report.rewrapped} data keys now under version {report.version}")


def _keyring(settings: Settings) -> Keyring:
    try:
        return load_keyring(settings, create=False)
    except ConfigError as err:
        fail("the master keys cannot be used:", err.problems)
