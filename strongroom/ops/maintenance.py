"""``strongroom maintenance run``: the periodic upkeep of one Strongroom database.

In order: purge rows that are over (``maintenance_purge``), collect blobs no file
refers to (``files.maintenance.collect_garbage``, with its grace period), then sign a
checkpoint when the ledger has entries no checkpoint covers yet, so the run's own
entries are covered too and an idle instance still gets its history signed.

Each step runs in transactions of its own: a failing step is reported and the steps
after it still run. The whole run holds the maintenance lock (``maintenance_lock``):
a concurrent run, from this host or another, skips (or waits ``wait`` seconds
first) instead of repeating the work. A second run finds nothing to do: purges and
collection find nothing, and the checkpoint step signs only when the log grew.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError

from strongroom.clock import Clock
from strongroom.db import Database
from strongroom.files.deps import make_store
from strongroom.files.maintenance import collect_garbage
from strongroom.ledger.checkpoints import latest_checkpoint, store_checkpoint
from strongroom.ledger.keys import load_signer
from strongroom.ledger.note import Signer
from strongroom.ledger.proofs import current_size
from strongroom.ops.maintenance_lock import maintenance_lock
from strongroom.ops.maintenance_purge import BATCH, PURGES, Purge, cutoffs, purge_batch
from strongroom.settings import ConfigError, Settings
from strongroom.storage.interfaces import BlobStore, StorageError

log = logging.getLogger(__name__)

Status = Literal["ok", "failed", "skipped"]


@dataclass
class StepResult:
    """One step: ``count`` rows or blobs removed (or the checkpoint size signed)."""

    name: str
    ok: bool = True
    count: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class MaintenanceReport:
    status: Status
    steps: list[StepResult]
    seconds: float

    @property
    def failed(self) -> list[StepResult]:
        return [step for step in self.steps if not step.ok]

    def summary(self) -> str:
        """One line for a cron mail or a log."""
        if self.status == "skipped":
            return "maintenance skipped: another run holds the maintenance lock"
        parts = []
        for step in self.steps:
            if not step.ok:
                parts.append(f"{step.name} FAILED")
            elif step.name == "checkpoint":
                size = step.details.get("size")
                parts.append(f"checkpoint at {size} signed" if step.count else "no new checkpoint")
            elif step.name == "blobs":
                parts.append(
                    f"{step.count} blobs, {step.details.get('incomplete', 0)} interrupted uploads"
                )
            else:
                parts.append(f"{step.count} {step.name}")
        verb = "failed" if self.status == "failed" else "done"
        return f"maintenance {verb} in {self.seconds:.1f} s: " + ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "steps": [
                {"name": s.name, "ok": s.ok, "count": s.count, "error": s.error, **s.details}
                for s in self.steps
            ],
        }


def describe_error(err: Exception) -> str:
    """A sentence about a failed step that carries no secret: database errors by class
    only (their text can hold statement parameters or connection URLs)."""
    if isinstance(err, ConfigError):
        return "; ".join(err.problems)
    if isinstance(err, SQLAlchemyError):
        return f"database error ({type(err).__name__})"
    if isinstance(err, StorageError):
        return f"blob store error: {err}"
    return f"{type(err).__name__}: {str(err)[:200]}"


def _step(name: str, work: Callable[[StepResult], None]) -> StepResult:
    result = StepResult(name)
    try:
        work(result)
    except Exception as err:  # noqa: BLE001  # reported as the step's failure, run goes on
        result.ok = False
        result.error = describe_error(err)
        log.info("maintenance step %s failed: %s", name, result.error)
    return result


class Maintenance:
    """The steps of one run, over one database; the dependencies are swappable."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        clock: Clock,
        store_factory: Callable[[Settings], BlobStore] = make_store,
        signer_factory: Callable[[Settings], Signer] = load_signer,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.store_factory = store_factory
        self.signer_factory = signer_factory

    def run(self, *, wait: float = 0.0) -> MaintenanceReport:
        """Run every step under the maintenance lock (``skipped`` when another run
        holds it past ``wait`` seconds). Errors taking the lock (database, lock file)
        propagate."""
        started = time.monotonic()
        with maintenance_lock(self.database.engine, wait=wait) as held:
            if not held:
                return MaintenanceReport("skipped", [], time.monotonic() - started)
            steps = [_step(p.name, partial(self._purge, p)) for p in PURGES]
            steps.append(_step("blobs", self._collect))
            steps.append(_step("checkpoint", self._checkpoint))
        status: Status = "failed" if any(not s.ok for s in steps) else "ok"
        return MaintenanceReport(status, steps, time.monotonic() - started)

    def _purge(self, purge: Purge, result: StepResult) -> None:
        at = cutoffs(
            self.clock.now(),
            idle_timeout=self.settings.session_idle_timeout,
            retention_days=self.settings.maintenance_retention_days,
        )
        while True:
            with self.database.session() as db:
                found, gone = purge_batch(db, purge, at)
                db.commit()
            result.count += gone
            if found < BATCH:
                return

    def _collect(self, result: StepResult) -> None:
        store = self.store_factory(self.settings)
        with self.database.session() as db:
            report = collect_garbage(
                db,
                store,
                grace=timedelta(seconds=self.settings.storage_gc_grace_seconds),
                now=self.clock.now(),
            )
        result.count = report.removed
        result.details = {"examined": report.examined, "incomplete": report.incomplete}

    def _checkpoint(self, result: StepResult) -> None:
        signer = self.signer_factory(self.settings)
        now: datetime = self.clock.now()
        with self.database.session() as db:
            size = current_size(db)
            last = latest_checkpoint(db)
            signed = last.size if last is not None else 0
            if size <= signed:
                result.details = {"size": signed}
                return
            stored = store_checkpoint(db, signer, at=now)
            if stored is None:  # the app signed this very size a moment ago: nothing to do
                result.details = {"size": size}
                return
        result.count = 1
        result.details = {"size": stored.size}
