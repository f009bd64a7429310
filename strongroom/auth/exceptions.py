"""The accounts domain's exceptions; ``strongroom.errors`` maps each to a problem type.

Messages are shown to clients: they never say which of username and password was
wrong, and never echo a secret.
"""

from __future__ import annotations

from collections.abc import Mapping

from strongroom.exceptions import StrongroomError


class AuthError(StrongroomError):
    """Base of the accounts domain's failures."""


class InvalidCredentials(AuthError):
    """Sign-in failed; deliberately silent about which part was wrong."""

    def __init__(self, message: str = "The username or password is not correct.") -> None:
        super().__init__(message)


class Unauthenticated(AuthError):
    """No valid session or token came with a request that needs one."""

    headers: Mapping[str, str] = {"WWW-Authenticate": 'Bearer realm="strongroom"'}


class CsrfFailed(AuthError):
    """A cookie-authenticated request that changes state came without a valid CSRF token."""


class Forbidden(AuthError):
    """Signed in, but the role or the token's scopes do not allow this."""


class SessionOnly(Forbidden):
    """Only a signed-in session may do this, never a personal access token."""


class ReauthenticationRequired(Forbidden):
    """A sensitive change on a session older than the re-authentication window, sent
    without the current password."""


class PasswordChangeRequired(Forbidden):
    """The account has a temporary password: only changing it is allowed."""


class TwoFactorSetupRequired(Forbidden):
    """Policy requires 2FA for this account and it is not set up yet."""


class RegistrationClosed(AuthError):
    """Self-registration is off, or needs an invitation that was not valid."""


class UsernameTaken(AuthError):
    """The (normalised) username already belongs to an account."""


class InvalidUsername(AuthError):
    """The username breaks the character or length rule."""


class PasswordRejected(AuthError):
    """The password breaks the policy; ``reasons`` says how, one sentence each."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = reasons
        self.extra = {"reasons": reasons}


class InvalidCode(AuthError):
    """A 2FA or recovery code was wrong, expired or already used."""


class ChallengeExpired(AuthError):
    """The half-finished sign-in expired or does not exist; sign in again."""


class AccountNotFound(AuthError):
    """No such account, session, token or invitation (for this caller)."""


class Conflict(AuthError):
    """The change would leave the accounts in a state that is not allowed."""


class Throttled(AuthError):
    """Too many attempts; ``retry_after`` seconds until the next is accepted."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}
        self.extra = {"retry_after": self.retry_after}
