"""TOTP two-factor authentication (RFC 6238) and recovery codes.

Codes: 6 digits, 30-second steps, SHA-1 (what every authenticator app supports),
one step of clock drift either way. The last accepted step is stored and nothing
at or before it is accepted again, so a code seen over a shoulder or in a phishing
proxy cannot be replayed. Recovery codes are 80 random bits each, shown once and
stored as SHA-256; each works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from strongroom.auth.deps import AuthDeps
from strongroom.auth.exceptions import Conflict, InvalidCode, Throttled
from strongroom.auth.models import RecoveryCode, User
from strongroom.ledger.services import record_event

ISSUER = "Strongroom"
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_RECOVERY_BYTES = 10  # 80 bits


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


def start_enrolment(db: Session, deps: AuthDeps, *, user: User) -> Enrolment:
    """A new pending seed (replacing any earlier pending one); 2FA is not on until confirmed."""
    if user.two_factor_enabled:
        raise Conflict("Two-factor authentication is already on; turn it off first.")
    secret = pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends
    user.totp_pending_secret = deps.seeds.seal(secret, user_id=user.id)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=4, xmldecl=False, svgns=True)
    return Enrolment(secret, uri, buffer.getvalue().decode("utf-8"))


def confirm_enrolment(db: Session, deps: AuthDeps, *, user: User, code: str) -> list[str]:
    """Turn 2FA on with a valid code for the pending seed; returns the recovery codes."""
    if user.totp_pending_secret is None:
        raise Conflict("Start the set-up first (POST /api/v1/me/2fa).")
    _check_limit(db, deps, user)
    secret = deps.seeds.open(user.totp_pending_secret, user_id=user.id)
    step = _matching_step(secret, code, deps.now(), after=None) if secret else None
    if step is None:
        _reauth_failed(db, deps, user, "wrong-code-at-enrolment")
        raise InvalidCode("That code is not right; check the time on your device and retry.")
    deps.limits.clear("2fa-account", str(user.id))
    now = deps.now()
    user.totp_secret = user.totp_pending_secret
    user.totp_pending_secret = None
    user.totp_enabled_at = now
    user.totp_last_step = step
    codes = _replace_recovery_codes(db, user)
    record_event(
        db, "account:2fa:enable", actor=f"user:{user.id}", target=f"user:{user.id}", at=now
    )
    return codes


def _check_limit(db: Session, deps: AuthDeps, user: User) -> None:
    try:
        deps.limits.acquire("2fa-account", str(user.id))
    except Throttled:
        record_event(
            db, "account:2fa:throttled", actor=f"user:{user.id}", target=f"user:{user.id}",
            at=deps.now(),
        )  # fmt: skip
        db.commit()  # the request fails; the record of it stays
        raise


def disable(db: Session, deps: AuthDeps, *, user: User) -> None:
    """Turn 2FA off (the caller has checked password and code)."""
    clear(db, user=user)
    record_event(
        db, "account:2fa:disable", actor=f"user:{user.id}", target=f"user:{user.id}", at=deps.now()
    )


def clear(db: Session, *, user: User) -> None:
    """Forget the seed, any pending seed and the recovery codes (no audit of its own)."""
    user.totp_secret = None
    user.totp_pending_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def verify_code(db: Session, deps: AuthDeps, *, user: User, code: str) -> bool:
    """Whether ``code`` is a fresh valid TOTP code; on success its step is used up.

    The step is claimed with one conditional UPDATE, so two requests racing with the
    same code cannot both win, whichever process or database serves them.
    """
    if user.totp_secret is None:
        return False
    secret = deps.seeds.open(user.totp_secret, user_id=user.id)
    if secret is None:
        return False
    step = _matching_step(secret, code, deps.now(), after=user.totp_last_step)
    if step is None:
        return False
    claimed = db.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    user.totp_last_step = step
    return True


def use_recovery_code(db: Session, deps: AuthDeps, *, user: User, code: str) -> bool:
    """Spend one recovery code; ``False`` when it is wrong or already used."""
    digest = _hash_code(code)
    unused = db.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    for row in unused:
        if hmac.compare_digest(row.code_hash, digest):
            # Claimed with a conditional UPDATE: a code raced twice works once.
            claimed = db.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=deps.now())
                .execution_options(synchronize_session=False)
            )
            return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
    return False


def recovery_codes_left(db: Session, *, user_id: int) -> int:
    return len(
        db.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def regenerate_recovery_codes(db: Session, deps: AuthDeps, *, user: User) -> list[str]:
    codes = _replace_recovery_codes(db, user)
    record_event(
        db,
        "account:2fa:recovery-regenerate",
        actor=f"user:{user.id}",
        target=f"user:{user.id}",
        at=deps.now(),
    )
    return codes


def _replace_recovery_codes(db: Session, user: User) -> list[str]:
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    db.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_code(code)) for code in codes)
    return codes


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(_RECOVERY_BYTES)).decode("ascii").lower()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _hash_code(code: str) -> bytes:
    # Forgiving about what people type back: case, spaces and dashes do not matter.
    normalised = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normalised.encode("utf-8")).digest()


def _matching_step(secret: str, code: str, now: datetime, *, after: int | None) -> int | None:
    code = code.strip().replace(" ", "")
    # ASCII only: str.isdigit() also accepts Arabic-Indic, full-width and superscripts.
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def require_code(db: Session, deps: AuthDeps, *, user: User, code: str) -> None:
    """Re-check a current code for a sensitive change, limited per account."""
    _check_limit(db, deps, user)
    if not verify_code(db, deps, user=user, code=code):
        _reauth_failed(db, deps, user, "wrong-code")
        raise InvalidCode("That code is not right.")
    deps.limits.clear("2fa-account", str(user.id))


def _reauth_failed(db: Session, deps: AuthDeps, user: User, reason: str) -> None:
    record_event(
        db, "account:reauth:failure", actor=f"user:{user.id}", target=f"user:{user.id}",
        details={"reason": reason}, at=deps.now(),
    )  # fmt: skip
