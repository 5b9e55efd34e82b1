"""The deadlines loop, a reconciler: allocation start and end (unused hours expire), the final
report (reminder, overdue), overdue proposal decisions and inference above a mode's share.
Each notice is recorded once (``notices``), in the same transaction as its mail, so the loop
is safe to run twice and to crash at any line."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from aifactory.db.engine import Database
from aifactory.db.tables import Allocation, Notice, Project, ProjectMember, Proposal, User
from aifactory.domain.access import ProposalState
from aifactory.services import allocations, audit, notifications
from aifactory.services.ids import as_utc, utcnow

REPORT_REMINDER_DAYS = 14


def _once(session: Session, kind: str, object_id: str, now: datetime) -> bool:
    """Record the notice; False when it was given before."""
    if session.get(Notice, (kind, object_id)) is not None:
        return False
    session.add(Notice(kind=kind, object_id=object_id, at=now))
    return True


def _recipients(session: Session, alloc: Allocation) -> list[str]:
    """Who hears about an allocation: the proposal's applicant, else the project's members."""
    if alloc.proposal_id:
        proposal = session.get(Proposal, alloc.proposal_id)
        if proposal is not None:
            return notifications.emails_of(session, [proposal.user_id])
    members = session.execute(
        select(User.email)
        .join(ProjectMember, ProjectMember.user_id == User.id)
        .where(ProjectMember.project_id == alloc.project_id)
    ).scalars()
    return list(members)


def _label(session: Session, alloc: Allocation) -> str:
    project = session.get(Project, alloc.project_id)
    name = project.name if project else alloc.project_id
    return f"allocation {alloc.id} ({name}, {alloc.site_id}/{alloc.partition_id})"


def _allocations_to_visit(session: Session, now: datetime) -> list[str]:
    """Allocations with something left to do: not yet announced, ended with notices or
    an expiry to write, a final report pending, or an inference share to watch. The rest
    (done and reported) are not visited again."""

    def noticed(kind: str) -> Any:
        return select(Notice.object_id).where(Notice.kind == kind)

    report_pending = and_(
        Allocation.report_filed_at.is_(None), Allocation.report_waived_at.is_(None)
    )
    rows = session.execute(
        select(Allocation.id).where(
            or_(
                Allocation.id.not_in(noticed("allocation.start")),
                and_(
                    Allocation.ends_at <= now,
                    or_(Allocation.id.not_in(noticed("allocation.end")), report_pending),
                ),
                and_(Allocation.inference_share_max.is_not(None), Allocation.ends_at > now),
            )
        )
    ).scalars()
    return list(rows)


def run_once(db: Database, now: datetime | None = None) -> int:
    """One pass; returns the number of notices given."""
    now = now or utcnow()
    today = now.date()
    given = 0
    with db.read() as session:
        alloc_ids = _allocations_to_visit(session, now)
        proposal_ids = list(
            session.execute(
                select(Proposal.id).where(
                    Proposal.decision_due_on < today,
                    Proposal.state.in_(
                        [ProposalState.TECHNICAL_REVIEW.value, ProposalState.PEER_REVIEW.value]
                    ),
                )
            ).scalars()
        )
    for alloc_id in alloc_ids:
        with db.write() as session:
            alloc = session.get(Allocation, alloc_id)
            if alloc is not None:
                given += _allocation(session, alloc, now, today)
    for proposal_id in proposal_ids:
        with db.write() as session:
            proposal = session.get(Proposal, proposal_id)
            if proposal is not None and _once(session, "proposal.overdue", proposal_id, now):
                notifications.enqueue(
                    session,
                    notifications.operator_emails(session),
                    "proposal.overdue",
                    f"Decision overdue: {proposal.reference}",
                    f"Proposal {proposal.reference} ({proposal.title}) is in {proposal.state}; "
                    f"its decision was due on {proposal.decision_due_on}.",
                )
                given += 1
    return given


def _allocation(session: Session, alloc: Allocation, now: datetime, today: date) -> int:
    given = 0
    label = _label(session, alloc)
    if as_utc(alloc.starts_at) <= now and _once(session, "allocation.start", alloc.id, now):
        notifications.enqueue(
            session,
            _recipients(session, alloc),
            "allocation.start",
            f"Your {label} has started",
            f"{allocations.hours(alloc.granted_gpu_seconds):g} GPU-hours on "
            f"{alloc.site_id}/{alloc.partition_id} until {as_utc(alloc.ends_at):%Y-%m-%d}. "
            "Unused hours expire at the end.",
        )
        given += 1
    if as_utc(alloc.ends_at) <= now:
        allocations.expire(session, alloc, now)
        if _once(session, "allocation.end", alloc.id, now):
            notifications.enqueue(
                session,
                _recipients(session, alloc),
                "allocation.end",
                f"Your {label} has ended",
                f"The allocation ended on {as_utc(alloc.ends_at):%Y-%m-%d}; unused hours "
                f"expired. The final report is due by {alloc.report_due_on.isoformat()} "
                f"(aif allocation report {alloc.id} FILE).",
            )
            given += 1
    pending_report = alloc.report_filed_at is None and alloc.report_waived_at is None
    remind_from = alloc.report_due_on - timedelta(days=REPORT_REMINDER_DAYS)
    if (
        pending_report
        and as_utc(alloc.ends_at) <= now
        and today >= remind_from
        and _once(session, "report.reminder", alloc.id, now)
    ):
        notifications.enqueue(
            session,
            _recipients(session, alloc),
            "report.due",
            f"Final report due by {alloc.report_due_on.isoformat()}: {label}",
            f"The final report of {label} is due by {alloc.report_due_on.isoformat()}. If it is "
            "not filed by then, your organisation cannot submit new proposals until it is.",
        )
        given += 1
    if (
        pending_report
        and allocations.report_overdue(alloc, today)
        and _once(session, "report.overdue", alloc.id, now)
    ):
        notifications.enqueue(
            session,
            _recipients(session, alloc),
            "report.overdue",
            f"Final report overdue: {label}",
            f"The final report of {label} was due on {alloc.report_due_on.isoformat()}. Your "
            "organisation cannot submit new proposals until it is filed.",
        )
        given += 1
    given += _inference(session, alloc, label, now)
    return given


def _inference(session: Session, alloc: Allocation, label: str, now: datetime) -> int:
    """Inference above the mode's share of the allocation goes to the operators, once."""
    if alloc.inference_share_max is None:
        return 0
    t = allocations.totals(session, [alloc.id])[alloc.id]
    share = allocations.inference_share(t)
    if share is None:
        return 0
    if share <= alloc.inference_share_max:
        return 0
    if not _once(session, "allocation.inference", alloc.id, now):
        return 0
    audit.append(
        session,
        actor=audit.SYSTEM_ACTOR,
        action="allocation.inference_exceeded",
        object_type="allocation",
        object_id=alloc.id,
        org_id=alloc.org_id,
        data={"share": round(share, 4), "limit": alloc.inference_share_max},
    )
    notifications.enqueue(
        session,
        notifications.operator_emails(session),
        "allocation.inference",
        f"Inference above the share limit: {label}",
        f"{label} has used {share:.1%} of its {allocations.hours(t.granted + t.adjusted):g} "
        f"GPU-hours for inference; the mode allows {alloc.inference_share_max:.0%}.",
    )
    return 1
