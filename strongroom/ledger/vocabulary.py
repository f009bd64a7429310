"""Every event tag the audit trail accepts, with what it means.

``record_event`` refuses any other tag, so the vocabulary documented in
``docs/security.md`` (and later ``docs/spec/ledger.md``) is the whole of it.
"""

from __future__ import annotations

TAGS: dict[str, str] = {
    "account:register": "an account was created by self-registration",
    "account:signin:success": "a sign-in completed (password, and 2FA when enabled)",
    "account:signin:failure": "a sign-in step failed (wrong password, unknown user, bad code)",
    "account:signin:throttled": "a sign-in or 2FA attempt was refused by a rate limit",
    "account:signin:challenge": "the password was accepted and a 2FA code is awaited",
    "account:signout": "a session was ended by its owner signing out",
    "account:session:revoke": "a session was revoked from the sessions list",
    "account:password:change": "the owner changed the password (other sessions ended)",
    "account:password:rehash": "the stored hash was upgraded to the current Argon2 parameters",
    "account:2fa:enable": "TOTP two-factor authentication was turned on",
    "account:2fa:disable": "TOTP two-factor authentication was turned off",
    "account:2fa:recovery-used": "a recovery code was spent to sign in",
    "account:2fa:recovery-regenerate": "a fresh set of recovery codes replaced the old one",
    "account:reauth:failure": "a wrong password or 2FA code when confirming a sensitive change",
    "account:2fa:throttled": "a 2FA code check outside sign-in was refused by its limit",
    "admin:user:2fa-reset": "an admin turned off an account's 2FA (lost device or seed)",
    "account:token:create": "a personal access token was created",
    "account:token:revoke": "a personal access token was revoked",
    "account:token:throttled": "bearer requests from an IP were refused after repeated bad tokens",
    "account:password:throttled": "a password check (change, 2FA off) was refused by a limit",
    "ratelimit:route:throttled": "a per-IP route limit (sign-in, registration) refused a request",
    "ledger:entry:redact": "an admin erased an entry's event (personal data); its leaf hash stays",
    "admin:user:create": "an admin (or the CLI, or the bootstrap) created an account",
    "admin:user:disable": "an account was disabled; its sessions and tokens ended",
    "admin:user:enable": "a disabled account was enabled again",
    "admin:user:role": "an account's role changed",
    "admin:user:update": "an account's e-mail or display name changed",
    "admin:user:password-reset": "an admin set a temporary password",
    "admin:user:delete": "an account was deleted",
    "admin:invite:create": "an admin created an invitation",
    "admin:invite:revoke": "an admin revoked an invitation",
    "file:upload": "a file was stored; commits to its plaintext and ciphertext SHA-256 and size",
    "file:download": "a file's content (or a byte range of it) was served",
    "file:rename": "a file's owner renamed it",
    "file:delete": "a file was deleted (its blob is removed after the commit)",
    "file:corrupt": "a stored blob failed authentication or its committed hash (download, scrub)",
    "keys:version:add": "a new master key version was added to the keyring",
    "keys:rewrap": "a batch of data keys was re-wrapped under the current master key",
    "keys:rotate:complete": "every data key is wrapped by the current master key version",
    "storage:gc": "unreferenced blobs (or interrupted uploads) were removed by the collector",
}
