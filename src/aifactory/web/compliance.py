"""Compliance in the portal: a project's compliance tab (its use case with the class and the
rationale, the register form, its models' training compute, energy, carbon and thresholds,
its open cases) and the compliance officers' dashboard (open cases soonest due, and the use
cases a prohibited or high-risk class awaits a review of)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.api.deps import Rt
from aifactory.compliance.risk import (
    HIGH_RISK_AREAS,
    PROHIBITED_PRACTICES,
    TRANSPARENCY_QUESTIONS,
    RiskClass,
)
from aifactory.db.compliance_tables import ComplianceCase, UseCase
from aifactory.domain.compliance import CaseState
from aifactory.services import tenancy
from aifactory.services.compliance import cases, ledger, models, use_cases
from aifactory.services.errors import Forbidden, Invalid, NotFound
from aifactory.services.ids import utcnow
from aifactory.services.sessions import Current
from aifactory.web.deps import Me, check_csrf
from aifactory.web.pages import form_of, page, see_other

router = APIRouter(include_in_schema=False)

GROUPS = (
    ("Prohibited practices (Art. 5): a yes means no compute", PROHIBITED_PRACTICES),
    ("High-risk areas (Annex III)", HIGH_RISK_AREAS),
    ("Transparency (Art. 50)", TRANSPARENCY_QUESTIONS),
)


def _models(session: Session, runtime: Rt, me: Current, project_id: str) -> list[dict[str, Any]]:
    rules = ledger.rules_of(runtime.settings)
    now = utcnow()
    # One project: what its allocations could still add is the same for every version.
    more = ledger.could_still_add(session, project_id, runtime.catalog, rules, now)
    out = []
    for m in models.list_models(session, me.principal, project_id):
        for v in models.versions(session, m):
            c = ledger.compute_of(session, v, runtime.catalog, rules, now, more)
            out.append({"model": m, "c": c})
    return out


def _tab(
    request: Request,
    runtime: Rt,
    me: Current,
    project_id: str,
    status: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    with runtime.db.read() as session:
        project = tenancy.get_project(session, me.principal, project_id)
        try:
            uc: UseCase | None = use_cases.get(session, me.principal, project.id)
        except NotFound:
            uc = None
        if form is None:
            form = {}
            if uc is not None:
                form = {"intended_purpose": uc.intended_purpose, "sector": uc.sector}
                form.update({k: "on" for k, v in uc.answers.items() if v})
        open_cases = cases.list_cases(session, me.principal, CaseState.OPEN, project.id)
        return page(
            request,
            "compliance/project.html",
            status,
            title=f"Compliance of {project.name}",
            me=me,
            project=project,
            uc=uc,
            result=use_cases.assessment_of(uc) if uc else None,
            klass=use_cases.effective_class(uc).value if uc else None,
            groups=GROUPS,
            form=form,
            errors=errors or {},
            models=_models(session, runtime, me, project.id),
            cases=open_cases,
            may_edit=tenancy.may_submit(me.principal, project),
        )


@router.get("/projects/{project_id}/compliance", response_class=HTMLResponse)
def project_tab(request: Request, runtime: Rt, me: Me, project_id: str) -> HTMLResponse:
    return _tab(request, runtime, me, project_id)


@router.post("/projects/{project_id}/compliance", response_class=HTMLResponse)
async def register(request: Request, runtime: Rt, me: Me, project_id: str) -> Response:
    form = await form_of(request)
    check_csrf(me, form)
    answers = {q.id: form.get(q.id) == "on" for _, group in GROUPS for q in group}
    given = use_cases.Register(
        form.get("intended_purpose", "")[:2000], form.get("sector", "")[:100], answers
    )
    try:
        with runtime.db.write() as session:
            use_cases.register(session, me.principal, project_id, given)
    except Invalid as exc:
        errors = {p.field: p.message for p in exc.problems}
        return _tab(request, runtime, me, project_id, 422, form, errors)
    return see_other(f"/projects/{project_id}/compliance")


@router.get("/compliance", response_class=HTMLResponse)
def dashboard(request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    """The compliance officers' dashboard (others: the 403 page)."""
    if not me.principal.is_compliance_officer:
        raise Forbidden("the compliance dashboard is for compliance officers and admins")
    with runtime.db.read() as session:
        open_cases = cases.list_cases(session, me.principal, CaseState.OPEN)
        strict = (RiskClass.PROHIBITED.value, RiskClass.HIGH_RISK.value)
        to_review = list(
            session.execute(
                select(UseCase)
                .where(UseCase.review.is_(None), UseCase.derived_class.in_(strict))
                .order_by(UseCase.updated_at)
            ).scalars()
        )
        closed = session.execute(
            select(ComplianceCase)
            .where(ComplianceCase.state == CaseState.CLOSED.value)
            .order_by(ComplianceCase.closed_at.desc())
            .limit(20)
        ).scalars()
        return page(
            request,
            "compliance/dashboard.html",
            title="Compliance",
            me=me,
            cases=open_cases,
            to_review=to_review,
            closed=list(closed),
            today=utcnow().date(),
        )
