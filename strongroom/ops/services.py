"""Readiness checks: can this process serve requests right now?

Each check returns a ``CheckResult`` and never raises: an unreachable dependency is
a failed check with a short reason, not an exception. Reasons name the kind of
failure only; connection strings and passwords stay out of them.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from strongroom.db import ping, schema_status
from strongroom.storage.interfaces import BlobStore, StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    """One check. A failed ``essential`` check makes the process unready; a failed
    optional one (Redis: rate limits fall back to memory) only degrades it."""

    name: str
    ok: bool
    detail: str = ""
    essential: bool = True


@dataclass(frozen=True)
class Readiness:
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks if check.essential)

    @property
    def failing(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok and check.essential]

    @property
    def degraded(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok and not check.essential]


def check_database(engine: Engine) -> list[CheckResult]:
    """Two results: ``database`` (reachable) and ``migrations`` (schema current)."""
    try:
        with engine.connect() as connection:
            ping(connection)
            status = schema_status(connection)
    except SQLAlchemyError as err:
        log.warning("readiness: database unreachable", extra={"error_class": type(err).__name__})
        return [
            CheckResult("database", ok=False, detail="unreachable"),
            CheckResult("migrations", ok=False, detail="unknown: database unreachable"),
        ]
    if status.is_current:
        migrations = CheckResult("migrations", ok=True, detail=",".join(status.current))
    else:
        migrations = CheckResult(
            "migrations",
            ok=False,
            detail=f"at {','.join(status.current) or 'nothing'}, "
            f"expected {','.join(status.heads)}: run `strongroom db upgrade`",
        )
    return [CheckResult("database", ok=True), migrations]


def check_data_dir(data_dir: Path) -> CheckResult:
    """The data directory exists and a file can be created, written and removed in it."""
    probe = data_dir / f".ready-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with probe.open("xb") as handle:
            handle.write(b"ok")
        probe.unlink()
    except OSError as err:
        log.warning("readiness: data directory not writable", extra={"errno": err.errno})
        return CheckResult("data_dir", ok=False, detail="not writable")
    return CheckResult("data_dir", ok=True)


def check_blob_store(store: BlobStore) -> CheckResult:
    """The blob store takes a probe object: written, read back and deleted."""
    try:
        store.probe()
    except StorageError as err:
        log.warning(
            "readiness: blob store failed its probe", extra={"error_class": type(err).__name__}
        )
        return CheckResult("blob_store", ok=False, detail=f"{store.name}: probe failed")
    return CheckResult("blob_store", ok=True, detail=store.name)


def check_redis(url: str) -> CheckResult:
    """Redis answers PING within a second.

    Not essential: without Redis every rate limit keeps limiting from process memory,
    so taking every instance out of the load balancer would turn a Redis outage into
    a full one. The process reports itself degraded instead.
    """
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as err:
        log.warning("readiness: redis unreachable", extra={"error_class": type(err).__name__})
        return CheckResult("redis", ok=False, detail="unreachable", essential=False)
    finally:
        client.close()
    return CheckResult("redis", ok=True, essential=False)


def readiness(checks: list[Callable[[], list[CheckResult]]]) -> Readiness:
    results: list[CheckResult] = []
    for check in checks:
        results.extend(check())
    return Readiness(results)


def check_everything(
    engine: Engine, *, data_dir: Path, store: BlobStore, redis_url: str | None
) -> Readiness:
    """Every check of this process: ``/readyz`` answers with it, admins see it."""
    checks: list[Callable[[], list[CheckResult]]] = [
        lambda: check_database(engine),
        lambda: [check_data_dir(data_dir)],
        lambda: [check_blob_store(store)],
    ]
    if redis_url:
        checks.append(lambda: [check_redis(redis_url)])
    return readiness(checks)
