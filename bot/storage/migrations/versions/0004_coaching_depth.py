"""The name a person signs with; the employer's own reply to a feedback request.

``users.sign_name`` is asked once (or taken from the Slack profile) and used in greetings and
email drafts. ``feedback_requests.reply_text`` keeps what the employer wrote, so it can be
tagged for themes and used to suggest sharper second-round questions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sign_name", sa.String(length=80), nullable=True))
    with op.batch_alter_table("feedback_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback_requests", schema=None) as batch_op:
        batch_op.drop_column("reply_text")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("sign_name")
