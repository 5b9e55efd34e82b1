"""job list indexes: every filter of the jobs list (none, state, organisation, project,
submitter, site) has an index ending in created_at, so a page is read newest first off it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 00:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_state")
        batch_op.drop_index("ix_jobs_project_id")
        batch_op.create_index("ix_jobs_created", ["created_at", "id"])
        batch_op.create_index("ix_jobs_state_created", ["state", "created_at"])
        batch_op.create_index("ix_jobs_project_created", ["project_id", "created_at"])
        batch_op.create_index("ix_jobs_user_created", ["user_id", "created_at"])
        batch_op.create_index("ix_jobs_user_state", ["user_id", "state", "created_at"])
        batch_op.create_index("ix_jobs_site_created", ["site_id", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_site_created")
        batch_op.drop_index("ix_jobs_user_state")
        batch_op.drop_index("ix_jobs_user_created")
        batch_op.drop_index("ix_jobs_project_created")
        batch_op.drop_index("ix_jobs_state_created")
        batch_op.drop_index("ix_jobs_created")
        batch_op.create_index("ix_jobs_project_id", ["project_id"])
        batch_op.create_index("ix_jobs_state", ["state"])
