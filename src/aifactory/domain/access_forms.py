"""What operators and applicants write: a call (with its rules as data) and a proposal.

Everything here holds without the database; rules that need the call, the organisation or
the catalog are checked by the services and answer 422 naming the rule.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aifactory.domain.access import AccessMode, DeadlineFrom, Sector, TechnicalCheck, WorkType
from aifactory.domain.identity import OrgKind
from aifactory.domain.jobspec import JsonInt
from aifactory.domain.names import (
    checked_name,
    checked_text,
    document_email,
    document_name,
    document_non_blank,
    email_problem,
)

PARTITION_REF = r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*$"
PartitionRef = Annotated[
    str, Field(max_length=129, pattern=PARTITION_REF, description="site/partition")
]


Title = Annotated[
    str, Field(max_length=200, json_schema_extra=document_name), AfterValidator(checked_name)
]
Text = Annotated[
    str,
    Field(min_length=1, max_length=10_000, json_schema_extra=document_non_blank),
    AfterValidator(checked_text),
]
ShortText = Annotated[
    str,
    Field(min_length=1, max_length=500, json_schema_extra=document_non_blank),
    AfterValidator(checked_text),
]


def iso_date(value: object) -> object:
    """Dates as YYYY-MM-DD only: pydantic would otherwise read a number as a day since 1970."""
    if isinstance(value, str):
        if len(value) != 10:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
        return date.fromisoformat(value)
    if isinstance(value, date):
        return value
    raise ValueError("a date is a string YYYY-MM-DD")


Day = Annotated[date, BeforeValidator(iso_date)]


def _unique(schema: dict[str, Any]) -> None:
    schema["uniqueItems"] = True


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Calendar(_Strict):
    """The working days a decision deadline counts: Monday to Friday without the public
    holidays of ``country`` (default: the country of the call's site) and the site's own
    closures; ``extra_open`` lists holidays the site works anyway."""

    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    extra_closed: list[Day] = Field(default_factory=list, max_length=366)
    extra_open: list[Day] = Field(default_factory=list, max_length=366)

    @field_validator("extra_open")
    @classmethod
    def _not_both(cls, value: list[date], info: ValidationInfo) -> list[date]:
        both = sorted(set(value) & set(info.data.get("extra_closed", [])))
        if both:
            raise ValueError(f"{both[0].isoformat()} is in both extra_closed and extra_open")
        return value


Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
GpuHours = Annotated[JsonInt, Field(ge=1, le=100_000_000)]
Partitions = Annotated[JsonInt, Field(ge=1, le=100)]
Months = Annotated[JsonInt, Field(ge=1, le=36)]
WorkingDays = Annotated[JsonInt, Field(ge=1, le=365)]
DecisionMonths = Annotated[JsonInt, Field(ge=1, le=24)]
PeerReviews = Annotated[JsonInt, Field(ge=0, le=10)]
Share = Annotated[float, Field(ge=0, le=1)]
ReportMonths = Annotated[JsonInt, Field(ge=0, le=24)]


class CallRules(_Strict):
    """A mode's rules as data; the defaults of each mode are in catalog/access-modes.yaml."""

    eligible_kinds: list[OrgKind] = Field(min_length=1)
    eligible_countries: list[Country] = Field(
        default_factory=list, description="Empty: every EuroHPC participating state."
    )
    eu_project_required_for: list[OrgKind] = Field(
        default_factory=list,
        description="Kinds that must name their Horizon Europe or Digital Europe project.",
    )
    min_gpu_hours: GpuHours = 1
    max_gpu_hours: GpuHours | None = None
    max_partitions: Partitions | None = None
    durations_months: list[Months] = Field(min_length=1)
    decision_working_days: WorkingDays | None = None
    decision_months: DecisionMonths | None = None
    decision_from: DeadlineFrom = DeadlineFrom.SUBMISSION
    technical_check: TechnicalCheck = TechnicalCheck.REVIEWER
    peer_reviews: PeerReviews = 0
    operator_decision: StrictBool = Field(
        default=False,
        description="False: a proposal that passes its checks is accepted (first come, "
        "first served).",
    )
    inference_share_max: Share | None = None
    report_due_months: ReportMonths = 3
    calendar: Calendar = Field(default_factory=Calendar)

    @model_validator(mode="after")
    def _consistent(self) -> CallRules:
        if (self.decision_working_days is None) == (self.decision_months is None):
            raise ValueError("give exactly one of decision_working_days and decision_months")
        if self.max_gpu_hours is not None and self.max_gpu_hours < self.min_gpu_hours:
            raise ValueError("max_gpu_hours must not be below min_gpu_hours")
        if self.peer_reviews == 1:
            raise ValueError("peer_reviews: 0, or at least 2 (a single peer review is no panel)")
        if self.peer_reviews and not self.operator_decision:
            raise ValueError("peer-reviewed calls need operator_decision: true")
        return self


class CallRulesOverride(_Strict):
    """The rules a call file changes from its mode's defaults; ``null`` clears an optional
    rule (``max_gpu_hours: null``: no maximum)."""

    eligible_kinds: list[OrgKind] | None = Field(default=None, min_length=1)
    eligible_countries: list[Country] | None = None
    eu_project_required_for: list[OrgKind] | None = None
    min_gpu_hours: GpuHours | None = None
    max_gpu_hours: GpuHours | None = None
    max_partitions: Partitions | None = None
    durations_months: list[Months] | None = Field(default=None, min_length=1)
    decision_working_days: WorkingDays | None = None
    decision_months: DecisionMonths | None = None
    decision_from: DeadlineFrom | None = None
    technical_check: TechnicalCheck | None = None
    peer_reviews: PeerReviews | None = None
    operator_decision: StrictBool | None = None
    inference_share_max: Share | None = None
    report_due_months: ReportMonths | None = None
    calendar: Calendar | None = None


class CallSpec(_Strict):
    """``aif call open FILE``: a call of one mode on chosen partitions. ``rules`` may give only
    the fields that differ from the mode's defaults."""

    title: Title
    mode: AccessMode
    code: Annotated[str, Field(pattern=r"^[0-9]{4}[A-Z]{2}[0-9]{2}$")] | None = Field(
        default=None, description="Reference code, e.g. 2026PG01; generated when absent."
    )
    partitions: list[PartitionRef] = Field(min_length=1, max_length=100, json_schema_extra=_unique)
    opens_on: Day | None = Field(default=None, description="Default: today.")
    closes_on: Day | None = Field(default=None, description="Not before opens_on.")
    cutoffs: list[Day] = Field(default_factory=list, max_length=1000)
    rules: CallRulesOverride = Field(
        default_factory=CallRulesOverride, description="What differs from the mode's defaults."
    )

    @field_validator("partitions")
    @classmethod
    def _once(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each partition once")
        return value

    @field_validator("closes_on")
    @classmethod
    def _after_opening(cls, value: date | None, info: ValidationInfo) -> date | None:
        opens = info.data.get("opens_on")
        if value is not None and opens is not None and value < opens:
            raise ValueError("must not be before opens_on")
        return value


class ResourceRequest(_Strict):
    partition: PartitionRef
    gpu_hours: JsonInt = Field(ge=1, le=100_000_000)
    largest_job_gpus: JsonInt = Field(ge=1, le=100_000, description="The largest job, in GPUs.")
    storage_tb: float = Field(default=0, ge=0, le=100_000)


class Person(_Strict):
    name: Annotated[
        str, Field(max_length=100, json_schema_extra=document_name), AfterValidator(checked_name)
    ]
    email: str = Field(min_length=3, max_length=254, json_schema_extra=document_email)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        # The same rule as a user's e-mail; its schema pattern is proven equal to it.
        problem = email_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class CodeReadiness(_Strict):
    frameworks: list[ShortText] = Field(min_length=1, max_length=30)
    scaling_shown: ShortText = Field(description="The largest run so far and how it scaled.")


class DataUse(_Strict):
    description: ShortText
    origin: ShortText = Field(description="Where the data comes from.")
    personal_data: StrictBool = False


class Milestone(_Strict):
    month: JsonInt = Field(ge=1, le=36)
    title: ShortText


class AiActSelfAssessment(_Strict):
    intended_purpose: ShortText
    prohibited_practice: StrictBool = Field(
        description="Does the work involve a practice the AI Act prohibits (Article 5)?"
    )
    high_risk: StrictBool = Field(default=False, description="An Annex III high-risk use?")


class ProposalForm(_Strict):
    """The applicant's form (reference/access-modes.md, "What an application holds")."""

    call: str = Field(max_length=64, description="Call id.")
    project: str = Field(max_length=64, description="Project id; the allocation is its.")
    title: Title
    abstract: Text
    principal_investigator: Person
    team: list[Person] = Field(default_factory=list, max_length=100)
    sector: Sector
    work_types: list[WorkType] = Field(min_length=1, max_length=4)
    resources: list[ResourceRequest] = Field(min_length=1, max_length=100)
    duration_months: JsonInt = Field(ge=1, le=36)
    why_this_scale: Text = Field(description="Why a smaller system will not do.")
    code_readiness: CodeReadiness
    data: DataUse
    work_plan: list[Milestone] = Field(min_length=1, max_length=100)
    ai_act: AiActSelfAssessment
    eu_project: ShortText | None = Field(
        default=None, description="Horizon Europe or Digital Europe project (grant number)."
    )

    @field_validator("resources")
    @classmethod
    def _once(cls, value: list[ResourceRequest]) -> list[ResourceRequest]:
        parts = [r.partition for r in value]
        if len(set(parts)) != len(parts):
            raise ValueError("each partition once")
        return value

    @property
    def gpu_hours(self) -> int:
        return sum(r.gpu_hours for r in self.resources)
