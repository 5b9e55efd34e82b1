"""datasets: versions, uploads and their chunks, replicas, grants, transfers, jobs' datasets

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("org_id", sa.String(32), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("classification", sa.String(20), nullable=False),
        sa.Column("licence", sa.String(200), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("origin_country", sa.String(2), nullable=False),
        sa.Column("home_site", sa.String(64), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_datasets_project_name"),
    )
    op.create_index("ix_datasets_org_id", "datasets", ["org_id"])
    op.create_index("ix_datasets_project_id", "datasets", ["project_id"])
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("dataset_id", "number", name="uq_dataset_versions_number"),
    )
    op.create_index("ix_dataset_versions_dataset_id", "dataset_versions", ["dataset_id"])
    op.create_table(
        "dataset_uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("store_handle", sa.String(1024), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("version_id", sa.String(32), nullable=True),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_dataset_uploads_dataset_id", "dataset_uploads", ["dataset_id"])
    op.create_table(
        "dataset_upload_chunks",
        sa.Column(
            "upload_id",
            sa.String(32),
            sa.ForeignKey("dataset_uploads.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("index", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
    )
    op.create_table(
        "dataset_replicas",
        sa.Column(
            "version_id", sa.String(32), sa.ForeignKey("dataset_versions.id"), primary_key=True
        ),
        sa.Column("site_id", sa.String(64), primary_key=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_dataset_replicas_dataset_id", "dataset_replicas", ["dataset_id"])
    op.create_table(
        "dataset_grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("granted_by", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("revoked_by", sa.String(32), nullable=True),
    )
    op.create_index("ix_dataset_grants_dataset_id", "dataset_grants", ["dataset_id"])
    op.create_index("ix_dataset_grants_project_id", "dataset_grants", ["project_id"])
    op.create_table(
        "dataset_transfers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("version_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("from_site", sa.String(64), nullable=True),
        sa.Column("to_site", sa.String(64), nullable=True),
        sa.Column("from_country", sa.String(2), nullable=True),
        sa.Column("to_country", sa.String(2), nullable=True),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_index("ix_dataset_transfers_dataset_id", "dataset_transfers", ["dataset_id"])
    op.create_table(
        "job_datasets",
        sa.Column(
            "job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "version_id", sa.String(32), sa.ForeignKey("dataset_versions.id"), primary_key=True
        ),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
    )
    op.create_index("ix_job_datasets_dataset_id", "job_datasets", ["dataset_id"])


def downgrade() -> None:
    for name in (
        "job_datasets",
        "dataset_transfers",
        "dataset_grants",
        "dataset_replicas",
        "dataset_upload_chunks",
        "dataset_uploads",
        "dataset_versions",
        "datasets",
    ):
        op.drop_table(name)
