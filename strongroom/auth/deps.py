"""The dependencies every accounts service takes, bundled once per app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from strongroom.auth.passwords import Passwords
from strongroom.auth.tokens import SeedBox
from strongroom.clock import Clock
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

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def production(self) -> bool:
        return self.settings.mode is Mode.PRODUCTION

    def two_factor_required(self, *, is_admin: bool) -> bool:
        return self.settings.two_factor_required_for(is_admin=is_admin, production=self.production)
