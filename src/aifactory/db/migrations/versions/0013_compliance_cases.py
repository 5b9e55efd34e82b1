"""compliance cases (a threshold a model version crossed or is forecast to, with its due date)
and evaluations (an evaluation job's metrics and data, attached to a model version)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "compliance_cases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("org_id", sa.String(32), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column(
            "model_version_id",
            sa.String(32),
            sa.ForeignKey("model_versions.id"),
            nullable=False,
        ),
        sa.Column("threshold", sa.String(20), nullable=False),
        sa.Column("basis", sa.String(20), nullable=False),
        sa.Column("flop", sa.Float(), nullable=False),
        sa.Column("limit_flop", sa.Float(), nullable=False),
        sa.Column("known_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("opened_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("closed_by", sa.String(32), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("model_version_id", "threshold", name="uq_compliance_cases_threshold"),
    )
    op.create_index("ix_compliance_cases_org_id", "compliance_cases", ["org_id"])
    op.create_index("ix_compliance_cases_state", "compliance_cases", ["state"])
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "model_version_id",
            sa.String(32),
            sa.ForeignKey("model_versions.id"),
            nullable=False,
        ),
        sa.Column("org_id", sa.String(32), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("job_id"),
    )
    op.create_index("ix_evaluations_model_version_id", "evaluations", ["model_version_id"])
    op.create_index("ix_evaluations_org_id", "evaluations", ["org_id"])


def downgrade() -> None:
    op.drop_table("evaluations")
    op.drop_table("compliance_cases")
