"""Several maintenance runs at once (threads here, processes below, as from several
hosts): one works, a concurrent one skips or waits its turn and then finds nothing;
never a second checkpoint, a doubled purge entry or a failed run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask

from strongroom.context import get_settings
from strongroom.db import Database
from strongroom.files.deps import make_store
from strongroom.ops.maintenance import Maintenance, MaintenanceReport
from strongroom.ops.maintenance_lock import maintenance_lock
from strongroom.ops.maintenance_purge import PURGE_TAG
from strongroom.settings import Settings
from strongroom.storage.interfaces import BlobStore
from tests.auth_helpers import FakeClock
from tests.integration.maintenance_helpers import build_world, checkpoint_sizes, ledger_tags
from tests.integration.test_maintenance import cli_env, fresh_app

__all__ = ["fresh_app"]  # the fixture, shared with the main maintenance tests
BIN = Path(sys.executable).parent / "strongroom"


@pytest.fixture
def databases(fresh_app: APIFlask) -> Iterator[list[Database]]:
    """Two engines on the app's database, as two hosts would have."""
    with fresh_app.app_context():
        settings = get_settings()
    made = [Database(settings), Database(settings)]
    yield made
    for database in made:
        database.dispose()


def job(app: APIFlask, database: Database, clock: FakeClock, **kwargs: Any) -> Maintenance:
    with app.app_context():
        return Maintenance(database, get_settings(), clock=clock, **kwargs)


def test_a_run_skips_while_another_holds_the_lock_or_waits_its_turn(
    fresh_app: APIFlask, databases: list[Database]
) -> None:
    clock = FakeClock(datetime.now(UTC))
    build_world(fresh_app, clock.now())
    before = len(checkpoint_sizes(fresh_app))  # the app signs one after its first append
    inside, release = threading.Event(), threading.Event()

    def slow_store(settings: Settings) -> BlobStore:
        inside.set()  # the first run is between its purges and its checkpoint
        assert release.wait(30)
        return make_store(settings)

    reports: dict[str, MaintenanceReport] = {}

    def run(name: str, database: Database, wait: float, **kwargs: Any) -> None:
        reports[name] = job(fresh_app, database, clock, **kwargs).run(wait=wait)

    first = threading.Thread(target=run, args=("first", databases[0], 0), kwargs={
        "store_factory": slow_store})  # fmt: skip
    first.start()
    assert inside.wait(30)
    run("skipper", databases[1], 0)
    assert reports["skipper"].status == "skipped"
    assert reports["skipper"].summary().startswith("maintenance skipped")
    waiter = threading.Thread(target=run, args=("waiter", databases[1], 30))
    waiter.start()
    release.set()
    first.join(30)
    waiter.join(30)
    assert reports["first"].status == "ok"
    assert reports["waiter"].status == "ok"
    assert all(step.count == 0 for step in reports["waiter"].steps)
    assert len(checkpoint_sizes(fresh_app)) == before + 1
    assert ledger_tags(fresh_app).count(PURGE_TAG) == 4  # one batch per ledgered kind


def test_the_lock_is_per_database(fresh_app: APIFlask, databases: list[Database]) -> None:
    """Held on one engine it stops the other; released, it can be taken again."""
    with maintenance_lock(databases[0].engine) as held:
        assert held
        with maintenance_lock(databases[1].engine, wait=0.3) as other:
            assert not other
    with maintenance_lock(databases[1].engine) as again:
        assert again


@pytest.mark.slow
def test_two_processes_at_once(fresh_app: APIFlask, tmp_path: Path) -> None:
    """Two `strongroom maintenance run` processes started together, as cron on two
    hosts would: both succeed, the work is done once."""
    world = build_world(fresh_app, datetime.now(UTC))
    before = len(checkpoint_sizes(fresh_app))
    base = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env = {**base, **cli_env(fresh_app, tmp_path)}
    command = [str(BIN), "maintenance", "run", "--json", "--wait", "60"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outcomes = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], [err for _, err in outcomes]
    reports = [json.loads(out) for out, _ in outcomes]
    assert {r["status"] for r in reports} == {"ok"}
    grants = sorted(
        step["count"] for r in reports for step in r["steps"] if step["name"] == "grants"
    )
    assert grants == [0, len(world.gone["grants"])]  # one run purged, the other found none
    assert len(checkpoint_sizes(fresh_app)) == before + 1
    assert ledger_tags(fresh_app).count(PURGE_TAG) == 4
