"""job arrays, dependencies' bookkeeping, a job's resources on its partition, its log paths

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("array_job_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("array_index", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("array_tasks", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("resolved", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("logs", sa.JSON(), nullable=True))
        batch_op.create_index("ix_jobs_array_job_id", ["array_job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_array_job_id")
        batch_op.drop_column("logs")
        batch_op.drop_column("resolved")
        batch_op.drop_column("array_tasks")
        batch_op.drop_column("array_index")
        batch_op.drop_column("array_job_id")
