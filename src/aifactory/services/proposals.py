"""Proposals: an applicant's form through eligibility, technical and peer review to a
decision; an accepted proposal becomes allocations. State changes go through
:func:`transition`, the only writer of ``Proposal.state``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.core.calendar import add_months
from aifactory.db.tables import Call, Organisation, Proposal, ProposalEvent, Review
from aifactory.domain.access import (
    AccessMode,
    DeadlineFrom,
    Decision,
    ProposalState,
    ReviewKind,
    ReviewState,
    TechnicalCheck,
    check_proposal_transition,
    check_review_transition,
)
from aifactory.domain.access_forms import CallRules, ProposalForm
from aifactory.domain.catalog import Catalog
from aifactory.domain.countries import EUROHPC_COUNTRIES
from aifactory.services import allocations, audit, calls, notifications
from aifactory.services.compliance import use_cases
from aifactory.services.errors import Conflict, FieldProblem, Forbidden, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow
from aifactory.services.tenancy import get_project, may_submit

SYSTEM = audit.SYSTEM_ACTOR


def transition(
    session: Session,
    proposal: Proposal,
    target: ProposalState,
    *,
    actor: str,
    reason: str = "",
    at: datetime | None = None,
) -> None:
    """The one place a proposal's state is written: checked, recorded, audited."""
    check_proposal_transition(ProposalState(proposal.state), target)
    at = at or utcnow()
    proposal.state = target.value
    proposal.reason = reason
    proposal.updated_at = at
    session.add(
        ProposalEvent(
            proposal_id=proposal.id, state=target.value, at=at, actor=actor, reason=reason
        )
    )
    audit.append(
        session,
        actor=actor,
        action=f"proposal.{target.value}",
        object_type="proposal",
        object_id=proposal.id,
        org_id=proposal.org_id,
        data={"reason": reason[:500]},
    )


def form_of(proposal: Proposal) -> ProposalForm:
    return ProposalForm.model_validate(proposal.form)


# -- reading, scoped -------------------------------------------------------------------------
def _reviewer_of(session: Session, principal: Principal, proposal_id: str) -> bool:
    return (
        session.execute(
            select(Review.id).where(
                Review.proposal_id == proposal_id, Review.reviewer_id == principal.user_id
            )
        ).first()
        is not None
    )


def get_proposal(session: Session, principal: Principal, proposal_id: str) -> Proposal:
    """Applicants see their organisations' proposals, reviewers those assigned to them,
    operators all; anything else answers 404."""
    p = session.get(Proposal, proposal_id)
    if p is None or not (
        principal.can_read_org(p.org_id) or _reviewer_of(session, principal, proposal_id)
    ):
        raise NotFound("proposal", proposal_id)
    if p.state == ProposalState.DRAFT.value and p.org_id not in principal.orgs:
        raise NotFound("proposal", proposal_id)  # a draft is the applicant's own
    return p


def list_proposals(
    session: Session,
    principal: Principal,
    *,
    call_id: str | None = None,
    states: tuple[ProposalState, ...] = (),
) -> list[Proposal]:
    query = select(Proposal).order_by(Proposal.created_at.desc(), Proposal.id)
    if not principal.sees_all_tenants:
        assigned = select(Review.proposal_id).where(Review.reviewer_id == principal.user_id)
        query = query.where(Proposal.org_id.in_(list(principal.orgs)) | Proposal.id.in_(assigned))
    if call_id:
        query = query.where(Proposal.call_id == call_id)
    if states:
        query = query.where(Proposal.state.in_([s.value for s in states]))
    rows = session.execute(query).scalars()
    return [p for p in rows if p.state != ProposalState.DRAFT.value or p.org_id in principal.orgs]


def history(session: Session, proposal_id: str) -> list[ProposalEvent]:
    return list(
        session.execute(
            select(ProposalEvent)
            .where(ProposalEvent.proposal_id == proposal_id)
            .order_by(ProposalEvent.id)
        ).scalars()
    )


def reviews_of(session: Session, proposal_id: str) -> list[Review]:
    return list(
        session.execute(
            select(Review).where(Review.proposal_id == proposal_id).order_by(Review.created_at)
        ).scalars()
    )


def due(session: Session, principal: Principal, until: date) -> list[Proposal]:
    """The operators' dashboard: undecided proposals due on or before ``until`` (overdue ones
    included), soonest first."""
    if not principal.is_operator:
        raise Forbidden("only operators see the decision dashboard")
    open_states = [
        s.value for s in ProposalState if not s.is_final and s is not ProposalState.DRAFT
    ]
    return list(
        session.execute(
            select(Proposal)
            .where(Proposal.state.in_(open_states), Proposal.decision_due_on <= until)
            .order_by(Proposal.decision_due_on, Proposal.id)
        ).scalars()
    )


def is_overdue(p: Proposal, today: date) -> bool:
    state = ProposalState(p.state)
    return not state.is_final and p.decision_due_on is not None and p.decision_due_on < today


# -- applying --------------------------------------------------------------------------------
def create(
    session: Session,
    principal: Principal,
    catalog: Catalog,
    form: ProposalForm,
    *,
    submit: bool,
    now: datetime,
) -> Proposal:
    call = calls.get_call(session, form.call)
    project = get_project(session, principal, form.project)
    if not may_submit(principal, project) or project.org_id not in principal.orgs:
        raise Forbidden("only the project's members and its organisation's owners may apply")
    proposal = Proposal(
        id=new_id("prop"),
        reference=None,
        call_id=call.id,
        org_id=project.org_id,
        project_id=project.id,
        user_id=principal.user_id,
        title=form.title,
        form=form.model_dump(mode="json"),
        gpu_hours=form.gpu_hours,
        state=ProposalState.DRAFT.value,
        reason="draft",
        created_at=now,
        updated_at=now,
    )
    session.add(proposal)
    session.flush()
    session.add(
        ProposalEvent(
            proposal_id=proposal.id,
            state=ProposalState.DRAFT.value,
            at=now,
            actor=principal.user_id,
            reason="created",
        )
    )
    audit.append(
        session,
        actor=principal.user_id,
        action="proposal.create",
        object_type="proposal",
        object_id=proposal.id,
        org_id=proposal.org_id,
        data={"call": call.code, "gpu_hours": form.gpu_hours},
    )
    if submit:
        _submit(session, principal, catalog, proposal, call, form, now)
    return proposal


def submit(
    session: Session, principal: Principal, catalog: Catalog, proposal_id: str, now: datetime
) -> Proposal:
    proposal = get_proposal(session, principal, proposal_id)
    if proposal.org_id not in principal.orgs:
        raise Forbidden("only the applicant's organisation submits its proposal")
    if proposal.state != ProposalState.DRAFT.value:
        raise Conflict(f"proposal {proposal.id} is already {proposal.state}")
    call = calls.get_call(session, proposal.call_id)
    _submit(session, principal, catalog, proposal, call, form_of(proposal), now)
    return proposal


def eligibility_problems(
    session: Session,
    catalog: Catalog,
    call: Call,
    org: Organisation,
    form: ProposalForm,
    today: date,
) -> list[FieldProblem]:
    """Every rule of the call the proposal breaks, each naming its field and rule."""
    rules = calls.rules_of(call)
    mode = AccessMode(call.mode)
    out: list[FieldProblem] = []
    closed = calls.open_problem(call, today)
    if closed:
        out.append(FieldProblem("call", closed, rule="call_open"))
    elif rules.decision_from is DeadlineFrom.CUTOFF and calls.next_cutoff(call, today) is None:
        out.append(
            FieldProblem(
                "call", f"call {call.code} has no cut-off left to decide at", rule="cutoffs"
            )
        )
    kinds = [k.value for k in rules.eligible_kinds]
    if org.kind not in kinds:
        out.append(
            FieldProblem(
                "organisation.kind",
                f"{mode.value} is open to {', '.join(kinds)}; the organisation is {org.kind}",
                kinds,
                "eligible_kinds",
            )
        )
    countries = rules.eligible_countries or sorted(EUROHPC_COUNTRIES)
    if org.country not in countries:
        out.append(
            FieldProblem(
                "organisation.country",
                f"the organisation is established in {org.country}",
                countries,
                "eligible_countries",
            )
        )
    if org.kind in {k.value for k in rules.eu_project_required_for} and not form.eu_project:
        out.append(
            FieldProblem(
                "eu_project",
                f"a {org.kind} applies to {mode.value} within a Horizon Europe or Digital "
                "Europe project: name it",
                rule="eu_project_required_for",
            )
        )
    for alloc in allocations.overdue_reports(session, org.id, today):
        out.append(
            FieldProblem(
                "organisation",
                f"the final report of allocation {alloc.id} was due on "
                f"{alloc.report_due_on.isoformat()}; file it (aif allocation report) or ask "
                "an operator to waive it",
                rule="final_report_overdue",
            )
        )
    out.extend(_request_problems(catalog, call, rules, form))
    return out


def _request_problems(
    catalog: Catalog, call: Call, rules: CallRules, form: ProposalForm
) -> list[FieldProblem]:
    mode = call.mode
    out: list[FieldProblem] = []
    parts = {f"{s.id}/{p.id}": p for s, p in catalog.partitions()}
    for i, r in enumerate(form.resources):
        if r.partition not in call.partitions:
            out.append(
                FieldProblem(
                    f"resources[{i}].partition",
                    f"call {call.code} is for {', '.join(call.partitions)}",
                    list(call.partitions),
                    "partitions",
                )
            )
        elif r.partition in parts and r.largest_job_gpus > parts[r.partition].total_accelerators:
            total = parts[r.partition].total_accelerators
            out.append(
                FieldProblem(
                    f"resources[{i}].largest_job_gpus",
                    f"{r.partition} has {total} accelerators in all; a job of "
                    f"{r.largest_job_gpus} cannot run there",
                    rule="technical_fit",
                )
            )
    if rules.max_partitions is not None and len(form.resources) > rules.max_partitions:
        out.append(
            FieldProblem(
                "resources",
                f"{mode} allows {rules.max_partitions} partition(s); asked for "
                f"{len(form.resources)}",
                rule="max_partitions",
            )
        )
    total = form.gpu_hours
    if total < rules.min_gpu_hours:
        out.append(
            FieldProblem(
                "resources",
                f"{mode} needs at least {rules.min_gpu_hours:,} GPU-hours; asked for {total:,}",
                rule="min_gpu_hours",
            )
        )
    if rules.max_gpu_hours is not None and total > rules.max_gpu_hours:
        out.append(
            FieldProblem(
                "resources",
                f"{mode} allows at most {rules.max_gpu_hours:,} GPU-hours; asked for {total:,}",
                rule="max_gpu_hours",
            )
        )
    if form.duration_months not in rules.durations_months:
        allowed = [str(m) for m in rules.durations_months]
        out.append(
            FieldProblem(
                "duration_months",
                f"{mode} allocations last {', '.join(allowed)} months",
                allowed,
                "durations_months",
            )
        )
    if form.ai_act.prohibited_practice:
        out.append(
            FieldProblem(
                "ai_act.prohibited_practice",
                "the AI Factories host no practice the AI Act prohibits (Article 5)",
                ["false"],
                "ai_act",
            )
        )
    return out


def _submit(
    session: Session,
    principal: Principal,
    catalog: Catalog,
    proposal: Proposal,
    call: Call,
    form: ProposalForm,
    now: datetime,
) -> None:
    today = now.date()
    org = session.get(Organisation, proposal.org_id)
    assert org is not None
    problems = eligibility_problems(session, catalog, call, org, form, today)
    blocked = use_cases.blocking_reason(session, proposal.project_id)
    if blocked:
        problems.append(FieldProblem("project_id", blocked, rule="ai_act_art5"))
    if problems:
        raise Invalid(problems)  # the caller's transaction rolls back: nothing is written
    rules = calls.rules_of(call)
    call.proposal_count += 1
    proposal.reference = f"EHPC-AIF-{call.code}-{call.proposal_count:04d}"
    proposal.submitted_at = now
    proposal.cutoff_on, proposal.decision_due_on = calls.decision_due(call, catalog, today)
    actor = principal.user_id
    transition(session, proposal, ProposalState.SUBMITTED, actor=actor, reason="submitted")
    transition(
        session,
        proposal,
        ProposalState.ELIGIBILITY,
        actor=SYSTEM,
        reason=f"eligible: {org.kind} in {org.country}, {form.gpu_hours:,} GPU-hours",
    )
    transition(
        session,
        proposal,
        ProposalState.TECHNICAL_REVIEW,
        actor=SYSTEM,
        reason="awaiting the technical check",
    )
    applicant = notifications.emails_of(session, [proposal.user_id])
    notifications.enqueue(
        session,
        applicant,
        "proposal.submitted",
        f"{proposal.reference} received: {proposal.title}",
        f"Your proposal {proposal.reference} to call {call.code} ({call.mode}) is received.\n"
        f"A decision is due by {proposal.decision_due_on}.",
    )
    if rules.technical_check is TechnicalCheck.AUTOMATIC:
        # The request was checked against the partitions above (technical_fit).
        technical_passed(session, catalog, proposal, call, SYSTEM, "automatic check passed", now)


def technical_passed(
    session: Session,
    catalog: Catalog,
    proposal: Proposal,
    call: Call,
    actor: str,
    reason: str,
    now: datetime,
) -> None:
    rules = calls.rules_of(call)
    if rules.peer_reviews:
        transition(
            session,
            proposal,
            ProposalState.PEER_REVIEW,
            actor=actor,
            reason=f"technical review passed; needs {rules.peer_reviews} peer reviews",
        )
    elif not rules.operator_decision:
        _accept(session, catalog, proposal, call, actor, f"first come, first served: {reason}", now)
    else:
        proposal.reason = f"technical review passed; awaiting an operator's decision ({reason})"


def withdraw(session: Session, principal: Principal, proposal_id: str) -> Proposal:
    proposal = get_proposal(session, principal, proposal_id)
    if proposal.org_id not in principal.orgs:
        raise Forbidden("only the applicant's organisation may withdraw its proposal")
    if ProposalState(proposal.state).is_final:
        raise Conflict(f"proposal {proposal.id} is already {proposal.state}")
    _cancel_reviews(session, proposal.id)
    transition(
        session, proposal, ProposalState.WITHDRAWN, actor=principal.user_id, reason="withdrawn"
    )
    return proposal


def _cancel_reviews(session: Session, proposal_id: str) -> None:
    for review in reviews_of(session, proposal_id):
        if review.state == ReviewState.REQUESTED.value:
            check_review_transition(ReviewState.REQUESTED, ReviewState.CANCELLED)
            review.state = ReviewState.CANCELLED.value


# -- deciding --------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecisionInput:
    decision: Decision
    reason: str


def decide(
    session: Session,
    principal: Principal,
    catalog: Catalog,
    proposal_id: str,
    body: DecisionInput,
    now: datetime,
) -> Proposal:
    proposal = get_proposal(session, principal, proposal_id)
    if not principal.is_operator:
        raise Forbidden("only operators decide proposals")
    if proposal.org_id in principal.orgs:
        raise Forbidden("a member of the applicant's organisation cannot decide its proposal")
    state = ProposalState(proposal.state)
    if state.is_final:
        raise Conflict(f"proposal {proposal.reference or proposal.id} is already {state.value}")
    call = calls.get_call(session, proposal.call_id)
    rules = calls.rules_of(call)
    if body.decision is Decision.ACCEPT:
        missing = _missing_for_decision(session, proposal, rules)
        if missing:
            raise Conflict(f"proposal {proposal.reference} cannot be accepted yet: {missing}")
        _accept(session, catalog, proposal, call, principal.user_id, body.reason, now)
    else:
        if state is ProposalState.DRAFT:
            raise Conflict("a draft is not submitted; there is nothing to decide")
        reject(session, proposal, principal.user_id, body.reason, now)
    return proposal


def _missing_for_decision(session: Session, proposal: Proposal, rules: CallRules) -> str:
    state = ProposalState(proposal.state)
    if state not in (ProposalState.TECHNICAL_REVIEW, ProposalState.PEER_REVIEW):
        return f"it is in {state.value}"
    done = [r for r in reviews_of(session, proposal.id) if r.state == ReviewState.SUBMITTED.value]
    technical_ok = rules.technical_check is TechnicalCheck.AUTOMATIC or any(
        r.kind == ReviewKind.TECHNICAL.value and r.passed for r in done
    )
    if not technical_ok:
        return "the technical review has not passed"
    peers = sum(1 for r in done if r.kind == ReviewKind.PEER.value)
    if peers < rules.peer_reviews:
        return f"it needs {rules.peer_reviews} peer reviews and has {peers}"
    return ""


def _accept(
    session: Session,
    catalog: Catalog,
    proposal: Proposal,
    call: Call,
    actor: str,
    reason: str,
    now: datetime,
) -> None:
    form = form_of(proposal)
    rules = calls.rules_of(call)
    _cancel_reviews(session, proposal.id)
    transition(session, proposal, ProposalState.ACCEPTED, actor=actor, reason=reason)
    proposal.decided_at = now
    proposal.decided_by = actor
    ends_on = add_months(now.date(), form.duration_months)
    ends = datetime.combine(ends_on, time(), tzinfo=UTC)
    applicant = notifications.emails_of(session, [proposal.user_id])
    for r in form.resources:
        site_id, part_id = allocations.split_partition(catalog, r.partition, "partition")
        allocations.grant(
            session,
            actor=actor,
            org_id=proposal.org_id,
            project_id=proposal.project_id,
            site_id=site_id,
            partition_id=part_id,
            gpu_hours=r.gpu_hours,
            starts_at=now,
            ends_at=ends,
            report_due_on=add_months(ends_on, rules.report_due_months),
            reason=f"{proposal.reference} accepted",
            proposal_id=proposal.id,
            mode=call.mode,
            inference_share_max=rules.inference_share_max,
        )
    notifications.enqueue(
        session,
        applicant,
        "proposal.decided",
        f"{proposal.reference} accepted",
        f"Your proposal {proposal.reference} ({proposal.title}) is accepted: {reason}\n"
        f"Its allocations run until {ends_on.isoformat()}; see them with `aif allocations`.\n"
        f"Publications acknowledge the project ID {proposal.reference}.",
    )


def reject(session: Session, proposal: Proposal, actor: str, reason: str, now: datetime) -> None:
    _cancel_reviews(session, proposal.id)
    transition(session, proposal, ProposalState.REJECTED, actor=actor, reason=reason)
    proposal.decided_at = now
    proposal.decided_by = actor
    notifications.enqueue(
        session,
        notifications.emails_of(session, [proposal.user_id]),
        "proposal.decided",
        f"{proposal.reference} rejected",
        f"Your proposal {proposal.reference} ({proposal.title}) is not accepted: {reason}",
    )
