"""Access calls, proposals, reviews and allocations: the enums and one transition table per
state machine. Every write of a proposal's or a review's state goes through the checks here,
so an illegal transition cannot reach the database."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class AccessMode(StrEnum):
    """The four access modes of the AI Factories (reference/access-modes.md)."""

    PLAYGROUND = "playground"
    FAST_LANE = "fast_lane"
    LARGE_SCALE = "large_scale"
    AI_FOR_SCIENCE = "ai_for_science"

    @property
    def code(self) -> str:
        """The two letters of a proposal reference (``EHPC-AIF-2026PG01-1147``)."""
        return _MODE_CODES[self]


_MODE_CODES = {
    AccessMode.PLAYGROUND: "PG",
    AccessMode.FAST_LANE: "FL",
    AccessMode.LARGE_SCALE: "LS",
    AccessMode.AI_FOR_SCIENCE: "AS",
}


class WorkType(StrEnum):
    """The AI work a proposal asks for and a job does."""

    TRAINING = "training"
    FINE_TUNING = "fine_tuning"
    INFERENCE = "inference"
    EVALUATION = "evaluation"


class Sector(StrEnum):
    HEALTH = "health"
    MANUFACTURING = "manufacturing"
    ENERGY = "energy"
    CLIMATE = "climate"
    FINANCE = "finance"
    PUBLIC_SECTOR = "public_sector"
    SCIENCE = "science"
    MOBILITY = "mobility"
    AGRICULTURE = "agriculture"
    MEDIA = "media"
    OTHER = "other"


class TechnicalCheck(StrEnum):
    AUTOMATIC = "automatic"  # the platform checks the request fits the partitions
    REVIEWER = "reviewer"  # a technical reviewer assigned by an operator


class DeadlineFrom(StrEnum):
    SUBMISSION = "submission"
    CUTOFF = "cutoff"  # the call's next cut-off on or after the submission


class ReviewKind(StrEnum):
    TECHNICAL = "technical"
    PEER = "peer"


class Decision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


class LedgerKind(StrEnum):
    """Every movement of an allocation's GPU-seconds; the balance is their sum."""

    GRANT = "grant"  # + the hours an accepted proposal (or an operator) grants
    RESERVATION = "reservation"  # - walltime x GPUs when a job is placed
    SETTLEMENT = "settlement"  # + the unused part of a reservation when the job ends
    ADJUSTMENT = "adjustment"  # +/- by an operator, with a reason
    EXPIRY = "expiry"  # - what is left when the allocation ends


class AllocationState(StrEnum):
    """Derived from the period and the balance, never stored."""

    SCHEDULED = "scheduled"
    ACTIVE = "active"
    EXHAUSTED = "exhausted"
    ENDED = "ended"


class ProposalState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ELIGIBILITY = "eligibility"
    TECHNICAL_REVIEW = "technical_review"
    PEER_REVIEW = "peer_review"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def is_final(self) -> bool:
        return self in (ProposalState.ACCEPTED, ProposalState.REJECTED, ProposalState.WITHDRAWN)

    @property
    def is_decided(self) -> bool:
        return self in (ProposalState.ACCEPTED, ProposalState.REJECTED)


_P = ProposalState
# Why each edge exists:
# - submitted -> eligibility -> technical_review: eligibility is checked as the proposal is
#   submitted (a proposal that fails it is refused with 422 and never written), so these
#   steps pass at once and stay in the history with their reasons.
# - technical_review -> accepted: modes without peer review (Playground, Fast Lane) accept once
#   the technical check passes, first come first served; with operator_decision, an operator.
# - technical_review/peer_review -> rejected: a failed technical review, or a decision.
# - draft/technical_review/peer_review -> withdrawn: the applicant withdraws.
PROPOSAL_TRANSITIONS: Mapping[ProposalState, frozenset[ProposalState]] = {
    _P.DRAFT: frozenset({_P.SUBMITTED, _P.WITHDRAWN}),
    _P.SUBMITTED: frozenset({_P.ELIGIBILITY}),
    _P.ELIGIBILITY: frozenset({_P.TECHNICAL_REVIEW}),
    _P.TECHNICAL_REVIEW: frozenset({_P.PEER_REVIEW, _P.ACCEPTED, _P.REJECTED, _P.WITHDRAWN}),
    _P.PEER_REVIEW: frozenset({_P.ACCEPTED, _P.REJECTED, _P.WITHDRAWN}),
    _P.ACCEPTED: frozenset(),
    _P.REJECTED: frozenset(),
    _P.WITHDRAWN: frozenset(),
}


class ReviewState(StrEnum):
    REQUESTED = "requested"
    SUBMITTED = "submitted"
    CANCELLED = "cancelled"  # the proposal was withdrawn or decided before the review came


REVIEW_TRANSITIONS: Mapping[ReviewState, frozenset[ReviewState]] = {
    ReviewState.REQUESTED: frozenset({ReviewState.SUBMITTED, ReviewState.CANCELLED}),
    ReviewState.SUBMITTED: frozenset(),
    ReviewState.CANCELLED: frozenset(),
}


class IllegalTransition(ValueError):
    def __init__(self, kind: str, current: StrEnum, target: StrEnum, allowed: frozenset[str]):
        listed = ", ".join(sorted(allowed)) or "none (final state)"
        super().__init__(
            f"{kind} cannot go from {current.value} to {target.value}; allowed from "
            f"{current.value}: {listed}"
        )
        self.current = current
        self.target = target


def check_proposal_transition(current: ProposalState, target: ProposalState) -> None:
    allowed = PROPOSAL_TRANSITIONS[current]
    if target not in allowed:
        raise IllegalTransition("proposal", current, target, frozenset(allowed))


def check_review_transition(current: ReviewState, target: ReviewState) -> None:
    allowed = REVIEW_TRANSITIONS[current]
    if target not in allowed:
        raise IllegalTransition("review", current, target, frozenset(allowed))
