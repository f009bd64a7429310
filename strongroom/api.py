"""Shared pieces of the JSON API: the base input schema and the error schemas.

Every request schema derives from ``InputSchema``: unknown fields (in the body or the
query string) are an error, not silently dropped, so a typo in a client never turns
into a request that quietly did something else.
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.schema_adapters.marshmallow import parser
from marshmallow import RAISE

from strongroom.errors import PROBLEM_TYPE_BASE


class InputSchema(Schema):
    """Base of every request body and query schema: unknown fields are refused."""

    class Meta:
        unknown = RAISE


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `type` is stable and starts with "
    f"`{PROBLEM_TYPE_BASE}`.",
    "required": ["type", "title", "status", "detail", "request_id"],
    "properties": {
        "type": {"type": "string", "example": f"{PROBLEM_TYPE_BASE}not-found"},
        "title": {"type": "string", "example": "Not found"},
        "status": {"type": "integer", "example": 404},
        "detail": {"type": "string"},
        "instance": {"type": "string", "example": "urn:strongroom:request:3f2a..."},
        "request_id": {"type": "string"},
    },
}

VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    **PROBLEM_SCHEMA,
    "required": [*PROBLEM_SCHEMA["required"], "errors"],
    "properties": {
        **PROBLEM_SCHEMA["properties"],
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "example": "json"},
                    "field": {"type": "string", "example": "username"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def init_app() -> None:
    """Make schemas, not webargs' per-location defaults, decide about unknown fields.

    webargs silently drops unknown query parameters by default; with ``None`` it
    defers to each schema, and ``InputSchema`` refuses them. The parser is shared by
    the whole process, and every app Strongroom builds wants the same rule.
    """
    parser.unknown = None
