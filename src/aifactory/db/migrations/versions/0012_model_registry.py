"""model registry: models, their versions with their lineage, and what a job produces (on the
job and, copied as it ends, on its usage record, which the ledger reads)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("org_id", sa.String(32), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("architecture", sa.String(200), nullable=False),
        sa.Column("modality_in", sa.JSON(), nullable=False),
        sa.Column("modality_out", sa.JSON(), nullable=False),
        sa.Column("licence", sa.String(200), nullable=False),
        sa.Column("intended_tasks", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("org_id", "name", name="uq_models_org_name"),
    )
    op.create_index("ix_models_org_id", "models", ["org_id"])
    op.create_index("ix_models_project_id", "models", ["project_id"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model_id", sa.String(32), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("org_id", sa.String(32), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("parameters", sa.BigInteger(), nullable=True),
        sa.Column("training_tokens", sa.BigInteger(), nullable=True),
        sa.Column(
            "base_version_id", sa.String(32), sa.ForeignKey("model_versions.id"), nullable=True
        ),
        sa.Column("base_external", sa.String(200), nullable=True),
        sa.Column("base_external_flop", sa.Float(), nullable=True),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_version"),
    )
    op.create_index("ix_model_versions_model_id", "model_versions", ["model_id"])
    op.create_index("ix_model_versions_org_id", "model_versions", ["org_id"])
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("model_version_id", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("purpose", sa.String(20), nullable=True))
        batch_op.add_column(sa.Column("utilisation", sa.Float(), nullable=True))
        batch_op.create_index("ix_jobs_model_version_id", ["model_version_id"])
    with op.batch_alter_table("usage_records") as batch_op:
        batch_op.add_column(sa.Column("model_version_id", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("purpose", sa.String(20), nullable=True))
        batch_op.add_column(sa.Column("utilisation", sa.Float(), nullable=True))
        batch_op.create_index(
            "ix_usage_records_ledger",
            [
                "model_version_id",
                "purpose",
                "site_id",
                "partition_id",
                "utilisation",
                "gpu_seconds",
                "elapsed_s",
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch_op:
        batch_op.drop_index("ix_usage_records_ledger")
        batch_op.drop_column("utilisation")
        batch_op.drop_column("purpose")
        batch_op.drop_column("model_version_id")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_model_version_id")
        batch_op.drop_column("utilisation")
        batch_op.drop_column("purpose")
        batch_op.drop_column("model_version_id")
    op.drop_table("model_versions")
    op.drop_table("models")
