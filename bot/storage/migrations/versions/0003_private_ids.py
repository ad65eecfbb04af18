"""Ids never reused; processed events know whose turn they were.

``users`` gets AUTOINCREMENT on SQLite (a copy of the table, rows and ids kept: Alembic's batch
mode; ``Database.upgrade`` turns foreign keys off around it so dropping the old table cannot
cascade). PostgreSQL's sequence never reused ids, so nothing changes there.
``processed_events.user_id`` (nullable, SET NULL on delete) lets ``forget me`` delete a
person's events; older rows stay null and are pruned by age.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FK = "fk_processed_events_user_id"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        with op.batch_alter_table(
            "users", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_processed_events_user_id"), ["user_id"], unique=False)
        batch_op.create_foreign_key(FK, "users", ["user_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_processed_events_user_id"))
        batch_op.drop_column("user_id")
    if _sqlite():
        with op.batch_alter_table(
            "users", recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ):
            pass
