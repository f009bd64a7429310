"""Files: the ``files`` table (metadata, content hashes, wrapped data keys).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("name_key", sa.String(length=255), nullable=False),
        sa.Column("original_name", sa.LargeBinary(length=4096), nullable=False),
        sa.Column("content_type", sa.String(length=127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("blob_key", sa.String(length=32), nullable=False),
        sa.Column("ciphertext_size", sa.BigInteger(), nullable=False),
        sa.Column("ciphertext_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("segment_size", sa.Integer(), nullable=False),
        sa.Column("key_provider", sa.String(length=32), nullable=False),
        sa.Column("key_version", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("upload_entry", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_files_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("blob_key", name=op.f("uq_files_blob_key")),
    )
    op.create_index("ix_files_owner_created", "files", ["owner_id", "created_at"], unique=False)
    op.create_index("ix_files_owner_name", "files", ["owner_id", "name_key"], unique=False)
    op.create_index(op.f("ix_files_key_version"), "files", ["key_version"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_files_key_version"), table_name="files")
    op.drop_index("ix_files_owner_name", table_name="files")
    op.drop_index("ix_files_owner_created", table_name="files")
    op.drop_table("files")
