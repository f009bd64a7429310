"""Every rate limit, named and registered here, and what each does when Redis is down.

Two kinds, one storage (Redis when ``STRONGROOM_REDIS_URL`` is set, else this
process's memory), both on the ``limits`` library that Flask-Limiter is built on:

- *Route limits* count every request to a route, keyed by client IP; Flask-Limiter
  applies them to views marked with ``@route_limit(name)``.
- *Failure counters* count only failures (wrong password, wrong 2FA code, bad bearer
  token), keyed by account, account + IP or IP; services ``check`` them before the
  secret is even looked at, so a lock-out answers the same whatever was typed.

When Redis stops answering, every limit keeps limiting from this process's memory
(a fresh window, per process) and Redis is tried again after ``RETRY_AFTER_OUTAGE``
seconds; with N processes an attacker gets at most N times the attempts while Redis
is down, never an unlimited number. Readiness lists ``redis`` as degraded meanwhile.

Per-IP limits count IPv6 clients by their /64 network (``network_of``).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from strongroom.auth.exceptions import Throttled
from strongroom.context import db_session
from strongroom.errors import STATUS_PROBLEMS, problem_response
from strongroom.ledger.services import record_event
from strongroom.ops import metrics
from strongroom.settings import Settings
from strongroom.settings_accounts import RateLimitSetting

log = logging.getLogger(__name__)

RETRY_AFTER_OUTAGE = 30.0
_REDIS_TIMEOUT = 0.5  # seconds: a dead Redis must not stall sign-in for long
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class NamedLimit:
    """One limit: the setting holding its rate, what it is keyed by, what it counts."""

    name: str
    setting: RateLimitSetting
    key: Literal["ip", "account", "account+ip", "link+ip"]
    counts: Literal["requests", "failures"]
    message: str


LIMITS: dict[str, NamedLimit] = {
    limit.name: limit
    for limit in (
        NamedLimit(
            "signin-ip", "rate_limit_signin_ip", "ip", "requests",
            "Too many sign-in attempts from your network; wait and try again.",
        ),
        NamedLimit(
            "signin-account-ip", "rate_limit_signin_account_ip", "account+ip", "failures",
            "Too many failed sign-ins for this account; wait and try again.",
        ),
        NamedLimit(
            "register-ip", "rate_limit_register_ip", "ip", "requests",
            "Too many registrations from your network; try again later.",
        ),
        NamedLimit(
            "password-check-ip", "rate_limit_password_check_ip", "ip", "requests",
            "Too many password checks from your network; wait a moment and try again.",
        ),
        NamedLimit(
            "2fa-account", "rate_limit_2fa_account", "account", "failures",
            "Too many wrong codes; wait and try again.",
        ),
        NamedLimit(
            "token-failures-ip", "rate_limit_token_failures_ip", "ip", "failures",
            "Too many requests with invalid tokens from your network; wait and try again.",
        ),
        NamedLimit(
            "password-account", "rate_limit_password_change", "account", "failures",
            "Too many wrong passwords; wait and try again.",
        ),
        NamedLimit(
            "link-ip", "rate_limit_link_ip", "ip", "requests",
            "Too many share-link requests from your network; wait and try again.",
        ),
        NamedLimit(
            "link-password", "rate_limit_link_password", "link+ip", "failures",
            "Too many wrong passwords for this share link; wait and try again.",
        ),
    )
}  # fmt: skip


class RateLimits:
    """Failure counters over the shared storage, falling back to memory when it fails."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._primary: MovingWindowRateLimiter | None = None
        if settings.redis_url:
            self._primary = MovingWindowRateLimiter(_redis_storage(settings.redis_url))
        self._down_until = 0.0
        self._lock = threading.Lock()

    def item(self, name: str) -> RateLimitItem:
        return parse(getattr(self._settings, LIMITS[name].setting))

    def check(self, name: str, *key: str) -> None:
        """Raise ``Throttled`` when the limit ``name`` is used up for ``key``."""
        item = self.item(name)
        if not self._call(lambda limiter: limiter.test(item, name, *key)):
            self._throttle(name, item, key)

    def acquire(self, name: str, *key: str) -> None:
        """Count one attempt *before* it is made; raise ``Throttled`` when none is left.

        Counting first closes the race of check-then-count: concurrent attempts cannot
        all pass the check while the first is still being verified. Callers ``clear``
        the key after a success, so in effect only failures accumulate.
        """
        item = self.item(name)
        if not self._call(lambda limiter: limiter.hit(item, name, *key)):
            self._throttle(name, item, key)

    def hit(self, name: str, *key: str) -> None:
        """Count one failure against ``key``."""
        item = self.item(name)
        self._call(lambda limiter: limiter.hit(item, name, *key))

    def clear(self, name: str, *key: str) -> None:
        """Forget ``key``'s failures (after a success, so a typo does not linger)."""
        item = self.item(name)
        self._call(lambda limiter: limiter.clear(item, name, *key))

    def _throttle(self, name: str, item: RateLimitItem, key: tuple[str, ...]) -> None:
        reset = self._call(lambda limiter: limiter.get_window_stats(item, name, *key).reset_time)
        retry_after = math.ceil(float(reset) - time.time()) if reset else item.get_expiry()
        metrics.count_rate_limited(name)
        raise Throttled(LIMITS[name].message, retry_after)

    def _call(self, operation: Callable[[MovingWindowRateLimiter], Any]) -> Any:
        primary = self._primary
        if primary is None or time.monotonic() < self._down_until:
            return operation(self._memory)
        try:
            return operation(primary)
        except Exception as err:  # noqa: BLE001  # any storage failure: keep limiting locally
            with self._lock:
                self._down_until = time.monotonic() + RETRY_AFTER_OUTAGE
            log.warning(
                "rate-limit storage unreachable; limiting from process memory",
                extra={"error_class": type(err).__name__},
            )
            return operation(self._memory)


def _redis_storage(url: str) -> Storage:
    storage = storage_from_string(
        url, socket_connect_timeout=_REDIS_TIMEOUT, socket_timeout=_REDIS_TIMEOUT
    )
    if not isinstance(storage, Storage):  # an asyncio storage: not for a WSGI app
        raise TypeError(f"{type(storage).__name__} is not a synchronous storage")
    return storage


def route_limit(name: str) -> Callable[[F], F]:
    """Mark a view to be limited by the route limit ``name`` (applied by ``init_app``)."""
    if LIMITS[name].counts != "requests":
        raise ValueError(f"{name} counts failures; services apply it, not a decorator")

    def decorate(view: F) -> F:
        view._strongroom_route_limit = name  # type: ignore[attr-defined]
        return view

    return decorate


def client_ip() -> str:
    """The client's address as the proxy settings allow us to know it."""
    return request.remote_addr or "unknown"


def network_of(ip: str) -> str:
    """What per-IP limits count by: the address for IPv4, the /64 network for IPv6.

    One IPv6 subscriber usually holds a whole /64 (2^64 addresses); counting single
    addresses would let them pick a fresh one for every attempt.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_network() -> str:
    return network_of(client_ip())


def _throttled_response(exc: RateLimitExceeded) -> Response:
    name = exc.limit.scope if isinstance(exc.limit.scope, str) else "route"
    route = request.url_rule.rule if request.url_rule else ""  # never the path: it may hold secrets
    metrics.count_rate_limited(name)
    if name == "signin-ip":  # the sign-in routes' own limit: a throttled sign-in too
        metrics.count_signin("throttled")
    db = db_session()
    record_event(
        db, "ratelimit:route:throttled", actor="anonymous", target=f"ip:{client_ip()}",
        details={"limit": name, "route": route}, at=datetime.now(UTC),
    )  # fmt: skip
    db.commit()
    retry_after = max(1, exc.limit.limit.get_expiry())
    return problem_response(
        STATUS_PROBLEMS[429],
        exc.description or "Too many requests.",
        headers={"Retry-After": str(retry_after)},
        extra={"retry_after": retry_after},
    )


def init_app(app: Flask, settings: Settings) -> None:
    """Build this app's limiter and apply the route limits to the views marked for them."""
    storage_uri = settings.redis_url or "memory://"
    options: dict[str, Any] = {}
    if settings.redis_url:
        options = {"socket_connect_timeout": _REDIS_TIMEOUT, "socket_timeout": _REDIS_TIMEOUT}
    limiter = Limiter(
        key_func=client_network,
        app=app,
        storage_uri=storage_uri,
        storage_options=options,
        strategy="moving-window",
        in_memory_fallback_enabled=True,
        headers_enabled=False,
        key_prefix="strongroom",
    )
    app.extensions["strongroom.limiter"] = limiter
    for endpoint, view in list(app.view_functions.items()):
        name = getattr(view, "_strongroom_route_limit", None)
        if name is None:
            continue
        setting = LIMITS[name].setting
        # Shared: every route marked with the same name draws on one budget per IP
        # (the password and the 2FA step of sign-in count together).
        limited = limiter.shared_limit(
            getattr(settings, setting),
            scope=name,
            error_message=LIMITS[name].message,
        )(view)
        app.view_functions[endpoint] = limited  # type: ignore[assignment]  # sync views only
    app.register_error_handler(RateLimitExceeded, _throttled_response)
