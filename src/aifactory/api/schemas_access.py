"""Request and response models of access calls, proposals, reviews and allocations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StrictBool

from aifactory.api.schemas import Email, Strict
from aifactory.domain.access import (
    AccessMode,
    AllocationState,
    Decision,
    LedgerKind,
    ProposalState,
    ReviewKind,
    ReviewState,
)
from aifactory.domain.access_forms import PartitionRef, ProposalForm
from aifactory.domain.jobspec import JsonInt
from aifactory.domain.names import checked_text, document_non_blank

Reason = Annotated[
    str,
    Field(min_length=1, max_length=2000, json_schema_extra=document_non_blank),
    AfterValidator(checked_text),
]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _document_no_nul(schema: dict[str, Any]) -> None:
    schema["pattern"] = "^[^\\u0000]*$(?!\\n)"


Comments = Annotated[
    str,
    Field(max_length=20_000, description="Free text.", json_schema_extra=_document_no_nul),
    AfterValidator(_no_nul),
]


def _iso_instant(value: object) -> object:
    """Times as RFC 3339 strings with a zone: pydantic would otherwise read a number as
    seconds since 1970, and a time without a zone is ambiguous."""
    if not isinstance(value, str):
        raise ValueError("a time is an RFC 3339 string, e.g. 2026-12-01T00:00:00Z")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2026-12-01T00:00:00Z")
    return parsed


Instant = Annotated[datetime, BeforeValidator(_iso_instant)]


# -- calls ------------------------------------------------------------------------------------
class CallPublic(BaseModel):
    id: str
    code: str
    title: str
    mode: AccessMode
    partitions: list[str]
    opens_on: date
    closes_on: date | None
    cutoffs: list[date]
    next_cutoff: date | None
    is_open: bool
    open_problem: str | None = Field(description="Why the call takes no proposals now.")
    rules: dict[str, Any]
    created_at: datetime


# -- proposals --------------------------------------------------------------------------------
class ProposalPublic(BaseModel):
    id: str
    reference: str | None = Field(description="EHPC-AIF-<call code>-<number>, once submitted.")
    call_id: str
    call_code: str
    mode: AccessMode
    org_id: str
    project_id: str
    user_id: str
    title: str
    gpu_hours: int
    state: ProposalState
    reason: str
    submitted_at: datetime | None
    cutoff_on: date | None
    decision_due_on: date | None
    overdue: bool
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ProposalEventPublic(BaseModel):
    state: ProposalState
    at: datetime
    actor: str
    reason: str


class ReviewPublic(BaseModel):
    id: str
    proposal_id: str
    proposal_reference: str | None
    proposal_title: str
    kind: ReviewKind
    state: ReviewState
    reviewer_id: str | None = Field(description="Shown to operators and to the reviewer.")
    reviewer_email: str | None = Field(description="Shown to operators and to the reviewer.")
    score: int | None
    passed: bool | None
    comments: str
    created_at: datetime
    submitted_at: datetime | None


class ProposalDetail(ProposalPublic):
    form: ProposalForm
    history: list[ProposalEventPublic]
    reviews: list[ReviewPublic]
    allocation_ids: list[str]


class ReviewerAssign(Strict):
    reviewer: Email = Field(description="The reviewer's e-mail; they need the reviewer role.")
    kind: ReviewKind


class DecisionCreate(Strict):
    decision: Decision
    reason: Reason


class ReviewSubmit(Strict):
    passed: StrictBool | None = Field(default=None, description="Technical review: fits?")
    score: Annotated[JsonInt, Field(ge=1, le=5)] | None = Field(
        default=None, description="Peer review: 1-5."
    )
    comments: Comments = ""


class ConflictCreate(Strict):
    organisation: Annotated[
        str,
        Field(min_length=1, max_length=200, json_schema_extra=document_non_blank),
        AfterValidator(checked_text),
    ] = Field(description="The organisation's name, as it registered.")
    reason: Reason


class ConflictPublic(BaseModel):
    organisation: str
    reason: str
    declared_at: datetime


# -- allocations ------------------------------------------------------------------------------
class AllocationPublic(BaseModel):
    id: str
    proposal_id: str | None
    reference: str | None
    mode: AccessMode | None
    org_id: str
    project_id: str
    site: str
    partition: str
    state: AllocationState
    granted_gpu_hours: float
    balance_gpu_hours: float = Field(description="The sum of the ledger: what is left.")
    reserved_gpu_hours: float = Field(description="Held by jobs placed and not yet ended.")
    used_gpu_hours: float
    inference_gpu_hours: float
    inference_share_max: float | None
    inference_share_exceeded: bool
    starts_at: datetime
    ends_at: datetime
    report_due_on: date
    report_filed_at: datetime | None
    report_waived_at: datetime | None
    report_overdue: bool


class LedgerEntryPublic(BaseModel):
    id: int
    at: datetime
    kind: LedgerKind
    gpu_hours: float
    gpu_seconds: int
    job_id: str | None
    used_gpu_seconds: int | None
    work: str | None
    actor: str
    reason: str


class AllocationDetail(AllocationPublic):
    ledger: list[LedgerEntryPublic]


class AllocationCreate(Strict):
    """An operator's grant outside a call (pay-per-use, preparatory access)."""

    project_id: str = Field(max_length=64)
    partition: PartitionRef
    gpu_hours: JsonInt = Field(ge=1, le=100_000_000)
    starts_at: Instant | None = Field(default=None, description="Default: now.")
    ends_at: Instant = Field(description="After starts_at.")
    reason: Reason


def _nonzero(value: int) -> int:
    if value == 0:
        raise ValueError("an adjustment moves at least one GPU-hour")
    return value


def _document_nonzero(schema: dict[str, Any]) -> None:
    schema["not"] = {"const": 0}


class AdjustmentCreate(Strict):
    gpu_hours: Annotated[
        JsonInt,
        Field(
            ge=-100_000_000,
            le=100_000_000,
            description="Positive adds, negative removes; never 0.",
            json_schema_extra=_document_nonzero,
        ),
        AfterValidator(_nonzero),
    ]
    reason: Reason


class ReportCreate(Strict):
    summary: Reason
    publications: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=500
    )
    acknowledged: StrictBool = Field(
        default=True, description="Publications acknowledge the proposal's reference."
    )


class WaiverCreate(Strict):
    reason: Reason
