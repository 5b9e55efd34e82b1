"""Request and response models of the compliance capability: the use-case register."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from aifactory.compliance.risk import RiskClass
from aifactory.services.compliance.use_cases import Review
from aifactory.services.ids import as_utc

Utc = Annotated[datetime, AfterValidator(as_utc)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuestionPublic(BaseModel):
    id: str
    article: str
    text: str
    gives: RiskClass = Field(description="The class a yes gives.")
    area: str


class UseCaseRegister(Strict):
    intended_purpose: str = Field(max_length=2000, description="What the AI system is for.")
    sector: str = Field(max_length=100, examples=["customer service"])
    answers: dict[str, bool] = Field(
        description="Every question of GET /compliance/questions, by id: true or false."
    )


class FindingPublic(BaseModel):
    question: str
    article: str
    answer: bool
    says: str


class UseCasePublic(BaseModel):
    id: str
    project_id: str
    org_id: str
    intended_purpose: str
    sector: str
    risk_class: RiskClass = Field(description="The class in force: the review's, or derived.")
    derived_class: RiskClass
    areas: list[str] = Field(description="Annex III areas answered yes.")
    practices: list[str] = Field(description="Art. 5 prohibited practices answered yes.")
    obligations: list[str] = Field(description="Art. 50 transparency obligations.")
    blocks_compute: bool
    rationale: list[FindingPublic]
    review: Review | None
    review_reason: str | None
    reviewed_by: str | None
    reviewed_at: Utc | None
    updated_at: Utc


class UseCaseReview(Strict):
    decision: Review
    reason: str = Field(max_length=2000, description="Why; recorded and audited.")
    risk_class: RiskClass | None = Field(
        default=None, description="With decision overridden: the class it is instead."
    )
