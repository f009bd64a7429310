"""``/healthz`` (the process is alive) and ``/readyz`` (it can serve traffic)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from strongroom.auth.policy import public
from strongroom.context import get_database, get_settings
from strongroom.files.deps import get_file_deps
from strongroom.ops import services
from strongroom.ops.schemas import HealthOut, ReadinessOut

bp = APIBlueprint("ops", __name__, tag="Operations")


@bp.get("/healthz")
@public("ops:health")
@bp.output(HealthOut)
@bp.doc(
    summary="Liveness",
    description="Answers as long as the process runs; no dependency is contacted.",
)
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


_NOT_READY_RESPONSE: dict[int | str, dict[str, str | dict[str, dict[str, Any]]]] = {
    503: {
        "description": "Not ready: `failing` names the failed checks",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReadinessOut"}}},
    }
}


@bp.get("/readyz")
@public("ops:readiness")
@bp.output(ReadinessOut)
@bp.doc(
    summary="Readiness",
    description="200 when the database is reachable and migrated, the data directory is "
    "writable and the blob store takes a probe object (write, read, delete); 503 naming "
    "the failing checks otherwise. Redis (when configured) is checked "
    "too, but its outage only lists it in `degraded`: rate limits then count in memory.",
    responses=_NOT_READY_RESPONSE,
)
def readyz() -> tuple[dict[str, Any], int]:
    settings = get_settings()
    result = services.check_everything(
        get_database().engine, data_dir=settings.data_dir, store=get_file_deps().store,
        redis_url=settings.redis_url,
    )  # fmt: skip
    body = {
        "status": "ready" if result.ready else "unready",
        "failing": result.failing,
        "degraded": result.degraded,
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in result.checks},
    }
    return body, 200 if result.ready else 503
