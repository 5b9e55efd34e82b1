"""Tables of the compliance capability: each project's use case (its answers to the AI Act's
questions, the class they give, and a compliance officer's review). Imported by ``tables`` so
one metadata holds all."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, Text
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
