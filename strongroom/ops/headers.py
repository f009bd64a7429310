"""Security headers on every response, and the redirect from plain HTTP to HTTPS.

One place decides them all, for pages, API answers, problem+json errors, downloads,
share-link pages and static files. A view may set a stricter header of its own
(downloads send a sandbox CSP, share-link pages ``Referrer-Policy: no-referrer``);
those are kept, never loosened.

Why not Flask-Talisman: its last release is from 2023, and what Strongroom needs is a
few fixed headers plus a redirect whose target comes from the configured public URL
rather than the request's ``Host``; the module below is shorter than Talisman's
configuration of it would be.
"""

from __future__ import annotations

import logging
from urllib.parse import quote, urlsplit

from flask import Flask, Response, request

from strongroom.settings import Mode, Settings

log = logging.getLogger(__name__)

# Pages load only what the app serves itself: no inline code, no third parties, so an
# injected <script> cannot run and the interface works offline.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Everything that is not a page (JSON, problem+json, CSS, JS) loads nothing when a
# browser opens it directly, and may not be framed.
NON_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'"
# Powerful features the interface never uses, denied to it and to anything it embeds.
# Only features Chromium and Firefox recognise: an unknown name is a console error.
DENIED_FEATURES = (
    "accelerometer",
    "camera",
    "display-capture",
    "geolocation",
    "gyroscope",
    "hid",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "screen-wake-lock",
    "serial",
    "usb",
    "xr-spatial-tracking",
)
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in DENIED_FEATURES)
# Always answered over plain HTTP: load balancers and orchestrators probe the app
# directly, behind the proxy that terminates TLS, and Prometheus scrapes /metrics on
# the app's port (the proxy never serves it), so a redirect would only send it to a 404.
PLAIN_HTTP_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# What may stay unescaped when a request path is put back into a Location header.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def hsts_value(settings: Settings) -> str | None:
    """The ``Strict-Transport-Security`` value, or None when none is sent."""
    if settings.mode is not Mode.PRODUCTION or settings.hsts_seconds <= 0:
        return None
    value = f"max-age={settings.hsts_seconds}"
    if settings.hsts_include_subdomains:
        value += "; includeSubDomains"
    if settings.hsts_preload:
        value += "; preload"
    return value


def https_origin(base_url: str) -> str:
    """``https://host[:port]`` of the configured public URL.

    The port is kept only from an ``https://`` base URL: the port of an ``http://`` one
    is the plain-HTTP port, and the HTTPS site is then on the default 443.
    """
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.scheme == "https" and parts.port is not None:
        return f"https://{host}:{parts.port}"
    return f"https://{host}"


def add_security_headers(response: Response, *, hsts: str | None) -> Response:
    headers = response.headers
    page = response.mimetype == "text/html"
    headers.setdefault("Content-Security-Policy", PAGE_CSP if page else NON_PAGE_CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for old browsers
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    # Other sites cannot embed any response (no hot-linked downloads); CORS requests
    # from the configured origins are not affected.
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    if hsts is not None and request.is_secure:
        # Browsers ignore HSTS over plain HTTP; sent only where it means something.
        headers.setdefault("Strict-Transport-Security", hsts)
    return response


def redirect_target(origin: str) -> str:
    """The HTTPS URL of the current request on ``origin`` (path and query kept)."""
    path = quote(request.script_root + request.path, safe=_PATH_SAFE)
    query = request.query_string.decode("latin-1")
    return f"{origin}{path}?{query}" if query else f"{origin}{path}"


def init_app(app: Flask, settings: Settings) -> None:
    """Add the headers to every response; redirect plain HTTP when the settings say so."""
    hsts = hsts_value(settings)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        return add_security_headers(response, hsts=hsts)

    if not settings.https_redirect_on(production=settings.mode is Mode.PRODUCTION):
        return
    origin = https_origin(settings.base_url)
    if urlsplit(settings.base_url).scheme != "https":
        log.warning(
            "plain-HTTP requests are redirected to %s, but STRONGROOM_BASE_URL is not "
            "https://: links the app builds would still say http",
            origin,
        )

    @app.before_request
    def _redirect_to_https() -> Response | None:
        if request.is_secure or request.path in PLAIN_HTTP_PATHS:
            return None
        # 308, not 301: clients repeat the same method and body (an API POST stays a
        # POST). The host comes from the settings, never from the request's Host header.
        return Response(status=308, headers={"Location": redirect_target(origin)})
