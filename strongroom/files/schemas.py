"""Request and response bodies of the files API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import DateTime, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from strongroom.api import InputSchema

MAX_PAGE = 200


class FileOut(Schema):
    id = String(metadata={"description": "Random, unguessable id"})
    name = String(metadata={"description": "Cleaned name (NFC, no paths or control characters)"})
    original_name = String(
        metadata={"description": "The name as sent, with undecodable bytes replaced"}
    )
    size = Integer()
    content_type = String(metadata={"description": "Detected from the content"})
    sha256 = String(metadata={"description": "SHA-256 of the plaintext, hex"})
    owner = String(metadata={"description": "Owner's username"})
    created_at = DateTime()
    updated_at = DateTime()
    key_version = String(metadata={"description": "Master key version wrapping the data key"})
    upload_entry = Integer(metadata={"description": "Ledger index of the file:upload entry"})


class FilePageOut(Schema):
    items = List(Nested(FileOut))
    total = Integer()
    offset = Integer()
    limit = Integer()


class ListQuery(InputSchema):
    q = String(load_default="", validate=Length(0, 255), metadata={"description": "Name contains"})
    sort = String(
        load_default="-created",
        validate=OneOf(["name", "-name", "created", "-created", "size", "-size"]),
    )
    offset = Integer(load_default=0, validate=Range(0, 10_000_000))
    limit = Integer(load_default=50, validate=Range(1, MAX_PAGE))


class UploadQuery(InputSchema):
    name = String(
        load_default=None,
        validate=Length(1, 1024),
        metadata={"description": "File name for a raw body (or the X-File-Name header)"},
    )
    share_with = String(
        load_default=None,
        validate=Length(1, 4096),
        metadata={"description": "Usernames to share with at upload (comma-separated)"},
    )


class RenameIn(InputSchema):
    name = String(required=True, validate=Length(1, 1024))


class UsageOut(Schema):
    bytes = Integer()
    files = Integer()
    quota = Integer(allow_none=True, metadata={"description": "Bytes allowed; null: no quota"})
    available = Integer(allow_none=True)


class UserUsageOut(Schema):
    user_id = Integer()
    username = String()
    bytes = Integer()
    files = Integer()


class KeyVersionOut(Schema):
    version = String()
    files = Integer()


class StorageOverviewOut(Schema):
    backend = String()
    users = List(Nested(UserUsageOut))
    total_bytes = Integer()
    total_files = Integer()
    current_key_version = String()
    key_versions = List(Nested(KeyVersionOut))
