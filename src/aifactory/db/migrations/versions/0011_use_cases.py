"""use cases: each project's answers to the AI Act's questions, its risk class and review

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "use_cases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("org_id", sa.String(32), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("intended_purpose", sa.Text(), nullable=False),
        sa.Column("sector", sa.String(100), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("derived_class", sa.String(20), nullable=False),
        sa.Column("review", sa.String(20), nullable=True),
        sa.Column("override_class", sa.String(20), nullable=True),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("reviewed_by", sa.String(32), nullable=True),
        sa.Column("reviewed_at", _TS, nullable=True),
        sa.Column("updated_by", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("project_id"),
    )
    op.create_index("ix_use_cases_org_id", "use_cases", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_use_cases_org_id", "use_cases")
    op.drop_table("use_cases")
