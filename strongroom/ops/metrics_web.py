"""Metrics in the app: the per-request hooks and ``GET /metrics``.

``/metrics`` is served on the app's port only when ``STRONGROOM_METRICS_TOKEN`` is
set, and only to a request that presents it as a bearer token (compared in constant
time); without the setting the route answers 404, as if it did not exist. The route
declares ``own_credential``: its ``Authorization`` header is the metrics token, not
a user's, so no account is looked up and a scrape never counts as a failed token.
For a Prometheus on a private network, ``STRONGROOM_METRICS_BIND`` serves the same
metrics without a token from the gunicorn master (``metrics_server``).
"""

from __future__ import annotations

import hmac
import time

from apiflask import APIBlueprint
from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import NotFound

from strongroom.auth.exceptions import Unauthenticated
from strongroom.auth.policy import own_credential
from strongroom.db import Database
from strongroom.ops import metrics
from strongroom.ops.metrics_db import LedgerCollector, instrument_pool
from strongroom.settings import Settings

EXTENSION = "strongroom.metrics"

bp = APIBlueprint("metrics", __name__)


class MetricsConfig:
    """What ``/metrics`` needs from the app: the token and the ledger collector."""

    def __init__(self, token: str | None, collector: LedgerCollector) -> None:
        self.token = token.encode("utf-8") if token else None
        self.collector = collector


@bp.get("/metrics")
@own_credential("ops:metrics")
@bp.doc(hide=True)  # an operator's endpoint in Prometheus' format, not part of the JSON API
def scrape() -> Response:
    config: MetricsConfig = current_app.extensions[EXTENSION]
    if config.token is None:
        raise NotFound  # not configured: the route does not exist for anyone
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    matches = hmac.compare_digest(offered.strip().encode("utf-8"), config.token)
    if scheme.lower() != "bearer" or not matches:
        raise Unauthenticated("GET /metrics needs the metrics bearer token.")
    body, content_type = metrics.exposition(
        [config.collector], accept=request.headers.get("Accept")
    )
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def _start() -> None:
    metrics.get().requests_in_progress.inc()
    g.metrics_in_progress = True


def _observe(response: Response) -> Response:
    started = g.get("started")  # set first thing by strongroom.middleware
    seconds = time.perf_counter() - started if started is not None else None
    rule = request.url_rule
    metrics.observe_request(
        rule.rule if rule is not None else None, request.method, response.status_code, seconds
    )
    return response


def _finish(_exc: BaseException | None) -> None:
    if g.pop("metrics_in_progress", False):
        metrics.get().requests_in_progress.dec()


def init_app(app: Flask, settings: Settings, database: Database) -> None:
    """Count every request, keep the pool gauges, and serve ``/metrics``."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    collector = LedgerCollector(lambda: database.session(write=False))
    app.extensions[EXTENSION] = MetricsConfig(token or None, collector)
    instrument_pool(database.engine)
    app.before_request(_start)
    app.after_request(_observe)
    app.teardown_request(_finish)
    app.register_blueprint(bp)
