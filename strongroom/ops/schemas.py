"""Response bodies of the health endpoints, as they appear in the OpenAPI document."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Dict, List, Nested, String


class HealthOut(Schema):
    status = String(required=True, metadata={"example": "ok"})


class CheckOut(Schema):
    ok = Boolean(required=True)
    detail = String()


class ReadinessOut(Schema):
    status = String(required=True, metadata={"description": "`ready` or `unready`"})
    failing = List(String(), required=True, metadata={"description": "names of failed checks"})
    degraded = List(
        String(),
        required=True,
        metadata={"description": "optional dependencies that are down (`redis`): still ready"},
    )
    checks = Dict(keys=String(), values=Nested(CheckOut), required=True)
