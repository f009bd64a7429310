"""Bodies of the admin API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import DateTime, Email, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from strongroom.api import InputSchema, plain_text
from strongroom.auth.models import Role, Status
from strongroom.auth.passwords import MAX_LENGTH as MAX_PASSWORD
from strongroom.auth.schemas import UserOut

ROLES = [r.value for r in Role]
STATUSES = [s.value for s in Status]


class UserQuery(InputSchema):
    q = String(load_default="", validate=Length(max=100))
    role = String(load_default=None, validate=OneOf(ROLES))
    status = String(load_default=None, validate=OneOf(STATUSES))
    page = Integer(load_default=1, validate=Range(1, 10_000))
    per_page = Integer(load_default=50, validate=Range(1, 200))


class UserPageOut(Schema):
    users = List(Nested(UserOut))
    total = Integer()
    page = Integer()
    per_page = Integer()


class UserCreateIn(InputSchema):
    username = String(required=True, validate=Length(1, 128))
    password = String(
        load_default=None, validate=Length(1, MAX_PASSWORD), metadata={"format": "password"}
    )
    role = String(load_default="user", validate=OneOf(ROLES))
    email = Email(load_default=None, allow_none=True, validate=Length(max=254))
    display_name = String(load_default="", validate=[Length(max=100), plain_text])


class CreatedUserOut(Schema):
    user = Nested(UserOut)
    temporary_password = String(allow_none=True)


class UserPatchIn(InputSchema):
    status = String(validate=OneOf(STATUSES))
    role = String(validate=OneOf(ROLES))
    email = Email(allow_none=True, validate=Length(max=254))
    display_name = String(validate=[Length(max=100), plain_text])


class ResetOut(Schema):
    temporary_password = String()


class InviteIn(InputSchema):
    note = String(load_default="", validate=[Length(max=200), plain_text])
    role = String(load_default="user", validate=OneOf(ROLES))


class InviteOut(Schema):
    id = Integer()
    note = String()
    role = String()
    created_at = DateTime()
    expires_at = DateTime()


class NewInviteOut(InviteOut):
    token = String(metadata={"description": "Shown once; give it to the invitee"})


class InviteListOut(Schema):
    invites = List(Nested(InviteOut))
