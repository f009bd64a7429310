"""Database metrics: the connection pool (kept up to date by pool events) and the
ledger (read at scrape time, three primary-key reads).

Pool gauges are per process and summed over the live workers; they are written when
connections open, close, leave and return to the pool, never by a scrape, because a
scrape is answered by one process that cannot see the others' pools.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from strongroom.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead
from strongroom.ops import metrics

log = logging.getLogger(__name__)

_INSTRUMENTED = "_strongroom_pool_metrics"


class PoolGauges:
    """Open and checked-out connections of one engine's pool, mirrored into gauges."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._open = 0
        self._checked_out = 0
        pool = engine.pool
        size = pool.size() if hasattr(pool, "size") else 1
        self.size = int(size)
        self.max_overflow = int(getattr(pool, "_max_overflow", 0) or 0)

    def _publish(self) -> None:
        m = metrics.get()
        m.pool_size.set(self.size)
        m.pool_max_overflow.set(max(self.max_overflow, 0))
        m.pool_open.set(self._open)
        m.pool_checked_out.set(self._checked_out)
        m.pool_overflow.set(max(self._open - self.size, 0))

    def _change(self, *, opened: int = 0, checked_out: int = 0) -> None:
        with self._lock:
            self._open = max(self._open + opened, 0)
            self._checked_out = max(self._checked_out + checked_out, 0)
            self._publish()

    def reset(self) -> None:
        """Start counting afresh (in a forked worker, whose pool starts empty)."""
        with self._lock:
            self._open = self._checked_out = 0
            self._publish()

    def listen(self) -> None:
        listeners: dict[str, Callable[..., None]] = {
            "connect": lambda *_: self._change(opened=1),
            "close": lambda *_: self._change(opened=-1),
            "close_detached": lambda *_: self._change(opened=-1),
            "checkout": lambda *_: self._change(checked_out=1),
            "checkin": lambda *_: self._change(checked_out=-1),
        }
        for name, listener in listeners.items():
            event.listen(self._engine, name, listener)
        self._publish()


def instrument_pool(engine: Engine) -> PoolGauges:
    """Keep the pool gauges up to date for ``engine`` (once per engine)."""
    existing: PoolGauges | None = getattr(engine, _INSTRUMENTED, None)
    if existing is not None:
        return existing
    gauges = PoolGauges(engine)
    gauges.listen()
    setattr(engine, _INSTRUMENTED, gauges)
    return gauges


def reset_pool_gauges(engine: Engine) -> None:
    """After a fork: the child inherited the parent's counts but none of its connections."""
    gauges: PoolGauges | None = getattr(engine, _INSTRUMENTED, None)
    if gauges is not None:
        gauges.reset()


class LedgerCollector(Collector):
    """Ledger size and checkpoint freshness, read from the database at scrape time.

    Cheap whatever the ledger's size: the head row, the newest checkpoint (by primary
    key) and the first entry it does not cover (by primary key).
    """

    def __init__(
        self,
        sessions: Callable[[], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions  # a context manager factory yielding a read-only Session
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            metrics.PREFIX + "ledger_collector_up",
            "1 when the ledger metrics could be read from the database, 0 when not.",
        )
        try:
            with self._sessions() as db:
                families = self._read(db)
        except SQLAlchemyError as err:
            log.warning(
                "ledger metrics unavailable: the database did not answer",
                extra={"error_class": type(err).__name__},
            )
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self, db: Session) -> list[GaugeMetricFamily]:
        now = self._clock()
        size = db.scalar(select(LedgerHead.size).where(LedgerHead.id == 1)) or 0
        latest = db.execute(
            select(LedgerCheckpoint.size, LedgerCheckpoint.created_at)
            .order_by(LedgerCheckpoint.size.desc())
            .limit(1)
        ).first()
        signed = latest.size if latest is not None else 0
        oldest_unsigned = None
        if size > signed:
            oldest_unsigned = db.scalar(
                select(LedgerEntry.occurred_at).where(LedgerEntry.index == signed)
            )
        db.rollback()
        families = [
            _gauge("ledger_entries", "Entries in the audit ledger.", size),
            _gauge(
                "ledger_checkpoint_entries",
                "Entries covered by the newest signed checkpoint (0 without one).",
                signed,
            ),
            _gauge(
                "ledger_unsigned_entries",
                "Entries appended since the newest signed checkpoint.",
                max(size - signed, 0),
            ),
            _gauge(
                "ledger_unsigned_entry_age_seconds",
                "How long the oldest entry not covered by a signed checkpoint has waited "
                "(0 when every entry is covered).",
                max(now - _epoch(oldest_unsigned), 0.0) if oldest_unsigned else 0.0,
            ),
        ]
        if latest is not None:
            created = _epoch(latest.created_at)
            families.append(
                _gauge(
                    "ledger_last_checkpoint_timestamp_seconds",
                    "When the newest signed checkpoint was made (Unix time).",
                    created,
                )
            )
            families.append(
                _gauge(
                    "ledger_last_checkpoint_age_seconds",
                    "Seconds since the newest signed checkpoint was made.",
                    max(now - created, 0.0),
                )
            )
        return families


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(metrics.PREFIX + name, documentation, value=value)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
