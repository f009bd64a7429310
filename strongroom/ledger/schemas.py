"""Bodies of the ledger API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Integer, List, Nested, String
from apiflask.validators import Length, Range

from strongroom.api import InputSchema, plain_text

MAX_PAGE = 1000
MAX_INDEX = 2**62


class RangeQuery(InputSchema):
    start = Integer(load_default=0, validate=Range(0, MAX_INDEX))
    limit = Integer(load_default=100, validate=Range(1, MAX_PAGE))


class TreeSizeQuery(InputSchema):
    tree_size = Integer(
        required=True,
        validate=Range(1, MAX_INDEX),
        metadata={"description": "Prove against the tree of this size (a checkpoint's)"},
    )


class ConsistencyQuery(InputSchema):
    # "from" is a Python keyword, hence data_key.
    old = Integer(required=True, data_key="from", validate=Range(0, MAX_INDEX))
    new = Integer(required=True, data_key="to", validate=Range(0, MAX_INDEX))


class EventOut(Schema):
    time = String()
    tag = String()
    actor = String()
    target = String()
    details = Dict()
    request_id = String(allow_none=True)


class EntryOut(Schema):
    index = Integer()
    leaf_hash = String(metadata={"description": "base64 of the RFC 9162 leaf hash"})
    redacted = Boolean()
    visible = Boolean(metadata={"description": "whether the event is shown to this caller"})
    event = Nested(EventOut, allow_none=True)
    salt = String(allow_none=True, metadata={"description": "base64; leaf = salt || canonical"})
    canonical = String(
        allow_none=True, metadata={"description": "the event's canonical JSON (the leaf bytes)"}
    )


class EntryPageOut(Schema):
    entries = List(Nested(EntryOut))
    start = Integer()
    tree_size = Integer(metadata={"description": "the log's size when this page was read"})


class InclusionOut(Schema):
    index = Integer()
    tree_size = Integer()
    leaf_hash = String()
    proof = List(String(), metadata={"description": "base64 hashes, RFC 9162 order"})
    entry = Nested(EntryOut)


class ConsistencyOut(Schema):
    from_size = Integer(data_key="from")
    to_size = Integer(data_key="to")
    proof = List(String())


class RedactIn(InputSchema):
    reason = String(required=True, validate=[Length(1, 200), plain_text])


class RedactOut(Schema):
    index = Integer()
    redaction_index = Integer(metadata={"description": "the entry recording the redaction"})
