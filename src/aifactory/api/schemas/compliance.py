"""Request and response models of the compliance capability: the use-case register."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, create_model

from aifactory.compliance.risk import QUESTIONS, RiskClass
from aifactory.domain.models import Modality
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


# Not blank: at least one character that is not white space.
Said = Annotated[str, Field(min_length=1, pattern=r"\S")]

# Every question of the register, by id, answered true or false (the schema lists them).
UseCaseAnswers: type[BaseModel] = create_model(
    "UseCaseAnswers",
    __config__=ConfigDict(extra="forbid"),
    **{q.id: (StrictBool, Field(description=f"{q.article}: {q.text}")) for q in QUESTIONS},
)


class UseCaseRegister(Strict):
    intended_purpose: Said = Field(max_length=2000, description="What the AI system is for.")
    sector: Said = Field(max_length=100, examples=["customer service"])
    answers: UseCaseAnswers = Field(
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
    reason: Said = Field(min_length=10, max_length=2000, description="Why; recorded and audited.")
    risk_class: RiskClass | None = Field(
        default=None, description="With decision overridden: the class it is instead."
    )


# -- the model registry -----------------------------------------------------------------------
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")]
Short = Annotated[str, Field(max_length=200)]


class ModelCreate(Strict):
    project_id: str = Field(max_length=64)
    name: Name
    architecture: Said = Field(max_length=200, examples=["decoder-only transformer"])
    modality_in: list[Modality] = Field(min_length=1, max_length=8, examples=[["text"]])
    modality_out: list[Modality] = Field(min_length=1, max_length=8, examples=[["text"]])
    licence: Short = Field(default="", examples=["Apache-2.0"])
    intended_tasks: list[Short] = Field(default_factory=list, max_length=50)


class VersionCreate(Strict):
    version: Said = Field(max_length=50)
    parameters: int | None = Field(
        default=None, ge=1, le=10**15, description="N, for the 6·N·D estimate."
    )
    training_tokens: int | None = Field(
        default=None, ge=1, le=10**16, description="D, for the 6·N·D estimate."
    )
    base_version_id: str | None = Field(
        default=None, max_length=64, description="A registered version of the organisation."
    )
    base_external: Said | None = Field(
        default=None, max_length=200, description="Or an external base model, by name."
    )
    base_external_flop: float | None = Field(
        default=None,
        gt=0,
        le=1e30,
        description="Its declared training compute, FLOP; null: unknown.",
    )


class VersionPublic(BaseModel):
    id: str
    model_id: str
    version: str
    parameters: int | None
    training_tokens: int | None
    base_version_id: str | None
    base_external: str | None
    base_external_flop: float | None
    created_at: Utc


class ModelPublic(BaseModel):
    id: str
    org_id: str
    project_id: str
    name: str
    architecture: str
    modality_in: list[str]
    modality_out: list[str]
    licence: str
    intended_tasks: list[str]
    created_at: Utc
    versions: list[VersionPublic]


class JobComputePublic(BaseModel):
    job_id: str
    gpu_seconds: int
    flop: float
    utilisation: float
    measured: bool = Field(description="The job's measured utilisation, not the default.")
    kwh: float
    kg_co2e: float


class LedgerPublic(BaseModel):
    flop: float = Field(description="Hardware-based: GPU-seconds x peak dense BF16 x utilisation.")
    architecture_flop: float | None = Field(description="6·N·D, when N and D are declared.")
    gpu_hours: float
    training_hours: float = Field(description="The jobs' elapsed time, summed.")
    kwh: float
    kg_co2e: float
    jobs: list[JobComputePublic]


class LineagePublic(BaseModel):
    cumulative_flop: float = Field(description="This version and its same-provider ancestors.")
    chain: list[str]
    base: str | None
    base_flop: float | None = Field(description="The other provider's base compute; null: unknown.")
    becomes_provider: bool | None = Field(
        description="Above the fraction of the base's compute; null: cannot be told."
    )
    says: str


class CrossingPublic(BaseModel):
    threshold: str
    basis: str = Field(description="actual (what ran) or forecast (with the allocations left).")
    flop: float
    limit: float
    known_on: str
    due_on: str = Field(description="The notification's last day.")


class ComputePublic(BaseModel):
    model_id: str
    model: str
    version_id: str
    version: str
    training: LedgerPublic
    other: LedgerPublic = Field(description="Evaluation and inference runs: not training.")
    lineage: LineagePublic
    forecast_more_flop: float = Field(
        description="What the project's allocations could still add (default utilisation)."
    )
    crossings: list[CrossingPublic]


class CasePublic(BaseModel):
    id: str
    org_id: str
    project_id: str
    model_version_id: str
    threshold: str
    basis: str
    flop: float
    limit_flop: float
    known_on: str
    due_on: str = Field(description="The notification's last day (Art. 52(1)).")
    state: str
    opened_at: Utc
    closed_at: Utc | None
    closed_by: str | None
    close_reason: str | None


class CaseClose(Strict):
    reason: Said = Field(min_length=10, max_length=2000, description="Why; recorded and audited.")


class EvaluationCreate(Strict):
    job_id: str = Field(max_length=64, description="An ended evaluation job of the version.")
    name: Said = Field(max_length=100, examples=["MMLU-EU, 5-shot"])
    metrics: dict[
        Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")],
        Annotated[float, Field(allow_inf_nan=False)],
    ] = Field(description="Named numbers, e.g. {accuracy: 0.71}.", min_length=1, max_length=100)


class EvaluationPublic(BaseModel):
    id: str
    model_version_id: str
    job_id: str
    name: str
    metrics: dict[str, float]
    datasets: list[str] = Field(description="The dataset versions the job read.")
    created_at: Utc
