"""The sharing domain's exceptions; ``strongroom.errors`` maps each to a problem type.

Messages are shown to clients; none of them says whether an account exists.
"""

from __future__ import annotations

from strongroom.exceptions import StrongroomError


class SharingError(StrongroomError):
    """Base of the sharing domain's failures."""


class AccessDenied(SharingError):
    """The caller may know this file exists but may not do this to it (403)."""


class GrantNotFound(SharingError):
    """No such grant on this file (404)."""


class CannotShare(SharingError):
    """The named user cannot receive a share: unknown, disabled, or the owner (422).

    Unknown and disabled accounts get the same message, so a non-admin learns no more
    than "there is an active account by that name" (see docs/security.md).
    """


class AlreadyShared(SharingError):
    """The file is already shared with that user (409); change the grant instead."""


class TooManyRecipients(SharingError):
    """More user names than one request may name (422)."""


class LinkNotFound(SharingError):
    """No such share link, or it was revoked (404)."""


class LinkExpired(SharingError):
    """The share link has passed its expiry (410)."""


class LinkExhausted(SharingError):
    """The share link has reached its maximum number of downloads (410)."""


class LinkPasswordRequired(SharingError):
    """The share link needs a password, and none or a wrong one was given (403)."""
