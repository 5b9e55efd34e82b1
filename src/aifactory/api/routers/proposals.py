"""Proposals: applicants apply, submit and withdraw; operators assign reviewers and decide."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from aifactory.api import views_access as v
from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas_access import (
    DecisionCreate,
    ProposalDetail,
    ProposalPublic,
    ReviewerAssign,
    ReviewPublic,
)
from aifactory.domain.access import ProposalState
from aifactory.domain.access_forms import Day, ProposalForm
from aifactory.services import proposals, reviews
from aifactory.services.ids import utcnow

router = APIRouter(prefix="/proposals", tags=["proposals"])


@router.post(
    "",
    operation_id="create_proposal",
    response_model=ProposalDetail,
    status_code=status.HTTP_201_CREATED,
)
def create_proposal(
    body: ProposalForm,
    runtime: Rt,
    caller: Caller,
    draft: Annotated[bool, Query(description="Keep it as a draft; submit later.")] = False,
) -> ProposalDetail:
    """Apply to a call. Submitted at once unless ``draft``; a proposal that breaks a rule of
    the call answers 422 naming the rule, and nothing is written."""
    now = utcnow()
    with runtime.db.write() as session:
        p = proposals.create(session, caller, runtime.catalog, body, submit=not draft, now=now)
        return v.proposal_detail(session, p, caller, now.date())


@router.get("", operation_id="list_proposals", response_model=list[ProposalPublic])
def list_proposals(
    runtime: Rt,
    caller: Caller,
    call_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[list[ProposalState] | None, Query()] = None,
) -> list[ProposalPublic]:
    today = utcnow().date()
    with runtime.db.read() as session:
        rows = proposals.list_proposals(session, caller, call_id=call_id, states=tuple(state or ()))
        return [v.proposal(session, p, today) for p in rows]


@router.get("/due", operation_id="proposals_due", response_model=list[ProposalPublic])
def proposals_due(
    runtime: Rt,
    caller: Caller,
    until: Annotated[
        Day | None,
        Query(description="YYYY-MM-DD; default: the end of this week (Sunday)."),
    ] = None,
) -> list[ProposalPublic]:
    """Operators: undecided proposals due by ``until``, overdue ones first."""
    today = utcnow().date()
    until = until or today + timedelta(days=6 - today.weekday())
    with runtime.db.read() as session:
        return [v.proposal(session, p, today) for p in proposals.due(session, caller, until)]


@router.get("/{proposal_id}", operation_id="get_proposal", response_model=ProposalDetail)
def get_proposal(proposal_id: str, runtime: Rt, caller: Caller) -> ProposalDetail:
    with runtime.db.read() as session:
        p = proposals.get_proposal(session, caller, proposal_id)
        return v.proposal_detail(session, p, caller, utcnow().date())


@router.post("/{proposal_id}/submit", operation_id="submit_proposal", response_model=ProposalDetail)
def submit_proposal(proposal_id: str, runtime: Rt, caller: Caller) -> ProposalDetail:
    now = utcnow()
    with runtime.db.write() as session:
        p = proposals.submit(session, caller, runtime.catalog, proposal_id, now)
        return v.proposal_detail(session, p, caller, now.date())


@router.post(
    "/{proposal_id}/withdraw", operation_id="withdraw_proposal", response_model=ProposalDetail
)
def withdraw_proposal(proposal_id: str, runtime: Rt, caller: Caller) -> ProposalDetail:
    with runtime.db.write() as session:
        p = proposals.withdraw(session, caller, proposal_id)
        return v.proposal_detail(session, p, caller, utcnow().date())


@router.post(
    "/{proposal_id}/reviewers",
    operation_id="assign_reviewer",
    response_model=ReviewPublic,
    status_code=status.HTTP_201_CREATED,
)
def assign_reviewer(
    proposal_id: str, body: ReviewerAssign, runtime: Rt, caller: Caller
) -> ReviewPublic:
    """Operators assign a technical or peer reviewer; one from the applicant's organisation or
    with a declared conflict is refused (422, rule conflict_of_interest)."""
    with runtime.db.write() as session:
        r = reviews.assign(
            session, caller, proposal_id, reviewer_email=body.reviewer, kind=body.kind
        )
        return v.review(session, r, caller)


@router.post(
    "/{proposal_id}/decision", operation_id="decide_proposal", response_model=ProposalDetail
)
def decide_proposal(
    proposal_id: str, body: DecisionCreate, runtime: Rt, caller: Caller
) -> ProposalDetail:
    """Operators accept or reject; accepting creates the allocations. Deciding twice → 409."""
    now = utcnow()
    with runtime.db.write() as session:
        p = proposals.decide(
            session,
            caller,
            runtime.catalog,
            proposal_id,
            proposals.DecisionInput(body.decision, body.reason),
            now,
        )
        return v.proposal_detail(session, p, caller, now.date())
