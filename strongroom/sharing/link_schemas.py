"""Request and response bodies of the share-link API and of the public link routes."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import AwareDateTime, Boolean, Integer, List, Nested, String
from apiflask.validators import Length, Range

from strongroom.api import InputSchema, plain_text
from strongroom.sharing.links import MAX_DOWNLOADS, MAX_NOTE_LENGTH, MAX_PASSWORD_LENGTH


class LinkIn(InputSchema):
    expires_at = AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "When the link stops working (ISO 8601 with a time zone); "
                  "null: never"},
    )  # fmt: skip
    password = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=MAX_PASSWORD_LENGTH),
        metadata={"description": "Asked of everyone who downloads; empty or null: none"},
    )
    max_downloads = Integer(
        load_default=None,
        allow_none=True,
        validate=Range(1, MAX_DOWNLOADS),
        metadata={"description": "Downloads allowed (ranges count too); null: no limit"},
    )
    note = String(load_default="", validate=[Length(max=MAX_NOTE_LENGTH), plain_text])


class LinkOut(Schema):
    id = String()
    file_id = String()
    expires_at = AwareDateTime(allow_none=True)
    max_downloads = Integer(allow_none=True)
    downloads = Integer()
    password_required = Boolean()
    note = String()
    created_at = AwareDateTime()
    revoked_at = AwareDateTime(allow_none=True)
    active = Boolean(metadata={"description": "Neither revoked, expired nor used up"})


class NewLinkOut(LinkOut):
    url = String(metadata={"description": "The link to hand out. Shown once: only a hash is kept"})


class LinkListOut(Schema):
    items = List(Nested(LinkOut))


class PublicLinkOut(Schema):
    """What a link holder learns: the one file, never its owner."""

    name = String(allow_none=True, metadata={"description": "null while a password is needed"})
    size = Integer(allow_none=True)
    content_type = String(allow_none=True)
    expires_at = AwareDateTime(allow_none=True)
    downloads_left = Integer(allow_none=True, metadata={"description": "null: no limit"})
    password_required = Boolean()
