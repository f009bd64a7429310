"""The root of every exception Strongroom raises on purpose.

Each domain derives its own family from ``StrongroomError``; ``strongroom.errors``
maps each family to a problem type once. ``headers`` lets an exception carry
response headers (``Retry-After``, ``WWW-Authenticate``) to the error handler.
"""

from __future__ import annotations

from collections.abc import Mapping


class StrongroomError(Exception):
    """An expected failure with a message that is safe to show to the client."""

    headers: Mapping[str, str] = {}
    extra: Mapping[str, object] = {}
