"""Compliance cases: the deadlines loop reads every model version's compute (what ran, and
what its project's allocations could still add) and opens a case for each threshold crossed,
with the notification's due date (Art. 52(1): two weeks), mailing the federation's
compliance officers and the project's owners and members. A forecast that becomes actual
updates its case. Compliance officers close a case with a reason; every opening and closing
is an audit event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.compliance.compute import Basis, Crossing, Rules
from aifactory.db.compliance_tables import ComplianceCase, ModelVersion
from aifactory.db.engine import Database
from aifactory.db.tables import Membership, ProjectMember, User
from aifactory.domain.catalog import Catalog
from aifactory.domain.compliance import CaseState, check_transition
from aifactory.domain.identity import MembershipRole, PlatformRole
from aifactory.services import audit, notifications
from aifactory.services.compliance.ledger import VersionCompute, compute_of
from aifactory.services.errors import Conflict, FieldProblem, Forbidden, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow

MIN_REASON = 10
LABEL = {"gpai": "the GPAI criterion", "systemic-risk": "the systemic-risk presumption"}


def _recipients(session: Session, org_id: str, project_id: str) -> list[str]:
    officers = notifications.emails_with_role(session, {PlatformRole.COMPLIANCE})
    owners = session.execute(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org_id, Membership.role == MembershipRole.OWNER.value)
    ).scalars()
    members = session.execute(
        select(User.email)
        .join(ProjectMember, ProjectMember.user_id == User.id)
        .where(ProjectMember.project_id == project_id)
    ).scalars()
    return sorted({*officers, *owners, *members})


def _mail(session: Session, got: VersionCompute, c: Crossing, case: ComplianceCase) -> None:
    m, v = got.model, got.version
    what = "has crossed" if c.basis is Basis.ACTUAL else "is forecast to cross"
    notifications.enqueue(
        session,
        _recipients(session, case.org_id, case.project_id),
        "compliance.case",
        f"{m.name} {v.version} {what} {LABEL[c.threshold.value]} ({c.limit:.0e} FLOP)",
        f"Model {m.name}, version {v.version} ({v.id}), {what} {LABEL[c.threshold.value]}:\n"
        f"{c.flop:.3g} FLOP of training compute ({c.basis.value}; the limit is "
        f"{c.limit:.3g} FLOP).\n\nThe provider notifies the European Commission by "
        f"{c.due_on.isoformat()} (AI Act, Art. 52(1)). Case {case.id}; see "
        f"aif compliance cases.\n",
    )


def _apply(session: Session, got: VersionCompute, now: datetime) -> int:
    opened = 0
    existing = {
        c.threshold: c
        for c in session.execute(
            select(ComplianceCase).where(ComplianceCase.model_version_id == got.version.id)
        ).scalars()
    }
    for c in got.crossings:
        case = existing.get(c.threshold.value)
        if case is None:
            case = ComplianceCase(
                id=new_id("cmp"),
                org_id=got.version.org_id,
                project_id=got.model.project_id,
                model_version_id=got.version.id,
                threshold=c.threshold.value,
                basis=c.basis.value,
                flop=c.flop,
                limit_flop=c.limit,
                known_on=c.known_on,
                due_on=c.due_on,
                state=CaseState.OPEN.value,
                opened_at=now,
                updated_at=now,
            )
            session.add(case)
            session.flush()
            _mail(session, got, c, case)
            audit.append(
                session,
                actor="system",
                action="compliance.case.open",
                object_type="compliance_case",
                object_id=case.id,
                org_id=case.org_id,
                data={
                    "model_version_id": got.version.id,
                    "threshold": case.threshold,
                    "basis": case.basis,
                    "flop": case.flop,
                    "due_on": case.due_on.isoformat(),
                },
            )
            opened += 1
        elif case.state == CaseState.OPEN.value:
            escalated = case.basis == Basis.FORECAST.value and c.basis is Basis.ACTUAL
            case.flop, case.basis, case.updated_at = c.flop, c.basis.value, now
            if escalated:
                _mail(session, got, c, case)  # the forecast came true: the due date stands
    return opened


def run_once(db: Database, catalog: Catalog, rules: Rules, now: datetime | None = None) -> int:
    """One pass over every model version; returns the cases opened."""
    now = now or utcnow()
    with db.read() as session:
        ids = list(session.execute(select(ModelVersion.id).order_by(ModelVersion.id)).scalars())
    opened = 0
    for version_id in ids:
        with db.write() as session:
            version = session.get(ModelVersion, version_id)
            if version is not None:
                opened += _apply(session, compute_of(session, version, catalog, rules, now), now)
    return opened


def list_cases(
    session: Session,
    principal: Principal,
    state: CaseState | None = None,
    project_id: str | None = None,
) -> list[ComplianceCase]:
    """Compliance officers and admins: every case; others: their organisations'."""
    query = select(ComplianceCase).order_by(ComplianceCase.due_on, ComplianceCase.id)
    if project_id:
        query = query.where(ComplianceCase.project_id == project_id)
    if not principal.is_compliance_officer:
        query = query.where(ComplianceCase.org_id.in_(list(principal.orgs)))
    if state is not None:
        query = query.where(ComplianceCase.state == state.value)
    return list(session.execute(query).scalars())


def close(session: Session, principal: Principal, case_id: str, reason: str) -> ComplianceCase:
    case = session.get(ComplianceCase, case_id)
    if case is None or not (principal.is_compliance_officer or case.org_id in principal.orgs):
        raise NotFound("compliance case", case_id)
    if not principal.is_compliance_officer:
        raise Forbidden("only compliance officers and admins close a compliance case")
    if len(reason.strip()) < MIN_REASON:
        raise Invalid([FieldProblem("reason", f"say why, in at least {MIN_REASON} characters")])
    try:
        check_transition(CaseState(case.state), CaseState.CLOSED)
    except ValueError as exc:
        raise Conflict(f"compliance case {case.id} is already {case.state}") from exc
    now = utcnow()
    case.state, case.closed_at, case.closed_by = CaseState.CLOSED.value, now, principal.user_id
    case.close_reason, case.updated_at = reason.strip(), now
    audit.append(
        session,
        actor=principal.user_id,
        action="compliance.case.close",
        object_type="compliance_case",
        object_id=case.id,
        org_id=case.org_id,
        data={"reason": case.close_reason},
    )
    return case
