"""Calls, proposals, reviews and allocations to response models."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.api import schemas_access as s
from aifactory.db.tables import Allocation, Call, LedgerEntry, Proposal, Review, User
from aifactory.domain.access import AccessMode
from aifactory.services import allocations, calls, proposals
from aifactory.services.identity import Principal
from aifactory.services.ids import as_utc


def _email(session: Session, user_id: str) -> str | None:
    user = session.get(User, user_id)
    return user.email if user else None


def _opt(value: datetime | None) -> datetime | None:
    return as_utc(value) if value else None


def call(c: Call, today: date) -> s.CallPublic:
    problem = calls.open_problem(c, today)
    return s.CallPublic(
        id=c.id,
        code=c.code,
        title=c.title,
        mode=AccessMode(c.mode),
        partitions=list(c.partitions),
        opens_on=c.opens_on,
        closes_on=c.closes_on,
        cutoffs=[date.fromisoformat(d) for d in c.cutoffs],
        next_cutoff=calls.next_cutoff(c, today),
        is_open=problem is None,
        open_problem=problem,
        rules=dict(c.rules),
        created_at=as_utc(c.created_at),
    )


def _proposal_fields(session: Session, p: Proposal, today: date) -> dict[str, object]:
    c = session.get(Call, p.call_id)
    assert c is not None
    return {
        "id": p.id,
        "reference": p.reference,
        "call_id": p.call_id,
        "call_code": c.code,
        "mode": c.mode,
        "org_id": p.org_id,
        "project_id": p.project_id,
        "user_id": p.user_id,
        "title": p.title,
        "gpu_hours": p.gpu_hours,
        "state": p.state,
        "reason": p.reason,
        "submitted_at": _opt(p.submitted_at),
        "cutoff_on": p.cutoff_on,
        "decision_due_on": p.decision_due_on,
        "overdue": proposals.is_overdue(p, today),
        "decided_at": _opt(p.decided_at),
        "created_at": as_utc(p.created_at),
        "updated_at": as_utc(p.updated_at),
    }


def proposal(session: Session, p: Proposal, today: date) -> s.ProposalPublic:
    return s.ProposalPublic.model_validate(_proposal_fields(session, p, today))


def review(session: Session, r: Review, principal: Principal) -> s.ReviewPublic:
    p = session.get(Proposal, r.proposal_id)
    assert p is not None
    # Applicants read what reviewers said, not who they are.
    show_reviewer = principal.is_operator or r.reviewer_id == principal.user_id
    return s.ReviewPublic.model_validate(
        {
            "id": r.id,
            "proposal_id": r.proposal_id,
            "proposal_reference": p.reference,
            "proposal_title": p.title,
            "kind": r.kind,
            "state": r.state,
            "reviewer_id": r.reviewer_id if show_reviewer else None,
            "reviewer_email": _email(session, r.reviewer_id) if show_reviewer else None,
            "score": r.score,
            "passed": r.passed,
            "comments": r.comments,
            "created_at": as_utc(r.created_at),
            "submitted_at": _opt(r.submitted_at),
        }
    )


def proposal_detail(
    session: Session, p: Proposal, principal: Principal, today: date
) -> s.ProposalDetail:
    history = [
        s.ProposalEventPublic.model_validate(
            {"state": e.state, "at": as_utc(e.at), "actor": e.actor, "reason": e.reason}
        )
        for e in proposals.history(session, p.id)
    ]
    reviews = proposals.reviews_of(session, p.id)
    if not principal.is_operator and p.org_id not in principal.orgs:
        reviews = [r for r in reviews if r.reviewer_id == principal.user_id]
    alloc_ids = list(
        session.execute(
            select(Allocation.id).where(Allocation.proposal_id == p.id).order_by(Allocation.id)
        ).scalars()
    )
    return s.ProposalDetail.model_validate(
        {
            **_proposal_fields(session, p, today),
            "form": p.form,
            "history": history,
            "reviews": [review(session, r, principal) for r in reviews],
            "allocation_ids": alloc_ids,
        }
    )


def allocation(session: Session, a: Allocation, now: datetime) -> s.AllocationPublic:
    return s.AllocationPublic.model_validate(_allocation_fields(session, a, now))


def allocation_list(
    session: Session, rows: list[Allocation], now: datetime
) -> list[s.AllocationPublic]:
    """One ledger query for the whole list, not one per allocation."""
    sums = allocations.totals(session, [a.id for a in rows])
    return [
        s.AllocationPublic.model_validate(_allocation_fields(session, a, now, sums[a.id]))
        for a in rows
    ]


def _allocation_fields(
    session: Session, a: Allocation, now: datetime, t: allocations.Totals | None = None
) -> dict[str, object]:
    t = t or allocations.totals(session, [a.id])[a.id]
    reference = None
    if a.proposal_id:
        p = session.get(Proposal, a.proposal_id)
        reference = p.reference if p else None
    h = allocations.hours
    share = allocations.inference_share(t)
    exceeded = (
        a.inference_share_max is not None and share is not None and share > a.inference_share_max
    )
    return {
        "id": a.id,
        "proposal_id": a.proposal_id,
        "reference": reference,
        "mode": a.mode,
        "org_id": a.org_id,
        "project_id": a.project_id,
        "site": a.site_id,
        "partition": a.partition_id,
        "state": allocations.state_of(a, now),
        "granted_gpu_hours": h(a.granted_gpu_seconds),
        "balance_gpu_hours": h(a.balance_gpu_seconds),
        "reserved_gpu_hours": h(t.reserved),
        "used_gpu_hours": h(t.used),
        "inference_gpu_hours": h(t.inference_used),
        "inference_share_max": a.inference_share_max,
        "inference_share_exceeded": exceeded,
        "starts_at": as_utc(a.starts_at),
        "ends_at": as_utc(a.ends_at),
        "report_due_on": a.report_due_on,
        "report_filed_at": _opt(a.report_filed_at),
        "report_waived_at": _opt(a.report_waived_at),
        "report_overdue": allocations.report_overdue(a, now.date()),
    }


def ledger_entry(e: LedgerEntry) -> s.LedgerEntryPublic:
    return s.LedgerEntryPublic.model_validate(
        {
            "id": e.id,
            "at": as_utc(e.at),
            "kind": e.kind,
            "gpu_hours": allocations.hours(e.gpu_seconds),
            "gpu_seconds": e.gpu_seconds,
            "job_id": e.job_id,
            "used_gpu_seconds": e.used_gpu_seconds,
            "work": e.work,
            "actor": e.actor,
            "reason": e.reason,
        }
    )


def allocation_detail(session: Session, a: Allocation, now: datetime) -> s.AllocationDetail:
    return s.AllocationDetail.model_validate(
        {
            **_allocation_fields(session, a, now),
            "ledger": [ledger_entry(e) for e in allocations.ledger(session, a.id)],
        }
    )
