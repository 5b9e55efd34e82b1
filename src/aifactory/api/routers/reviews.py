"""Reviews: a reviewer's requests, their answers, and their declared conflicts of interest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from aifactory.api import views_access as v
from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas_access import (
    ConflictCreate,
    ConflictPublic,
    ReviewPublic,
    ReviewSubmit,
)
from aifactory.domain.access import ReviewState
from aifactory.services import reviews
from aifactory.services.ids import as_utc, utcnow

router = APIRouter(tags=["reviews"])


@router.get("/reviews", operation_id="list_reviews", response_model=list[ReviewPublic])
def list_reviews(
    runtime: Rt,
    caller: Caller,
    state: Annotated[list[ReviewState] | None, Query()] = None,
    proposal_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[ReviewPublic]:
    """The caller's review requests (operators: every review)."""
    with runtime.db.read() as session:
        rows = reviews.list_reviews(
            session, caller, states=tuple(state or ()), proposal_id=proposal_id
        )
        return [v.review(session, r, caller) for r in rows]


@router.post("/reviews/{review_id}", operation_id="submit_review", response_model=ReviewPublic)
def submit_review(review_id: str, body: ReviewSubmit, runtime: Rt, caller: Caller) -> ReviewPublic:
    """A technical review says ``passed``; a peer review gives a ``score`` from 1 to 5."""
    with runtime.db.write() as session:
        r = reviews.submit(
            session,
            caller,
            runtime.catalog,
            review_id,
            passed=body.passed,
            score=body.score,
            comments=body.comments,
            now=utcnow(),
        )
        return v.review(session, r, caller)


@router.get(
    "/reviewer/conflicts", operation_id="list_conflicts", response_model=list[ConflictPublic]
)
def list_conflicts(runtime: Rt, caller: Caller) -> list[ConflictPublic]:
    with runtime.db.read() as session:
        return [
            ConflictPublic(
                organisation=c.organisation, reason=c.reason, declared_at=as_utc(c.declared_at)
            )
            for c in reviews.list_conflicts(session, caller)
        ]


@router.post(
    "/reviewer/conflicts",
    operation_id="declare_conflict",
    response_model=ConflictPublic,
    status_code=status.HTTP_201_CREATED,
)
def declare_conflict(body: ConflictCreate, runtime: Rt, caller: Caller) -> ConflictPublic:
    """Reviewers declare a conflict of interest with an organisation (by name)."""
    with runtime.db.write() as session:
        c = reviews.declare_conflict(
            session, caller, organisation=body.organisation, reason=body.reason
        )
        return ConflictPublic(
            organisation=c.organisation, reason=c.reason, declared_at=as_utc(c.declared_at)
        )
