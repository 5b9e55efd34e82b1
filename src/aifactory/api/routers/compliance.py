"""Compliance: the AI Act's questions, and each project's use case (register, read, review)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status

from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas.compliance import (
    CaseClose,
    CasePublic,
    FindingPublic,
    QuestionPublic,
    UseCasePublic,
    UseCaseRegister,
    UseCaseReview,
)
from aifactory.compliance.risk import QUESTIONS
from aifactory.db.compliance_tables import ComplianceCase, UseCase
from aifactory.domain.compliance import CaseState
from aifactory.services.compliance import cases, use_cases

router = APIRouter(tags=["compliance"])


def use_case_view(row: UseCase) -> UseCasePublic:
    result = use_cases.assessment_of(row)
    klass = use_cases.effective_class(row)
    return UseCasePublic(
        id=row.id,
        project_id=row.project_id,
        org_id=row.org_id,
        intended_purpose=row.intended_purpose,
        sector=row.sector,
        risk_class=klass,
        derived_class=result.risk_class,
        areas=list(result.areas),
        practices=list(result.practices),
        obligations=list(result.obligations),
        blocks_compute=klass.value == "prohibited",
        rationale=[
            FindingPublic(
                question=f.question.id, article=f.question.article, answer=f.answer, says=f.says
            )
            for f in result.findings
        ],
        review=use_cases.Review(row.review) if row.review else None,
        review_reason=row.review_reason,
        reviewed_by=row.reviewed_by,
        reviewed_at=row.reviewed_at,
        updated_at=row.updated_at,
    )


@router.get(
    "/compliance/questions",
    operation_id="list_use_case_questions",
    response_model=list[QuestionPublic],
)
def list_questions(caller: Caller) -> list[QuestionPublic]:
    """The use-case register's questions: Art. 5, Annex III and Art. 50, in that order."""
    return [
        QuestionPublic(id=q.id, article=q.article, text=q.text, gives=q.gives, area=q.area)
        for q in QUESTIONS
    ]


@router.put(
    "/projects/{project_id}/use-case",
    operation_id="register_use_case",
    response_model=UseCasePublic,
    responses={201: {"model": UseCasePublic, "description": "Registered for the first time."}},
)
def register_use_case(
    project_id: str, body: UseCaseRegister, runtime: Rt, caller: Caller, response: Response
) -> UseCasePublic:
    """Register or change the project's use case; its class and rationale come back."""
    given = use_cases.Register(body.intended_purpose, body.sector, body.answers.model_dump())
    with runtime.db.write() as session:
        row, created = use_cases.register(session, caller, project_id, given)
        if created:
            response.status_code = status.HTTP_201_CREATED
        return use_case_view(row)


@router.get(
    "/projects/{project_id}/use-case", operation_id="get_use_case", response_model=UseCasePublic
)
def get_use_case(project_id: str, runtime: Rt, caller: Caller) -> UseCasePublic:
    with runtime.db.read() as session:
        return use_case_view(use_cases.get(session, caller, project_id))


@router.post(
    "/projects/{project_id}/use-case/review",
    operation_id="review_use_case",
    response_model=UseCasePublic,
)
def review_use_case(
    project_id: str, body: UseCaseReview, runtime: Rt, caller: Caller
) -> UseCasePublic:
    """Compliance officers: confirm the derived class, or override it, with a reason."""
    with runtime.db.write() as session:
        row = use_cases.review(
            session, caller, project_id, body.decision, body.reason, body.risk_class
        )
        return use_case_view(row)


def case_view(c: ComplianceCase) -> CasePublic:
    return CasePublic(
        id=c.id,
        org_id=c.org_id,
        project_id=c.project_id,
        model_version_id=c.model_version_id,
        threshold=c.threshold,
        basis=c.basis,
        flop=c.flop,
        limit_flop=c.limit_flop,
        known_on=c.known_on.isoformat(),
        due_on=c.due_on.isoformat(),
        state=c.state,
        opened_at=c.opened_at,
        closed_at=c.closed_at,
        closed_by=c.closed_by,
        close_reason=c.close_reason,
    )


@router.get(
    "/compliance/cases", operation_id="list_compliance_cases", response_model=list[CasePublic]
)
def list_cases(
    runtime: Rt, caller: Caller, state: CaseState | None = Query(default=None)
) -> list[CasePublic]:
    """Thresholds crossed by a model version (actual or forecast), soonest due first:
    compliance officers see every case, others their organisations'."""
    with runtime.db.read() as session:
        return [case_view(c) for c in cases.list_cases(session, caller, state)]


@router.post(
    "/compliance/cases/{case_id}/close",
    operation_id="close_compliance_case",
    response_model=CasePublic,
)
def close_case(case_id: str, body: CaseClose, runtime: Rt, caller: Caller) -> CasePublic:
    """Compliance officers: close a case with a reason (e.g. the Commission notified)."""
    with runtime.db.write() as session:
        return case_view(cases.close(session, caller, case_id, body.reason))
