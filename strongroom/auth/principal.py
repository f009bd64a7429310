"""Who is making the request, as established by ``strongroom.auth.authn``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from strongroom.auth.models import AccessToken, AuthSession, User

# Scopes a personal access token can carry. A session has every scope its role allows.
SCOPES: dict[str, str] = {
    "files:read": "list and download files the user may read",
    "files:write": "upload, rename and delete the user's files",
    "shares:write": "create, change and revoke grants and share links",
    "admin": "administer accounts (only effective for admins)",
}


@dataclass(frozen=True)
class Principal:
    """A signed-in user and how they proved it (a session or a personal access token)."""

    user: User
    kind: Literal["session", "token"]
    session: AuthSession | None = None
    token: AccessToken | None = None
    via_cookie: bool = False

    @property
    def actor(self) -> str:
        return f"user:{self.user.id}"

    def has_scope(self, scope: str) -> bool:
        if self.kind == "session":
            return True
        return self.token is not None and scope in self.token.scopes
