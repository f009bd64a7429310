"""Request and response bodies of the accounts API.

Passwords are validated for length only here (1-1024 characters, nothing stripped);
the policy itself lives in ``strongroom.auth.passwords`` so every path applies it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apiflask import Schema
from apiflask.fields import AwareDateTime, Boolean, DateTime, Email, Integer, List, Nested, String
from apiflask.validators import Length, OneOf
from marshmallow import ValidationError

from strongroom.api import InputSchema, plain_text
from strongroom.auth.passwords import MAX_LENGTH as MAX_PASSWORD
from strongroom.auth.principal import SCOPES
from strongroom.auth.tokens import MAX_TOKEN_LENGTH

MAX_TOKEN_LIFETIME = timedelta(days=5 * 366)
REAUTH_HELP = "Needed when the session signed in more than 15 minutes ago"


def Password(*, required: bool = True) -> String:  # noqa: N802  # reads like a field type
    """A password field: 1-1024 characters, taken exactly as sent."""
    if not required:
        return String(
            load_default=None,
            validate=Length(1, MAX_PASSWORD),
            metadata={"format": "password", "description": REAUTH_HELP},
        )
    return String(required=True, validate=Length(1, MAX_PASSWORD), metadata={"format": "password"})


def Username() -> String:  # noqa: N802
    return String(required=True, validate=Length(1, 128))


def Code(*, required: bool = False) -> String:  # noqa: N802
    if required:
        return String(required=True, validate=Length(1, 64))
    return String(load_default=None, allow_none=True, validate=Length(1, 64))


class UserOut(Schema):
    id = Integer()
    username = String()
    display_name = String()
    email = String(allow_none=True)
    role = String()
    status = String()
    must_change_password = Boolean()
    two_factor_enabled = Boolean()
    created_at = DateTime()
    last_sign_in_at = DateTime(allow_none=True)


class AccountOut(UserOut):
    """An account as a whole response body.

    A separate class from ``UserOut``, which is only ever nested: APIFlask registers
    a class used both ways twice in the OpenAPI document.
    """


class RegisterIn(InputSchema):
    username = Username()
    password = Password()
    email = Email(load_default=None, allow_none=True, validate=Length(max=254))
    display_name = String(load_default="", validate=[Length(max=100), plain_text])
    invite = String(load_default=None, allow_none=True, validate=Length(max=MAX_TOKEN_LENGTH))


class PasswordCheckIn(InputSchema):
    password = Password()
    username = String(
        load_default="",
        validate=Length(max=128),
        metadata={"description": "The username it is for (a password may not contain it)"},
    )


class PasswordCheckOut(Schema):
    acceptable = Boolean(metadata={"description": "Whether registration would accept it"})
    score = Integer(metadata={"description": "Strength from 0 (guessable) to 4"})
    feedback = List(String(), metadata={"description": "Why it is refused, one sentence each"})


class LoginIn(InputSchema):
    username = Username()
    password = Password()


class LoginTotpIn(InputSchema):
    challenge = String(required=True, validate=Length(1, MAX_TOKEN_LENGTH))
    code = Code()
    recovery_code = Code()


class SessionOut(Schema):
    token = String(metadata={"description": "Bearer token (also set as the session cookie)"})
    csrf_token = String(metadata={"description": "Send as X-CSRF-Token with cookie auth"})
    expires_at = DateTime()
    user = Nested(UserOut)


class LoginOut(Schema):
    """Either a session (``token`` ...) or a 2FA challenge (``two_factor_required``)."""

    token = String()
    csrf_token = String()
    expires_at = DateTime()
    user = Nested(UserOut)
    two_factor_required = Boolean()
    challenge = String()


class MeOut(UserOut):
    csrf_token = String(allow_none=True)
    auth = String(metadata={"description": "`session` or `token`"})
    scopes = List(String())


class PasswordChangeIn(InputSchema):
    current_password = Password()
    new_password = Password()


class SessionInfoOut(Schema):
    id = Integer()
    created_at = DateTime()
    last_seen_at = DateTime()
    expires_at = DateTime()
    user_agent = String()
    ip = String()
    current = Boolean()


class SessionListOut(Schema):
    sessions = List(Nested(SessionInfoOut))


def _within_token_lifetime(value: datetime) -> None:
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError) as err:
        raise ValidationError("Not a usable time.") from err
    if utc > datetime.now(UTC) + MAX_TOKEN_LIFETIME:
        raise ValidationError("Tokens live at most 5 years; choose an earlier expiry.")


class TokenIn(InputSchema):
    name = String(required=True, validate=[Length(1, 100), plain_text])
    current_password = Password(required=False)
    scopes = List(String(validate=OneOf(list(SCOPES))), required=True, validate=Length(1, 10))
    expires_at = AwareDateTime(
        load_default=None,
        allow_none=True,
        validate=_within_token_lifetime,
        metadata={"description": "With a time zone; at most 5 years ahead"},
    )


class TokenInfoOut(Schema):
    id = Integer()
    name = String()
    hint = String(metadata={"description": "First characters after `srp_`"})
    scopes = List(String())
    created_at = DateTime()
    expires_at = DateTime(allow_none=True)
    last_used_at = DateTime(allow_none=True)


class NewTokenOut(TokenInfoOut):
    token = String(metadata={"description": "Shown once; store it now"})


class TokenListOut(Schema):
    tokens = List(Nested(TokenInfoOut))


class TwoFactorStatusOut(Schema):
    enabled = Boolean()
    required = Boolean()
    pending = Boolean()
    recovery_codes_left = Integer()


class EnrolmentOut(Schema):
    secret = String()
    otpauth_uri = String()
    qr_svg = String(metadata={"description": "SVG image of the otpauth URI"})


class EnrolIn(InputSchema):
    current_password = Password(required=False)


class CodeIn(InputSchema):
    code = Code(required=True)


class RecoveryCodesOut(Schema):
    recovery_codes = List(String())
    token = String(allow_none=True, metadata={"description": "The session's new token"})
    csrf_token = String(allow_none=True)


class TwoFactorDisableIn(InputSchema):
    password = Password()
    code = Code(required=True)
