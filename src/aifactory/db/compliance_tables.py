"""Tables of the compliance capability: each project's use case (its answers to the AI Act's
questions, the class they give, and a compliance officer's review) and the model registry
(models and their versions with their lineage; a job names the version it produces in
``jobs.model_version_id``). Imported by ``tables`` so one metadata holds all."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aifactory.db.tables import Base


def _ts() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True))


class UseCase(Base):
    """One per project: what the project's AI system is for, and its risk class."""

    __tablename__ = "use_cases"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    intended_purpose: Mapped[str] = mapped_column(Text)
    sector: Mapped[str] = mapped_column(String(100))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)  # question id -> bool
    derived_class: Mapped[str] = mapped_column(String(20))  # compliance.risk.RiskClass
    # A compliance officer's review of the derived class: confirmed, or overridden to another
    # class, each with its reason. New answers clear it (the review was of other answers).
    review: Mapped[str | None] = mapped_column(String(20))  # confirmed, overridden
    override_class: Mapped[str | None] = mapped_column(String(20))
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(32))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class Model(Base):
    """A model an organisation trains or adapts on the platform (the registry's entry)."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_models_org_name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    architecture: Mapped[str] = mapped_column(String(200))
    modality_in: Mapped[list[Any]] = mapped_column(JSON)
    modality_out: Mapped[list[Any]] = mapped_column(JSON)
    licence: Mapped[str] = mapped_column(String(200))
    intended_tasks: Mapped[list[Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()


class ModelVersion(Base):
    """One version of a model, and what it was built on: another registered version (its
    lineage), an external model with its declared training compute (None: unknown), or
    nothing (trained from scratch)."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_versions_version"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    version: Mapped[str] = mapped_column(String(50))
    parameters: Mapped[int | None] = mapped_column(BigInteger)
    training_tokens: Mapped[int | None] = mapped_column(BigInteger)
    base_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    base_external: Mapped[str | None] = mapped_column(String(200))
    base_external_flop: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()


class ComplianceCase(Base):
    """A threshold a model version crossed (or is forecast to), opened by the deadlines loop,
    with the notification's due date; open until a compliance officer closes it with a
    reason. One per version and threshold: a forecast that becomes actual is the same case."""

    __tablename__ = "compliance_cases"
    __table_args__ = (
        UniqueConstraint("model_version_id", "threshold", name="uq_compliance_cases_threshold"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    threshold: Mapped[str] = mapped_column(String(20))  # compliance.compute.Threshold
    basis: Mapped[str] = mapped_column(String(20))  # actual, forecast
    flop: Mapped[float] = mapped_column(Float)
    limit_flop: Mapped[float] = mapped_column(Float)
    known_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20), index=True)  # domain.compliance.CaseState
    opened_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(32))
    close_reason: Mapped[str | None] = mapped_column(Text)


class Evaluation(Base):
    """What an evaluation job measured of a model version: named metrics, and the dataset
    versions it read (the job's, resolved at its submission)."""

    __tablename__ = "evaluations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)  # name -> number
    datasets: Mapped[list[Any]] = mapped_column(JSON)  # the job's dataset refs, name@version
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()
