"""Request and response bodies of the sharing API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import AwareDateTime, Boolean, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from strongroom.api import InputSchema
from strongroom.files.schemas import MAX_PAGE, FileOut
from strongroom.ledger.schemas import EntryOut
from strongroom.sharing.grants import PERMISSIONS

_EXPIRES = {"description": "When access ends (ISO 8601 with a time zone); null: never"}


class GrantIn(InputSchema):
    username = String(required=True, validate=Length(1, 128))
    permission = String(load_default="read", validate=OneOf(PERMISSIONS))
    expires_at = AwareDateTime(load_default=None, allow_none=True, metadata=_EXPIRES)


class GrantChangeIn(InputSchema):
    permission = String(load_default=None, validate=OneOf(PERMISSIONS))
    expires_at = AwareDateTime(required=True, allow_none=True, metadata=_EXPIRES)


class GrantOut(Schema):
    id = Integer()
    file_id = String()
    username = String(metadata={"description": "The grantee"})
    permission = String()
    expires_at = AwareDateTime(allow_none=True)
    active = Boolean(metadata={"description": "False once the grant has expired"})
    created_at = AwareDateTime()
    updated_at = AwareDateTime()


class GrantListOut(Schema):
    items = List(Nested(GrantOut))


class ShareOut(Schema):
    """The recipient's view of their grant."""

    id = Integer()
    permission = String()
    expires_at = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()


class SharedFileOut(Schema):
    file = Nested(FileOut)
    grant = Nested(ShareOut)


class SharedPageOut(Schema):
    items = List(Nested(SharedFileOut))
    total = Integer()
    offset = Integer()
    limit = Integer()


class PageQuery(InputSchema):
    offset = Integer(load_default=0, validate=Range(0, 10_000_000))
    limit = Integer(load_default=50, validate=Range(1, MAX_PAGE))


class CheckpointOut(Schema):
    size = Integer(metadata={"description": "Tree size the proofs are against"})
    root_hash = String(metadata={"description": "base64 Merkle root"})
    note = String(metadata={"description": "The signed checkpoint (C2SP signed note)"})


class ProvenEntryOut(Schema):
    index = Integer()
    proof = List(String(), metadata={"description": "base64 hashes, RFC 9162 order"})
    entry = Nested(EntryOut)


class HistoryOut(Schema):
    file_id = String()
    checkpoint = Nested(CheckpointOut)
    items = List(Nested(ProvenEntryOut))
    total = Integer()
    offset = Integer()
    limit = Integer()
