"""Sharing: ``file_grants`` (files shared with named users) and ``share_links``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "file_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.String(length=24), nullable=False),
        sa.Column("grantee_id", sa.Integer(), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_file_grants_file_id_files"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["grantee_id"],
            ["users.id"],
            name=op.f("fk_file_grants_grantee_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_grants")),
        sa.UniqueConstraint("file_id", "grantee_id", name="uq_file_grants_file_grantee"),
    )
    op.create_index(
        "ix_file_grants_grantee", "file_grants", ["grantee_id", "created_at"], unique=False
    )
    op.create_table(
        "share_links",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.String(length=24), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_downloads", sa.Integer(), nullable=True),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_share_links_file_id_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_share_links_token_hash")),
    )
    op.create_index("ix_share_links_file", "share_links", ["file_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_share_links_file", table_name="share_links")
    op.drop_table("share_links")
    op.drop_index("ix_file_grants_grantee", table_name="file_grants")
    op.drop_table("file_grants")
