"""Reviews: operators assign technical and peer reviewers; reviewers declare conflicts of
interest and submit their reviews. A reviewer from the applicant's organisation, or with a
declared conflict, cannot be assigned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifactory.db.tables import Membership, Organisation, Proposal, Review, ReviewerConflict, User
from aifactory.domain.access import (
    ProposalState,
    ReviewKind,
    ReviewState,
    TechnicalCheck,
    check_review_transition,
)
from aifactory.domain.catalog import Catalog
from aifactory.domain.identity import PlatformRole
from aifactory.services import audit, calls, notifications, proposals
from aifactory.services.errors import Conflict, FieldProblem, Forbidden, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow
from aifactory.services.tenancy import user_by_email


def conflict_of(session: Session, reviewer: User, org: Organisation) -> str | None:
    """Why ``reviewer`` may not review ``org``'s proposals, or None."""
    if session.get(Membership, (org.id, reviewer.id)) is not None:
        return f"{reviewer.email} is a member of the applicant organisation {org.name!r}"
    declared = session.execute(
        select(ReviewerConflict.reason).where(
            ReviewerConflict.reviewer_id == reviewer.id,
            func.lower(ReviewerConflict.organisation) == org.name.lower(),
        )
    ).scalar_one_or_none()
    if declared is not None:
        return f"{reviewer.email} declared a conflict with {org.name!r}: {declared}"
    return None


def assign(
    session: Session,
    principal: Principal,
    proposal_id: str,
    *,
    reviewer_email: str,
    kind: ReviewKind,
) -> Review:
    proposal = proposals.get_proposal(session, principal, proposal_id)  # 404 before 403
    if not principal.is_operator:
        raise Forbidden("only operators assign reviewers")
    state = ProposalState(proposal.state)
    if state not in (ProposalState.TECHNICAL_REVIEW, ProposalState.PEER_REVIEW):
        raise Conflict(f"proposal {proposal.reference or proposal.id} is {state.value}")
    rules = calls.rules_of(calls.get_call(session, proposal.call_id))
    if kind is ReviewKind.TECHNICAL and rules.technical_check is TechnicalCheck.AUTOMATIC:
        raise Invalid.one("kind", "this call's technical check is automatic", ["peer"])
    if kind is ReviewKind.PEER and not rules.peer_reviews:
        raise Invalid.one("kind", "this call has no peer review", ["technical"])
    reviewer = user_by_email(session, reviewer_email)
    if PlatformRole.REVIEWER.value not in (reviewer.platform_roles or []):
        raise Invalid.one("reviewer", f"{reviewer.email} does not have the platform role reviewer")
    org = session.get(Organisation, proposal.org_id)
    assert org is not None
    why = conflict_of(session, reviewer, org)
    if why:
        raise Invalid([FieldProblem("reviewer", why, rule="conflict_of_interest")])
    exists = session.execute(
        select(Review.id).where(
            Review.proposal_id == proposal.id,
            Review.reviewer_id == reviewer.id,
            Review.kind == kind.value,
        )
    ).first()
    if exists:
        raise Conflict(f"{reviewer.email} is already a {kind.value} reviewer of this proposal")
    review = Review(
        id=new_id("rev"),
        proposal_id=proposal.id,
        reviewer_id=reviewer.id,
        kind=kind.value,
        state=ReviewState.REQUESTED.value,
        comments="",
        assigned_by=principal.user_id,
        created_at=utcnow(),
    )
    session.add(review)
    session.flush()
    audit.append(
        session,
        actor=principal.user_id,
        action="review.assign",
        object_type="review",
        object_id=review.id,
        org_id=proposal.org_id,
        data={"proposal_id": proposal.id, "reviewer_id": reviewer.id, "kind": kind.value},
    )
    notifications.enqueue(
        session,
        [reviewer.email],
        "review.requested",
        f"Review requested: {proposal.reference} ({kind.value})",
        f"Please review proposal {proposal.reference}, {proposal.title!r} ({kind.value} "
        f"review). A decision is due by {proposal.decision_due_on}.\n"
        f"Read it with `aif proposal show {proposal.id}`; answer with "
        f"`aif review submit {review.id}`.",
    )
    return review


def submit(
    session: Session,
    principal: Principal,
    catalog: Catalog,
    review_id: str,
    *,
    passed: bool | None,
    score: int | None,
    comments: str,
    now: datetime,
) -> Review:
    review = session.get(Review, review_id)
    if review is None or review.reviewer_id != principal.user_id:
        raise NotFound("review", review_id)
    proposal = session.get(Proposal, review.proposal_id)
    assert proposal is not None
    if proposal.org_id in principal.orgs:
        raise Forbidden("a reviewer cannot review their own organisation's proposal")
    reviewer = session.get(User, principal.user_id)
    org = session.get(Organisation, proposal.org_id)
    assert reviewer is not None and org is not None
    why = conflict_of(session, reviewer, org)  # a conflict declared after the assignment
    if why:
        raise Forbidden(f"conflict of interest: {why}")
    kind = ReviewKind(review.kind)
    if kind is ReviewKind.TECHNICAL and passed is None:
        raise Invalid.one(
            "passed", "a technical review says whether the request fits", ["true", "false"]
        )
    if kind is ReviewKind.PEER and score is None:
        raise Invalid.one("score", "a peer review gives a score", [str(i) for i in range(1, 6)])
    if review.state != ReviewState.REQUESTED.value:
        raise Conflict(f"review {review.id} is already {review.state}")
    check_review_transition(ReviewState(review.state), ReviewState.SUBMITTED)
    review.state = ReviewState.SUBMITTED.value
    review.passed = passed if kind is ReviewKind.TECHNICAL else None
    review.score = score if kind is ReviewKind.PEER else None
    review.comments = comments
    review.submitted_at = now
    audit.append(
        session,
        actor=principal.user_id,
        action="review.submit",
        object_type="review",
        object_id=review.id,
        org_id=proposal.org_id,
        data={"proposal_id": proposal.id, "kind": kind.value, "passed": passed, "score": score},
    )
    call = calls.get_call(session, proposal.call_id)
    rules = calls.rules_of(call)
    state = ProposalState(proposal.state)
    if kind is ReviewKind.TECHNICAL and state is ProposalState.TECHNICAL_REVIEW:
        if passed:
            proposals.technical_passed(
                session, catalog, proposal, call, principal.user_id, comments or "passed", now
            )
        elif rules.operator_decision:
            # Peer-reviewed modes: an operator decides, with the technical verdict before them.
            proposal.reason = f"technical review did not pass: {comments}; awaiting a decision"
        else:
            proposals.reject(
                session, proposal, principal.user_id, f"technical review: {comments}", now
            )
    elif kind is ReviewKind.PEER:
        scores = [
            r.score
            for r in proposals.reviews_of(session, proposal.id)
            if r.kind == ReviewKind.PEER.value and r.score is not None
        ]
        if len(scores) >= rules.peer_reviews:
            mean = sum(scores) / len(scores)
            proposal.reason = (
                f"{len(scores)} peer reviews in (mean score {mean:.1f}); awaiting a decision"
            )
        else:
            proposal.reason = f"{len(scores)} of {rules.peer_reviews} peer reviews in"
    return review


def list_reviews(
    session: Session,
    principal: Principal,
    *,
    states: tuple[ReviewState, ...] = (),
    proposal_id: str | None = None,
) -> list[Review]:
    """A reviewer's own reviews; operators see every review."""
    query = select(Review).order_by(Review.created_at.desc(), Review.id)
    if not principal.is_operator:
        query = query.where(Review.reviewer_id == principal.user_id)
    if states:
        query = query.where(Review.state.in_([s.value for s in states]))
    if proposal_id:
        query = query.where(Review.proposal_id == proposal_id)
    return list(session.execute(query).scalars())


def declare_conflict(
    session: Session, principal: Principal, *, organisation: str, reason: str
) -> ReviewerConflict:
    if not principal.is_reviewer:
        raise Forbidden("only reviewers declare conflicts of interest")
    name = organisation.strip()
    existing = session.execute(
        select(ReviewerConflict).where(
            ReviewerConflict.reviewer_id == principal.user_id,
            func.lower(ReviewerConflict.organisation) == name.lower(),
        )
    ).scalar_one_or_none()
    if existing is not None:
        existing.reason = reason
        conflict = existing
    else:
        conflict = ReviewerConflict(
            reviewer_id=principal.user_id, organisation=name, reason=reason, declared_at=utcnow()
        )
        session.add(conflict)
        session.flush()
    audit.append(
        session,
        actor=principal.user_id,
        action="review.conflict",
        object_type="user",
        object_id=principal.user_id,
        data={"organisation": name, "reason": reason[:500]},
    )
    return conflict


def list_conflicts(session: Session, principal: Principal) -> list[ReviewerConflict]:
    return list(
        session.execute(
            select(ReviewerConflict)
            .where(ReviewerConflict.reviewer_id == principal.user_id)
            .order_by(ReviewerConflict.id)
        ).scalars()
    )
