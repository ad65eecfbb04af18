"""The careers service's side: settings per workspace or server, their audit, hand-offs.

``community_settings`` holds what admins set in the app (``/rebound admin``) per platform and
workspace or guild; ``community_audit`` who changed what and when; ``handoffs`` the summaries a
person approved for their careers service's staff channel (deleted with the person).
``users.community`` is the Discord server a person first reached Rebound from.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("community", sa.String(length=64), nullable=True))
    op.create_table(
        "community_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "workspace"),
    )
    op.create_table(
        "community_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_community_audit_ws", "community_audit", ["platform", "workspace", "created_at"]
    )
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_handoffs_user_id", "handoffs", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_user_id", table_name="handoffs")
    op.drop_table("handoffs")
    op.drop_index("ix_community_audit_ws", table_name="community_audit")
    op.drop_table("community_audit")
    op.drop_table("community_settings")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("community")
