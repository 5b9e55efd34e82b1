"""organisation restrictions: where an operator lets an organisation's jobs run

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allowed_sites", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("allowed_countries", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("restriction_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("restricted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("restricted_at")
        batch_op.drop_column("restriction_reason")
        batch_op.drop_column("allowed_countries")
        batch_op.drop_column("allowed_sites")
