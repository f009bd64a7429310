"""The one blueprint every page module adds its routes to, and what pages share.

Pages are server-rendered; each module under ``strongroom.web`` (sign-in, files,
account, admin, ledger) registers its routes on ``bp`` so that every page is
``url_for("web.<name>")``. Views stay thin: parse the form, call one service, then
render (``page``) or redirect with a message (``see_other`` + ``flash``).

Every page gets a strict Content-Security-Policy (``strongroom.ops.headers``, with the
other security headers): scripts and styles only from the app's own ``/static``,
nothing inline, no third party, so the interface works fully offline and an injected
``<script>`` cannot run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, flash, render_template, request, url_for

from strongroom.auth.authn import csrf_token, current_principal, get_deps
from strongroom.auth.exceptions import (
    PasswordChangeRequired,
    TwoFactorSetupRequired,
    Unauthenticated,
)

bp = Blueprint("web", __name__)
FORM = "application/x-www-form-urlencoded"
# Flash categories the layout knows how to show (role=status or role=alert).
NOTICE = "notice"
ALERT = "alert"


@bp.errorhandler(Unauthenticated)
def _to_sign_in(_err: Unauthenticated) -> Response:
    """A page that needs a signed-in user sends the others to the sign-in page."""
    return see_other(url_for("web.login_page"))


# A restricted account (a temporary password, or 2FA required and not set up) may only
# open the pages that lift the restriction: any other page sends it there, with why.
@bp.errorhandler(PasswordChangeRequired)
def _to_password_change(_err: PasswordChangeRequired) -> Response:
    flash("Your password is temporary: choose your own password to continue.", ALERT)
    return see_other(url_for("web.account", _anchor="password"))


@bp.errorhandler(TwoFactorSetupRequired)
def _to_two_factor_setup(_err: TwoFactorSetupRequired) -> Response:
    flash("Your account must use two-factor authentication: set it up to continue.", ALERT)
    return see_other(url_for("web.security", _anchor="two-factor"))


def see_other(location: str) -> Response:
    """A 303 to ``location`` (after a form, the browser follows with a GET)."""
    return Response(status=303, headers={"Location": location})


def done(message: str, endpoint: str, **values: Any) -> Response:
    """After a form that worked: a message on the next page, then a 303 to it."""
    flash(message, NOTICE)
    return see_other(url_for(endpoint, **values))


def page(template: str, *, status: int = 200, **context: Any) -> Response:
    """Render a page for the signed-in user (or nobody): the layout needs the user,
    the session's CSRF token for its forms, and whether to show admin links."""
    principal = current_principal()
    if principal is not None and principal.session is not None:
        context.setdefault("user", principal.user)
        context.setdefault("csrf", csrf_token(get_deps(), principal.session))
    html = render_template(template, **context)
    return Response(html, status=status, mimetype="text/html")


def form_text(name: str, *, limit: int) -> str:
    """A form field as text, cut at ``limit`` characters (the service validates it;
    the cut only bounds what a page echoes back)."""
    return request.form.get(name, "")[:limit]


def int_arg(name: str, default: int, *, low: int = 1, high: int = 100_000) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        return default
    return max(low, min(value, high))


@bp.app_template_filter("filesize")
def filesize(size: int) -> str:
    """1536 -> "1.5 KB" (decimal units, as file managers show them)."""
    if size < 1000:
        return f"{size} byte" if size == 1 else f"{size} bytes"
    value = size / 1000
    for unit in ("KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


@bp.app_template_filter("when")
def when(moment: datetime | None) -> str:
    """A timestamp as people read it, in UTC (the page's JS may localise it)."""
    if moment is None:
        return "never"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")
