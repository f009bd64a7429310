"""The application factory: settings, logging, database, extensions, blueprints."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask
from flask_cors import CORS
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from strongroom import __version__, api, context, errors, middleware, ratelimit, web
from strongroom.admin import views as admin_views
from strongroom.admin.bootstrap import bootstrap_admin
from strongroom.api import PROBLEM_SCHEMA, VALIDATION_PROBLEM_SCHEMA
from strongroom.auth import authn
from strongroom.auth import views as auth_views
from strongroom.auth.deps import AuthDeps
from strongroom.auth.openapi import requirement_processor
from strongroom.db import Database, schema_status
from strongroom.files import deps as files_deps
from strongroom.files import views as files_views
from strongroom.files.deps import FileDeps
from strongroom.guard import prepare_settings
from strongroom.ledger import views as ledger_views
from strongroom.ledger import web as ledger_web
from strongroom.ledger.keys import load_signer
from strongroom.logs import configure_logging
from strongroom.ops import errortracking, headers
from strongroom.ops.metrics_web import init_app as init_metrics
from strongroom.ops.views import bp as ops_bp
from strongroom.settings import (
    ConfigError,
    Mode,
    Settings,
    load_settings,
    unknown_environment_names,
)
from strongroom.sharing import link_views
from strongroom.sharing import public as share_public
from strongroom.sharing import views as sharing_views
from strongroom.sharing import web as sharing_web

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app(overrides: Mapping[str, Any] | None = None) -> APIFlask:
    """Build a fully wired app from the environment plus ``overrides``.

    Raises ``ConfigError`` (one sentence per problem) when the settings are unfit
    for the mode, the database cannot be reached, or migrations are pending.
    """
    settings = load_settings(overrides)
    configure_logging(settings.log_level, settings.log_format)
    settings = prepare_settings(settings)
    try:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            [f"STRONGROOM_DATA_DIR ({settings.data_dir}) cannot be created: {err.strerror}."]
        ) from err
    for name in unknown_environment_names():
        log.warning("ignoring unknown setting %s (a typo?)", name)
    database = Database(settings)
    try:
        ensure_schema_current(database)
    except ConfigError:
        database.dispose()
        raise

    app = APIFlask(
        "strongroom",
        title="Strongroom API",
        version=__version__,
        spec_path=f"{API_PREFIX}/openapi.json",
        docs_path=None,  # the bundled UIs load scripts from CDNs; the spec is enough
        json_errors=False,
        template_folder="web/templates",
        static_folder="web/static",
    )
    _configure(app, settings)
    middleware.init_app(app)  # first, so every later hook sees the request id
    errortracking.init_app(app, settings)  # Sentry, when configured; tags the request id
    headers.init_app(app, settings)  # the HTTPS redirect before any other work
    context.init_app(app, settings, database)
    init_metrics(app, settings, database)  # counts every request, serves /metrics
    errors.init_app(app)
    api.init_app(app)
    _init_cors(app, settings)
    if settings.trusted_proxy_hops:
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    app.register_blueprint(ops_bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(ledger_views.bp)
    app.register_blueprint(files_views.bp)
    app.register_blueprint(sharing_views.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(link_views.bp)
    app.register_blueprint(share_public.bp)
    deps = AuthDeps.from_settings(settings)
    authn.init_app(app, deps)
    sharing_web.init_app(app)  # ledgers scope refusals on file routes
    api.add_spec_processor(app, requirement_processor(app))
    ratelimit.init_app(app, settings)  # after the blueprints: it wraps their views
    try:
        ledger_web.init_app(app, settings, load_signer(settings))
        files_deps.init_app(app, FileDeps.from_settings(settings))
        bootstrap_admin(database, deps)
    except ConfigError:
        database.dispose()
        raise
    return app


def ensure_schema_current(database: Database) -> None:
    try:
        with database.engine.connect() as connection:
            status = schema_status(connection)
    except SQLAlchemyError as err:
        raise ConfigError(
            [
                f"The database cannot be reached ({type(err).__name__}): check "
                "STRONGROOM_DATABASE_URL and that the server is running."
            ]
        ) from err
    if not status.is_current:
        current = ",".join(status.current) or "an empty schema"
        raise ConfigError(
            [
                f"The database is at {current} but this release needs "
                f"{','.join(status.heads)}: run `strongroom db upgrade` first."
            ]
        )


def _configure(app: APIFlask, settings: Settings) -> None:
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    app.config.update(
        SECRET_KEY=secret,
        # Flask's signed cookie carries only flash messages between a form and the
        # page after it; the sign-in session is Strongroom's own cookie.
        SESSION_COOKIE_NAME="strongroom_flash",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies(
            development=settings.mode is Mode.DEVELOPMENT
        ),
        DEBUG=settings.debug,
        STRONGROOM_MODE=settings.mode,
        # The ceiling for any body; each route lowers it (see bodies.accepts_body).
        MAX_CONTENT_LENGTH=max(settings.max_upload_size, settings.max_request_size),
        HTTP_ERROR_SCHEMA=PROBLEM_SCHEMA,
        VALIDATION_ERROR_SCHEMA=VALIDATION_PROBLEM_SCHEMA,
        VALIDATION_ERROR_DESCRIPTION="Validation failed (problem+json naming each field)",
        INFO={
            "description": "Strongroom's JSON API. Errors are application/problem+json "
            "(RFC 9457) with a stable `type` URI and the request id."
        },
    )


def _init_cors(app: APIFlask, settings: Settings) -> None:
    origins = settings.cors_origins
    if not origins:
        return  # no origin is allowed, so no CORS header is ever sent
    wildcard = "*" in origins
    # flask-cors reads any origin string with regex characters (IPv6 brackets, dots
    # aside) as a pattern; anchored, escaped patterns make each one match only itself.
    exact = [re.compile("^" + re.escape(origin) + "$") for origin in origins]
    CORS(
        app,
        resources={r"/api/*": {"origins": "*" if wildcard else exact}},
        # Credentials only ever go to origins named one by one, never to '*'.
        supports_credentials=not wildcard,
        send_wildcard=wildcard,
        allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-ID"],
        expose_headers=[middleware.REQUEST_ID_HEADER],
        max_age=600,
        always_send=False,  # no CORS headers without an Origin: the list stays private
    )
