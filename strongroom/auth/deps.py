"""The dependencies every accounts service takes, bundled once per app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from strongroom.auth.passwords import Passwords
from strongroom.auth.tokens import SeedBox
from strongroom.clock import Clock, SystemClock
from strongroom.ratelimit import RateLimits
from strongroom.settings import Mode, Settings


@dataclass(frozen=True)
class AuthDeps:
    """Settings, password hasher, TOTP seed box, clock and rate limits."""

    settings: Settings
    passwords: Passwords
    seeds: SeedBox
    clock: Clock
    limits: RateLimits

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthDeps:
        """The production wiring: Argon2id from settings, the system clock, shared limits.

        ``settings`` must have been through ``prepare_settings`` (the secret key is set).
        """
        if settings.secret_key is None:
            raise RuntimeError("prepare_settings() must run first: no secret key")
        return cls(
            settings=settings,
            passwords=Passwords(settings),
            seeds=SeedBox(settings.secret_key.get_secret_value()),
            clock=SystemClock(),
            limits=RateLimits(settings),
        )

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def production(self) -> bool:
        return self.settings.mode is Mode.PRODUCTION

    def two_factor_required(self, *, is_admin: bool) -> bool:
        return self.settings.two_factor_required_for(is_admin=is_admin, production=self.production)
