"""The ``strongroom`` command: serve, migrate and inspect configuration."""

from __future__ import annotations

import click

from strongroom import __version__
from strongroom.cli.backup import backup_group
from strongroom.cli.config import config_group
from strongroom.cli.db import db_group
from strongroom.cli.keys import keys_group
from strongroom.cli.ledger import ledger_group
from strongroom.cli.maintenance import maintenance_group
from strongroom.cli.serve import serve
from strongroom.cli.storage import storage_group
from strongroom.cli.users import users_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="strongroom")
def main() -> None:
    """Strongroom: self-hosted secure file sharing.

    Settings come from STRONGROOM_* environment variables and an optional .env file
    in the working directory (see docs/configuration.md or `strongroom config docs`).
    """


main.add_command(serve)
main.add_command(db_group)
main.add_command(config_group)
main.add_command(users_group)
main.add_command(ledger_group)
main.add_command(keys_group)
main.add_command(storage_group)
main.add_command(backup_group)
main.add_command(maintenance_group)
