"""A project's use case: its intended purpose, sector and answers to the AI Act's questions
(``compliance.risk``), the class they give, and a compliance officer's review of it.

Project members and organisation owners register and change it; compliance officers (and
admins) of the federation read every project's and confirm or override the class with a
written reason. A prohibited class, derived or set by review, blocks the project's job
submissions and proposals. Every change is an audit event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.compliance.risk import QUESTIONS, Assessment, RiskClass, Unanswered, assess
from aifactory.db.compliance_tables import UseCase
from aifactory.db.tables import Project
from aifactory.services import audit
from aifactory.services.errors import FieldProblem, Forbidden, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow
from aifactory.services.tenancy import get_project, may_submit

MAX_PURPOSE = 2000
MAX_SECTOR = 100
MIN_REASON = 10


class Review(StrEnum):
    CONFIRMED = "confirmed"
    OVERRIDDEN = "overridden"


@dataclass(frozen=True)
class Register:
    """What a project says of its AI system."""

    intended_purpose: str
    sector: str
    answers: Mapping[str, bool]


def _project(session: Session, principal: Principal, project_id: str) -> Project:
    if principal.is_compliance_officer:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound("project", project_id)
        return project
    return get_project(session, principal, project_id)  # another tenant's: 404


def effective_class(row: UseCase) -> RiskClass:
    return RiskClass(row.override_class or row.derived_class)


def assessment_of(row: UseCase) -> Assessment:
    return assess({k: bool(v) for k, v in row.answers.items()})


def _checked(given: Register) -> tuple[Register, Assessment]:
    problems = []
    purpose, sector = given.intended_purpose.strip(), given.sector.strip()
    if not purpose:
        problems.append(FieldProblem("intended_purpose", "say what the AI system is for"))
    elif len(purpose) > MAX_PURPOSE:
        problems.append(FieldProblem("intended_purpose", f"at most {MAX_PURPOSE} characters"))
    if not sector:
        problems.append(FieldProblem("sector", "name the sector it is used in"))
    elif len(sector) > MAX_SECTOR:
        problems.append(FieldProblem("sector", f"at most {MAX_SECTOR} characters"))
    try:
        result = assess(given.answers)
    except Unanswered as exc:
        ids = tuple(q.id for q in QUESTIONS)
        problems += [FieldProblem(f"answers.{k}", v, ids) for k, v in exc.problems.items()]
    if problems:
        raise Invalid(problems)
    return Register(purpose, sector, dict(given.answers)), result


def register(
    session: Session, principal: Principal, project_id: str, given: Register
) -> tuple[UseCase, bool]:
    """Register or change the project's use case; returns it and whether it is new. New
    answers clear an earlier review."""
    project = get_project(session, principal, project_id)
    if not may_submit(principal, project):
        raise Forbidden("only project members and organisation owners register its use case")
    clean, result = _checked(given)
    now = utcnow()
    row = session.execute(
        select(UseCase).where(UseCase.project_id == project.id)
    ).scalar_one_or_none()
    created = row is None
    if row is None:
        row = UseCase(
            id=new_id("ucs"),
            project_id=project.id,
            org_id=project.org_id,
            created_at=now,
        )
        session.add(row)
    elif dict(row.answers) != dict(clean.answers) and row.review is not None:
        row.review = row.override_class = row.review_reason = row.reviewed_by = None
        row.reviewed_at = None
    row.intended_purpose, row.sector = clean.intended_purpose, clean.sector
    row.answers = dict(clean.answers)
    row.derived_class = result.risk_class.value
    row.updated_by, row.updated_at = principal.user_id, now
    session.flush()
    audit.append(
        session,
        actor=principal.user_id,
        action="use_case.register",
        object_type="project",
        object_id=project.id,
        org_id=project.org_id,
        data={"class": row.derived_class, "yes": sorted(k for k, v in clean.answers.items() if v)},
    )
    return row, created


def get(session: Session, principal: Principal, project_id: str) -> UseCase:
    project = _project(session, principal, project_id)
    row = session.execute(
        select(UseCase).where(UseCase.project_id == project.id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("use case of project", project_id)
    return row


def review(
    session: Session,
    principal: Principal,
    project_id: str,
    decision: Review,
    reason: str,
    risk_class: RiskClass | None = None,
) -> UseCase:
    """A compliance officer confirms the derived class, or overrides it with another."""
    row = get(session, principal, project_id)  # another tenant's: 404 before 403
    if not principal.is_compliance_officer:
        raise Forbidden("only compliance officers and admins review a use case's class")
    problems = []
    if len(reason.strip()) < MIN_REASON:
        problems.append(FieldProblem("reason", f"say why, in at least {MIN_REASON} characters"))
    allowed = tuple(c.value for c in RiskClass)
    if decision is Review.OVERRIDDEN and risk_class is None:
        problems.append(FieldProblem("risk_class", "the class it is instead", allowed))
    if decision is Review.CONFIRMED and risk_class not in (None, RiskClass(row.derived_class)):
        problems.append(
            FieldProblem("risk_class", "a confirmation keeps the derived class", allowed)
        )
    if problems:
        raise Invalid(problems)
    row.review = decision.value
    row.override_class = risk_class.value if decision is Review.OVERRIDDEN and risk_class else None
    row.review_reason = reason.strip()
    row.reviewed_by, row.reviewed_at = principal.user_id, utcnow()
    audit.append(
        session,
        actor=principal.user_id,
        action=f"use_case.{'confirm' if decision is Review.CONFIRMED else 'override'}",
        object_type="project",
        object_id=row.project_id,
        org_id=row.org_id,
        data={
            "derived": row.derived_class,
            "class": effective_class(row).value,
            "reason": row.review_reason,
        },
    )
    return row


def blocking_reason(session: Session, project_id: str) -> str | None:
    """Why the project gets no compute (its use case is a prohibited practice), or None."""
    row = session.execute(
        select(UseCase).where(UseCase.project_id == project_id)
    ).scalar_one_or_none()
    if row is None or effective_class(row) is not RiskClass.PROHIBITED:
        return None
    if row.review == Review.OVERRIDDEN.value:
        why = f"a compliance officer set it: {row.review_reason}"
    else:
        result = assessment_of(row)
        why = ", ".join(result.practices)
        found = [f.question.article for f in result.findings if f.answer]
        why = f"{why} ({'; '.join(a for a in found if a.startswith('Art. 5'))})"
    return (
        f"project {project_id}'s use case is a prohibited practice under the AI Act, "
        f"Art. 5: {why}; it gets no compute"
    )
