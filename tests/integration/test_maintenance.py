"""``strongroom maintenance run``: what is purged and what is kept, blobs collected
after their grace period, a checkpoint signed when the log grew, idempotence, a failing
step that does not stop the others, and the command's output and exit codes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from click.testing import CliRunner
from sqlalchemy import select

from strongroom.cli import main
from strongroom.context import get_database
from strongroom.ledger.keys import load_signer
from strongroom.ledger.models import LedgerEntry
from strongroom.ledger.verify import verify_ledger
from strongroom.ops.maintenance_purge import PURGE_TAG
from strongroom.settings import Settings
from strongroom.storage.interfaces import BlobStore, StorageUnavailable
from tests.auth_helpers import FakeClock, new_account, sign_in
from tests.conftest import AppFactory, migrate
from tests.files_helpers import blob_keys, download, file_deps, upload
from tests.integration.maintenance_helpers import (
    MODELS,
    RETENTION_DAYS,
    build_world,
    checkpoint_sizes,
    ids_of,
    ledger_size,
    ledger_tags,
    maintenance,
)

LEDGERED = ("invites", "access_tokens", "grants", "share_links")
S3_FIELDS = ("storage_backend", "s3_bucket", "s3_prefix", "s3_endpoint_url", "s3_region")


@pytest.fixture
def fresh_app(make_app: AppFactory, fresh_database_url: str) -> APIFlask:
    """An app on a database of its own, so every count below is exact."""
    migrate(fresh_database_url)
    return make_app(
        database_url=fresh_database_url, maintenance_retention_days=RETENTION_DAYS,
        storage_gc_grace_seconds=3600,
    )  # fmt: skip


def purge_entries(app: APIFlask) -> list[dict[str, Any]]:
    with app.app_context(), get_database().session(write=False) as db:
        rows = db.execute(
            select(LedgerEntry.target, LedgerEntry.actor, LedgerEntry.details)
            .where(LedgerEntry.tag == PURGE_TAG)
            .order_by(LedgerEntry.index)
        ).all()
    return [{"target": t, "actor": a, **d} for t, a, d in rows]


def test_purges_what_is_over_and_keeps_the_rest(fresh_app: APIFlask) -> None:
    clock = FakeClock(datetime.now(UTC))
    world = build_world(fresh_app, clock.now())
    report = maintenance(fresh_app, clock).run()
    assert report.status == "ok", report.as_dict()
    counts = {step.name: step.count for step in report.steps}
    for kind in MODELS:
        remaining = ids_of(fresh_app, kind)
        assert not world.gone[kind] & remaining, f"{kind}: over but kept"
        assert world.kept[kind] <= remaining, f"{kind}: purged too early"
        assert counts[kind] == len(world.gone[kind])
    # Rows people could still see are ledgered, by id; expired credentials are not.
    entries = purge_entries(fresh_app)
    by_table = {e["target"].removeprefix("table:"): e for e in entries}
    assert set(by_table) == {MODELS[kind].__tablename__ for kind in LEDGERED}
    for kind in LEDGERED:
        entry = by_table[MODELS[kind].__tablename__]
        assert set(entry["ids"]) == world.gone[kind]
        assert entry["count"] == len(world.gone[kind])
        assert entry["actor"] == "system:maintenance"
    # The run's own entries are covered by the checkpoint it signed last.
    assert checkpoint_sizes(fresh_app)[-1] == ledger_size(fresh_app)
    assert report.steps[-1].count == 1


def test_a_second_run_does_nothing(fresh_app: APIFlask) -> None:
    clock = FakeClock(datetime.now(UTC))
    build_world(fresh_app, clock.now())
    first = maintenance(fresh_app, clock).run()
    assert first.status == "ok"
    tags, checkpoints = ledger_tags(fresh_app), checkpoint_sizes(fresh_app)
    second = maintenance(fresh_app, clock).run()
    assert second.status == "ok"
    assert [step.count for step in second.steps] == [0] * len(second.steps)
    assert ledger_tags(fresh_app) == tags  # no purge entry, no gc entry
    assert checkpoint_sizes(fresh_app) == checkpoints  # no second checkpoint
    with fresh_app.app_context(), get_database().session(write=False) as db:
        settings = fresh_app.extensions["strongroom.settings"]
        report = verify_ledger(db, load_signer(settings).verifier)
    assert report.entries == ledger_size(fresh_app)


def test_expired_shares_stay_listed_until_the_retention_window_ends(
    fresh_app: APIFlask,
) -> None:
    """What the owner's pages mark as expired is still there after a run, and goes
    once it has been over for ``maintenance_retention_days``."""
    clock = FakeClock(datetime.now(UTC))
    client = fresh_app.test_client()
    alice, bob = new_account(client, "own"), new_account(client, "rec")
    file_id = upload(client, alice, b"shared")["id"]
    expires = (clock.now() + timedelta(days=1)).isoformat()
    for path, body in (("grants", {"username": bob.username}), ("links", {})):
        made = client.post(
            f"/api/v1/files/{file_id}/{path}", json={**body, "expires_at": expires},
            headers=alice.bearer,
        )  # fmt: skip
        assert made.status_code == 201, made.get_json()

    def listed(path: str) -> int:
        owner = sign_in(client, alice.username)  # the run ended the old session (clock)
        response = client.get(f"/api/v1/files/{file_id}/{path}", headers=owner.bearer)
        return len(response.get_json()["items"])

    clock.advance(days=RETENTION_DAYS)  # expired RETENTION_DAYS - 1 days ago
    assert maintenance(fresh_app, clock).run().status == "ok"
    assert (listed("grants"), listed("links")) == (1, 1)
    clock.advance(days=2)
    assert maintenance(fresh_app, clock).run().status == "ok"
    assert (listed("grants"), listed("links")) == (0, 0)


def _orphan(store: BlobStore, key: str) -> datetime:
    with store.create(key) as writer:
        writer.write(b"left by a crash between blob and row")
        writer.commit()
    (info,) = [i for i in store.list() if i.key == key]
    return info.modified


def test_collects_old_orphan_blobs_and_keeps_young_ones(fresh_app: APIFlask) -> None:
    client = fresh_app.test_client()
    alice = new_account(client, "gc")
    kept = upload(client, alice, b"referenced")
    store = file_deps(fresh_app).store
    old = _orphan(store, "orphan" + "o" * 26)
    time.sleep(1.2)  # S3 keeps modification times to the second
    young = _orphan(store, "orphan" + "y" * 26)
    # "now" is one grace period after the moment between the two orphans.
    grace = timedelta(seconds=fresh_app.extensions["strongroom.settings"].storage_gc_grace_seconds)
    clock = FakeClock(old + (young - old) / 2 + grace)
    report = maintenance(fresh_app, clock).run()
    blobs = report.steps[-2]
    assert (blobs.name, blobs.ok, blobs.count) == ("blobs", True, 1)
    keys = blob_keys(fresh_app)
    assert "orphan" + "o" * 26 not in keys
    assert "orphan" + "y" * 26 in keys
    assert ledger_tags(fresh_app)[-1] == "storage:gc"
    again = sign_in(client, alice.username)  # the clock moved past the old session
    assert download(client, again, kept["id"]).get_data() == b"referenced"


def test_a_failing_step_is_reported_and_the_others_still_run(fresh_app: APIFlask) -> None:
    clock = FakeClock(datetime.now(UTC))
    world = build_world(fresh_app, clock.now())

    def broken_store(_settings: Settings) -> BlobStore:
        raise StorageUnavailable("the S3 blob store failed (list: EndpointConnectionError)")

    report = maintenance(fresh_app, clock, store_factory=broken_store).run()
    assert report.status == "failed"
    assert [step.name for step in report.failed] == ["blobs"]
    assert "EndpointConnectionError" in (report.failed[0].error or "")
    assert "blobs FAILED" in report.summary()
    assert not world.gone["grants"] & ids_of(fresh_app, "grants")  # purged all the same
    assert checkpoint_sizes(fresh_app)[-1] == ledger_size(fresh_app)  # and signed


# --- the command ----------------------------------------------------------------------


def cli_env(app: APIFlask, tmp_path: Path, **extra: str) -> dict[str, str]:
    settings = app.extensions["strongroom.settings"]
    env = {
        "STRONGROOM_MODE": "testing",
        "STRONGROOM_DATABASE_URL": settings.database_url,
        "STRONGROOM_DATA_DIR": str(settings.data_dir),
        "STRONGROOM_MAINTENANCE_RETENTION_DAYS": str(RETENTION_DAYS),
    }
    if settings.storage_backend == "s3":
        env.update(
            {f"STRONGROOM_{name.upper()}": str(getattr(settings, name)) for name in S3_FIELDS}
        )
        env["STRONGROOM_S3_ACCESS_KEY_ID"] = settings.s3_access_key_id
        env["STRONGROOM_S3_SECRET_ACCESS_KEY"] = settings.s3_secret_access_key.get_secret_value()
    return {**env, **extra}


def test_cli_is_quiet_on_success_and_says_what_it_did_when_asked(
    fresh_app: APIFlask, tmp_path: Path
) -> None:
    world = build_world(fresh_app, datetime.now(UTC))
    env = cli_env(fresh_app, tmp_path)
    quiet = CliRunner().invoke(main, ["maintenance", "run"], env=env)
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == ""
    assert not world.gone["sessions"] & ids_of(fresh_app, "sessions")
    verbose = CliRunner().invoke(main, ["maintenance", "run", "--verbose"], env=env)
    assert verbose.exit_code == 0
    (line,) = verbose.stdout.splitlines()
    assert line.startswith("maintenance done in ")
    assert "0 sessions" in line
    assert "no new checkpoint" in line
    as_json = CliRunner().invoke(main, ["maintenance", "run", "--json"], env=env)
    report = json.loads(as_json.stdout)
    assert report["status"] == "ok"
    assert [s["name"] for s in report["steps"]] == [*MODELS, "blobs", "checkpoint"]
    assert all(s["ok"] and s["count"] == 0 for s in report["steps"])


def test_cli_exits_1_naming_the_failed_step(fresh_app: APIFlask, tmp_path: Path) -> None:
    build_world(fresh_app, datetime.now(UTC))
    env = cli_env(
        fresh_app, tmp_path, STRONGROOM_STORAGE_BACKEND="s3", STRONGROOM_S3_BUCKET="gone",
        STRONGROOM_S3_ENDPOINT_URL="http://127.0.0.1:9", STRONGROOM_S3_MAX_ATTEMPTS="1",
        STRONGROOM_S3_ACCESS_KEY_ID="test", STRONGROOM_S3_SECRET_ACCESS_KEY="sekrit-value",
        STRONGROOM_S3_REGION="us-east-1",
    )  # fmt: skip
    result = CliRunner().invoke(main, ["maintenance", "run"], env=env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "maintenance failed in" in result.stderr
    assert "  - blobs: blob store error: the S3 blob store failed" in result.stderr
    assert "sekrit" not in result.stderr
    assert PURGE_TAG in ledger_tags(fresh_app)  # the purges ran before it
    as_json = CliRunner().invoke(main, ["maintenance", "run", "--json"], env=env)
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["status"] == "failed"


def test_cli_refuses_bad_settings_with_exit_2(tmp_path: Path) -> None:
    env = {"STRONGROOM_MAINTENANCE_RETENTION_DAYS": "-1", "STRONGROOM_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["maintenance", "run"], env=env)
    assert result.exit_code == 2
    assert "STRONGROOM_MAINTENANCE_RETENTION_DAYS" in result.stderr


def test_cli_exits_2_when_the_lock_file_cannot_be_opened(tmp_path: Path) -> None:
    database = tmp_path / "strongroom.db"
    migrate(f"sqlite:///{database}")
    (tmp_path / "strongroom.db-maintenance.lock").mkdir()  # in the way of the lock file
    env = {"STRONGROOM_DATABASE_URL": f"sqlite:///{database}", "STRONGROOM_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["maintenance", "run"], env=env)
    assert result.exit_code == 2
    assert "cannot take the maintenance lock:" in result.stderr
    assert "strongroom.db-maintenance.lock" in result.stderr
