"""Tables of the data capability: datasets, their versions, uploads, replicas, grants and
transfers, and the datasets each job reads. Imported by ``tables`` so one metadata holds all."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aifactory.db.tables import Base


def _ts() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True))


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_datasets_project_name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    classification: Mapped[str] = mapped_column(String(20))
    licence: Mapped[str] = mapped_column(String(200))
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON)
    origin_country: Mapped[str] = mapped_column(String(2))
    home_site: Mapped[str] = mapped_column(String(64))
    # The residency policy: {"kind", "countries", "sites"} as domain.data.ResidencyPolicy.
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The dataset's data key, wrapped by the master key ``key_id`` (never the key itself).
    key_id: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class DatasetVersion(Base):
    """Immutable: content-addressed by the SHA-256 of its bytes."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number", name="uq_dataset_versions_number"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    chunk_bytes: Mapped[int] = mapped_column(Integer)
    chunks: Mapped[int] = mapped_column(Integer)
    files: Mapped[list[Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()


class DatasetUpload(Base):
    """A version being uploaded, chunk by chunk, to the dataset's home site; resumable."""

    __tablename__ = "dataset_uploads"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    site_id: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    chunk_bytes: Mapped[int] = mapped_column(Integer)
    chunks: Mapped[int] = mapped_column(Integer)
    files: Mapped[list[Any]] = mapped_column(JSON)
    store_handle: Mapped[str] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(20))  # open, completed, aborted
    version_id: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()


class UploadChunk(Base):
    """A chunk the store holds for an open upload, with its plaintext digest."""

    __tablename__ = "dataset_upload_chunks"
    upload_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_uploads.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)


class DatasetReplica(Base):
    """A version's bytes at one site."""

    __tablename__ = "dataset_replicas"
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    created_at: Mapped[datetime] = _ts()


class DatasetGrant(Base):
    """Read access for another project, until it expires or is revoked."""

    __tablename__ = "dataset_grants"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    granted_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(32))


class DatasetTransfer(Base):
    """One copy of a version's bytes: an upload to a site, a replica staged from site to site,
    or a download to a client. Append-only: the dataset's transfer log."""

    __tablename__ = "dataset_transfers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    version_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))  # upload, stage, download
    from_site: Mapped[str | None] = mapped_column(String(64))  # None: a client
    to_site: Mapped[str | None] = mapped_column(String(64))  # None: a client
    from_country: Mapped[str | None] = mapped_column(String(2))
    to_country: Mapped[str | None] = mapped_column(String(2))
    actor: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(32))
    legal_basis: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = _ts()


class JobDataset(Base):
    """A dataset version a job reads, resolved at submission."""

    __tablename__ = "job_datasets"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    ref: Mapped[str] = mapped_column(String(200))
