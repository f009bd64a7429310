"""The Merkle ledger: ledger_entries, ledger_nodes, ledger_head, ledger_checkpoints.

Every row of ``audit_events`` becomes a ledger entry, in id order, with a fresh salt
(docs/spec/ledger.md, version 1), and the old table goes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import secrets
from datetime import UTC

import sqlalchemy as sa
from alembic import op

from strongroom.ledger.canonical import canonical_bytes
from strongroom.ledger.merkle import CompactRange, leaf_hash

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    entries = op.create_table(
        "ledger_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("salt", sa.LargeBinary(length=16), nullable=True),
        sa.Column("event", sa.LargeBinary(), nullable=True),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_ledger_entries")),
    )
    op.create_index("ix_ledger_entries_actor", "ledger_entries", ["actor"], unique=False)
    op.create_index(op.f("ix_ledger_entries_tag"), "ledger_entries", ["tag"], unique=False)
    op.create_index("ix_ledger_entries_target", "ledger_entries", ["target"], unique=False)
    nodes = op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_ledger_nodes")),
    )
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_head")),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_ledger_checkpoints")),
    )
    size = _move_audit_events(entries, nodes)
    op.bulk_insert(head, [{"id": 1, "size": size}])
    op.drop_index("ix_audit_events_target", table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_tag"), table_name="audit_events")
    op.drop_index("ix_audit_events_actor", table_name="audit_events")
    op.drop_table("audit_events")


def _move_audit_events(entries: sa.Table, nodes: sa.Table) -> int:
    old = sa.table(
        "audit_events",
        sa.column("id", sa.BigInteger()),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("tag", sa.String()),
        sa.column("actor", sa.String()),
        sa.column("target", sa.String()),
        sa.column("details", sa.JSON()),
        sa.column("request_id", sa.String()),
    )
    connection = op.get_bind()
    tree = CompactRange()
    rows = connection.execute(sa.select(old).order_by(old.c.id)).mappings()
    for index, row in enumerate(rows):
        when = row["occurred_at"]  # naive UTC on SQLite, aware on PostgreSQL
        utc = when.astimezone(UTC) if when.tzinfo else when
        stamp = utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event = {
            "v": 1, "index": index, "time": stamp, "tag": row["tag"], "actor": row["actor"],
            "target": row["target"], "details": row["details"] or {},
            "request_id": row["request_id"],
        }  # fmt: skip
        salt = secrets.token_bytes(16)
        body = canonical_bytes(event)
        leaf = leaf_hash(salt + body)
        connection.execute(
            entries.insert().values(
                idx=index, occurred_at=when, tag=row["tag"], actor=row["actor"],
                target=row["target"], details=row["details"] or {},
                request_id=row["request_id"], salt=salt, event=body, leaf_hash=leaf,
            )
        )  # fmt: skip
        for (level, node_index), digest in tree.append(leaf):
            connection.execute(nodes.insert().values(level=level, idx=node_index, hash=digest))
    return tree.size


def downgrade() -> None:
    raise NotImplementedError("the ledger cannot be turned back into plain rows")
