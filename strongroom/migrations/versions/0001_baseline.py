"""Baseline: the empty schema every later migration builds on.

It creates no table of its own: it gives `alembic_version` a first revision so the
start-up check ("is the schema current?") and `strongroom db current` work from the
very first release. Each domain adds its tables in a migration of its own.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to create: see the module docstring."""


def downgrade() -> None:
    """Nothing to drop."""
