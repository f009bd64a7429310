"""``strongroom maintenance run``: purge what is over, collect blobs, sign a checkpoint.

Made for cron and systemd timers: silent when all went well (``--verbose`` prints the
one-line summary), the summary and each failed step on stderr otherwise, ``--json``
for machines; exit status 0 (done, or skipped because another run holds the lock),
1 (a step failed), 2 (settings or database unusable, as for every command).
"""

from __future__ import annotations

import json

import click
from sqlalchemy.exc import SQLAlchemyError

from strongroom.cli.common import fail, open_database
from strongroom.clock import SystemClock
from strongroom.ops.maintenance import Maintenance

EXIT_STEP_FAILED = 1


@click.group("maintenance")
def maintenance_group() -> None:
    """Periodic upkeep (run it from cron or the systemd timer in deploy/)."""


@maintenance_group.command("run")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for a concurrent run (another host, say) to finish before "
    "skipping; by default a run that finds the lock taken skips at once.",
)
@click.option("-v", "--verbose", is_flag=True, help="Print the summary line on success too.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def run(wait: float, *, verbose: bool, as_json: bool) -> None:
    """Purge ended sessions, sign-in challenges, invitations, tokens, grants and share
    links; remove unreferenced blobs; sign a checkpoint when the ledger grew.

    Idempotent, and safe to start on several hosts at once: one run works, the others
    skip. Exits 1 when a step failed (the other steps still ran).
    """
    with open_database("cannot run maintenance:") as (database, settings):
        job = Maintenance(database, settings, clock=SystemClock())
        try:
            report = job.run(wait=wait)
        except SQLAlchemyError as err:
            fail("cannot take the maintenance lock:", [f"database error ({type(err).__name__})"])
        except OSError as err:  # the SQLite lock file
            fail("cannot take the maintenance lock:", [f"{err.strerror}: {err.filename}"])
    if as_json:
        click.echo(json.dumps(report.as_dict(), sort_keys=True))
    elif report.status == "failed":
        click.echo(report.summary(), err=True)
        for step in report.failed:
            click.echo(f"  - {step.name}: {step.error}", err=True)
    elif verbose:
        click.echo(report.summary())
    if report.status == "failed":
        raise SystemExit(EXIT_STEP_FAILED)
