"""Shared pieces of the JSON API: the base input schema and the error schemas.

Every request schema derives from ``InputSchema``: unknown fields (in the body or the
query string) are an error, not silently dropped, so a typo in a client never turns
into a request that quietly did something else.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from apiflask import APIFlask, Schema
from apiflask.schema_adapters.marshmallow import parser
from flask import Response, request
from marshmallow import RAISE, ValidationError, missing

from strongroom.errors import PROBLEM_MIMETYPE, PROBLEM_TYPE_BASE


class InputSchema(Schema):
    """Base of every request body and query schema: unknown fields are refused."""

    class Meta:
        unknown = RAISE


def plain_text(value: str) -> None:
    """Validator for names and notes people type: no control or invisible format characters.

    Such characters have no business in a display name, and would let one name look
    like another (zero-width joiners) or break log and terminal output (newlines, ESC).
    """
    bad = sorted({f"U+{ord(ch):04X}" for ch in value if unicodedata.category(ch) in {"Cc", "Cf"}})
    if bad:
        raise ValidationError(
            f"Control or invisible characters are not allowed ({', '.join(bad)})."
        )


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


def _load_json(req: Any, _schema: Any) -> Any:
    """webargs' JSON loader, replaced: use the body the strict parser already read.

    One parser for every JSON body means no gap between what the body check accepted
    and what the schema sees (BOMs, duplicate keys, encodings).
    """
    if not req.get_data(cache=True):
        return missing
    return req.get_json()


SpecProcessor = Callable[[dict[Any, Any] | str], dict[Any, Any] | str]
_PROCESSORS = "strongroom.spec_processors"
_PROBLEM_REFS = {"#/components/schemas/HTTPError", "#/components/schemas/ValidationError"}
_BODY_PROBLEMS = {
    "400": "Malformed JSON body",
    "413": "Request body larger than the route's limit",
    "415": "Body of a media type the route does not accept",
}


def problem_media_types(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
    """Spec processor: error responses are ``application/problem+json``, and every
    operation with a body documents the 400/413/415 the body checks can answer."""
    if not isinstance(spec, dict):  # APIFlask hands processors the dict form
        raise TypeError("the OpenAPI spec processor needs the spec as a dict")
    spec.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "HTTPError", PROBLEM_SCHEMA
    )
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "requestBody" in operation:
                for status, description in _BODY_PROBLEMS.items():
                    responses.setdefault(
                        status,
                        {
                            "description": description,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/HTTPError"}
                                }
                            },
                        },
                    )
            for response in responses.values():
                content = response.get("content", {})
                body = content.get("application/json")
                if body and body.get("schema", {}).get("$ref") in _PROBLEM_REFS:
                    content[PROBLEM_MIMETYPE] = content.pop("application/json")
    return spec


def init_app(app: APIFlask) -> None:
    """Wire the API conventions into ``app`` and the (process-wide) webargs parser.

    webargs silently drops unknown query parameters by default; with ``unknown=None``
    it defers to each schema, and ``InputSchema`` refuses them. (A schema for headers
    or cookies would have to set ``unknown = EXCLUDE`` itself.) The parser is shared
    by the whole process, and every app Strongroom builds wants the same rules.
    """
    parser.unknown = None
    parser.location_loader("json")(_load_json)
    processors: list[SpecProcessor] = [problem_media_types]
    app.extensions[_PROCESSORS] = processors

    def run_processors(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
        for processor in processors:
            spec = processor(spec)
        return spec

    app.spec_processor(run_processors)
    app.after_request(_no_store)


def _no_store(response: Response) -> Response:
    """API answers are never cached: many carry tokens, codes or personal data."""
    if request.path.startswith("/api/") and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def add_spec_processor(app: APIFlask, processor: SpecProcessor) -> None:
    """Run ``processor`` on the OpenAPI document after the built-in ones."""
    app.extensions[_PROCESSORS].append(processor)
