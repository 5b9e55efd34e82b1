"""Allocations and their ledger: GPU-hours on one partition for a period.

Every movement is a ledger row (grant, reservation, settlement, adjustment, expiry); the
balance is always their sum. The allocation row carries that sum (``balance_gpu_seconds``),
moved by :func:`_entry` in the same transaction as each row, so placement reads one row.
Amounts are GPU-seconds (integers), so usage adds up to the second.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifactory.db.tables import Allocation, Job, LedgerEntry, Project, table
from aifactory.domain.access import AllocationState, LedgerKind, WorkType
from aifactory.domain.catalog import Catalog
from aifactory.scheduling.model import Budget, PartitionKey
from aifactory.services import audit
from aifactory.services.batch import WriteBatch
from aifactory.services.errors import Conflict, Forbidden, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import as_utc, new_id, utcnow

GPU_HOUR = 3600


def hours(gpu_seconds: int) -> float:
    return round(gpu_seconds / GPU_HOUR, 4)


@dataclass(frozen=True)
class Totals:
    """An allocation's ledger summed by kind (GPU-seconds)."""

    granted: int = 0
    adjusted: int = 0
    reserved: int = 0  # outstanding: reservations of jobs that have not ended
    used: int = 0
    inference_used: int = 0
    expired: int = 0
    balance: int = 0


def totals(session: Session, allocation_ids: Iterable[str]) -> dict[str, Totals]:
    ids = list(allocation_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(
            LedgerEntry.allocation_id,
            LedgerEntry.kind,
            LedgerEntry.work,
            func.sum(LedgerEntry.gpu_seconds),
            func.sum(LedgerEntry.used_gpu_seconds),
        )
        .where(LedgerEntry.allocation_id.in_(ids))
        .group_by(LedgerEntry.allocation_id, LedgerEntry.kind, LedgerEntry.work)
    ).all()
    acc: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for alloc_id, kind, work, amount, used in rows:
        a = acc[alloc_id]
        a["balance"] += int(amount or 0)
        a[kind] += int(amount or 0)
        a["used"] += int(used or 0)
        if work == WorkType.INFERENCE.value:
            a["inference_used"] += int(used or 0)
    out = {}
    for alloc_id in ids:
        a = acc.get(alloc_id, {})
        reserved = -a.get(LedgerKind.RESERVATION.value, 0) - (
            a.get(LedgerKind.SETTLEMENT.value, 0) + a.get("used", 0)
        )
        out[alloc_id] = Totals(
            granted=a.get(LedgerKind.GRANT.value, 0),
            adjusted=a.get(LedgerKind.ADJUSTMENT.value, 0),
            reserved=reserved,
            used=a.get("used", 0),
            inference_used=a.get("inference_used", 0),
            expired=-a.get(LedgerKind.EXPIRY.value, 0),
            balance=a.get("balance", 0),
        )
    return out


def inference_share(t: Totals) -> float | None:
    """GPU-seconds used for inference over what the allocation was given (grants and
    adjustments); None for an allocation given nothing."""
    given = t.granted + t.adjusted
    return t.inference_used / given if given > 0 else None


def state_of(alloc: Allocation, now: datetime) -> AllocationState:
    if now < as_utc(alloc.starts_at):
        return AllocationState.SCHEDULED
    if now >= as_utc(alloc.ends_at):
        return AllocationState.ENDED
    if alloc.balance_gpu_seconds <= 0:
        return AllocationState.EXHAUSTED
    return AllocationState.ACTIVE


def _entry(
    session: Session,
    alloc_id: str,
    kind: LedgerKind,
    gpu_seconds: int,
    *,
    actor: str,
    reason: str = "",
    job_id: str | None = None,
    used: int | None = None,
    work: str | None = None,
    at: datetime | None = None,
    batch: WriteBatch | None = None,
) -> None:
    """Append one ledger row and move the allocation's balance by the same amount (or leave
    both to ``batch``)."""
    row = {
        "allocation_id": alloc_id,
        "at": at or utcnow(),
        "kind": kind.value,
        "gpu_seconds": gpu_seconds,
        "job_id": job_id,
        "used_gpu_seconds": used,
        "work": work,
        "actor": actor,
        "reason": reason,
    }
    if batch is not None:
        batch.ledger(row)
        return
    allocs = table(Allocation)
    session.execute(
        allocs.update()
        .where(allocs.c.id == alloc_id)
        .values(balance_gpu_seconds=allocs.c.balance_gpu_seconds + gpu_seconds)
    )
    session.execute(table(LedgerEntry).insert(), row)


# -- grants ---------------------------------------------------------------------------------
def grant(
    session: Session,
    *,
    actor: str,
    org_id: str,
    project_id: str,
    site_id: str,
    partition_id: str,
    gpu_hours: int,
    starts_at: datetime,
    ends_at: datetime,
    report_due_on: date,
    reason: str,
    proposal_id: str | None = None,
    mode: str | None = None,
    inference_share_max: float | None = None,
) -> Allocation:
    alloc = Allocation(
        id=new_id("alc"),
        proposal_id=proposal_id,
        org_id=org_id,
        project_id=project_id,
        site_id=site_id,
        partition_id=partition_id,
        mode=mode,
        granted_gpu_seconds=gpu_hours * GPU_HOUR,
        balance_gpu_seconds=0,  # the grant below is the first movement
        starts_at=starts_at,
        ends_at=ends_at,
        inference_share_max=inference_share_max,
        report_due_on=report_due_on,
        created_at=utcnow(),
    )
    session.add(alloc)
    session.flush()
    _entry(session, alloc.id, LedgerKind.GRANT, gpu_hours * GPU_HOUR, actor=actor, reason=reason)
    session.refresh(alloc)
    audit.append(
        session,
        actor=actor,
        action="allocation.grant",
        object_type="allocation",
        object_id=alloc.id,
        org_id=org_id,
        data={
            "project_id": project_id,
            "partition": f"{site_id}/{partition_id}",
            "gpu_hours": gpu_hours,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "proposal_id": proposal_id,
        },
    )
    return alloc


def grant_direct(
    session: Session,
    principal: Principal,
    catalog: Catalog,
    *,
    project_id: str,
    partition: str,
    gpu_hours: int,
    starts_at: datetime,
    ends_at: datetime,
    report_due_on: date,
    reason: str,
) -> Allocation:
    """An operator's grant outside a call (pay-per-use access, preparatory access)."""
    if not principal.is_operator:
        raise Forbidden("only operators grant allocations outside a call")
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("project", project_id)
    site_id, part_id = split_partition(catalog, partition, "partition")
    if ends_at <= starts_at:
        raise Invalid.one("ends_at", "must be after starts_at")
    return grant(
        session,
        actor=principal.user_id,
        org_id=project.org_id,
        project_id=project.id,
        site_id=site_id,
        partition_id=part_id,
        gpu_hours=gpu_hours,
        starts_at=starts_at,
        ends_at=ends_at,
        report_due_on=report_due_on,
        reason=reason,
    )


def split_partition(catalog: Catalog, ref: str, field: str) -> tuple[str, str]:
    known = [f"{s.id}/{p.id}" for s, p in catalog.partitions()]
    if ref not in known:
        raise Invalid.one(field, f"unknown partition {ref!r}", known)
    site_id, part_id = ref.split("/", 1)
    return site_id, part_id


# -- jobs: reservation and settlement --------------------------------------------------------
def budgets(
    session: Session, project_ids: Iterable[str], now: datetime
) -> dict[str, dict[PartitionKey, Budget]]:
    """Per project and partition: the allocations a job may draw on now (soonest-ending
    first), or why there is none. The dispatcher hands these to placement."""
    ids = list(set(project_ids))
    if not ids:
        return {}
    allocs = list(
        session.execute(select(Allocation).where(Allocation.project_id.in_(ids))).scalars()
    )
    grouped: dict[tuple[str, PartitionKey], list[Allocation]] = defaultdict(list)
    for a in allocs:
        grouped[(a.project_id, (a.site_id, a.partition_id))].append(a)
    out: dict[str, dict[PartitionKey, Budget]] = {pid: {} for pid in ids}
    for (project_id, key), group in grouped.items():
        group.sort(key=lambda a: (as_utc(a.ends_at), a.id))
        usable = tuple(
            (a.id, a.balance_gpu_seconds)
            for a in group
            if state_of(a, now) is AllocationState.ACTIVE
        )
        out[project_id][key] = Budget(usable, "" if usable else _why_none(group, now))
    return out


def _why_none(group: list[Allocation], now: datetime) -> str:
    for a in group:
        state = state_of(a, now)
        if state is AllocationState.EXHAUSTED:
            return (
                f"allocation {a.id} is exhausted (0 of {hours(a.granted_gpu_seconds):g} "
                "GPU-hours left)"
            )
    future = [a for a in group if now < as_utc(a.starts_at)]
    if future:
        return f"allocation {future[0].id} starts on {as_utc(future[0].starts_at):%Y-%m-%d}"
    last = group[-1]
    return f"allocation {last.id} ended on {as_utc(last.ends_at):%Y-%m-%d}"


def _locked(session: Session, alloc_id: str) -> Allocation | None:
    """The allocation row, locked for this transaction and read fresh."""
    return session.execute(
        select(Allocation)
        .where(Allocation.id == alloc_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def reserve(session: Session, alloc_id: str, job_id: str, need: int, now: datetime) -> str | None:
    """Reserve ``need`` GPU-seconds for a job being placed, inside the placing transaction.
    The allocation row is locked first (FOR UPDATE on PostgreSQL; SQLite's write transaction
    is already exclusive), so concurrent placements cannot both spend the last hours.
    Returns None when reserved, else the reason."""
    alloc = _locked(session, alloc_id)
    if alloc is None:
        return f"allocation {alloc_id} no longer exists"
    state = state_of(alloc, now)
    balance = alloc.balance_gpu_seconds
    if state is not AllocationState.ACTIVE or balance < need:
        return (
            f"allocation {alloc_id} has {hours(max(balance, 0)):g} GPU-hours left "
            f"({state.value}); the job needs {hours(need):g}"
        )
    _entry(
        session,
        alloc_id,
        LedgerKind.RESERVATION,
        -need,
        actor="system",
        job_id=job_id,
        reason="job placed: walltime x GPUs",
        at=now,
    )
    return None


def placed_gpus(job: Job) -> int:
    """The accelerators a placed job holds: what it got on its partition (whole nodes where
    it gets them), from its placement; for jobs placed before that was kept, its spec's."""
    if job.resolved and "accelerators" in job.resolved:
        return int(job.resolved["accelerators"])
    res = job.spec["resources"]
    return int(res.get("accelerators_per_node") or 0) * int(res.get("nodes") or 1)


def settle(
    session: Session,
    job: Job,
    at: datetime,
    used_gpu_seconds: int | None = None,
    batch: WriteBatch | None = None,
) -> None:
    """When a job with a reservation ends: record its actual use and return the unused part
    (GPUs x the time it ran, or what the site accounted; never more than was reserved)."""
    if job.allocation_id is None or job.reserved_gpu_seconds is None:
        return
    spec: dict[str, Any] = job.spec
    gpus = placed_gpus(job)
    ran = 0
    if job.started_at is not None:
        ran = max(0, int((at - as_utc(job.started_at)).total_seconds()))
    if used_gpu_seconds is not None:
        ran = used_gpu_seconds // gpus if gpus else 0
    used = min(
        gpus * ran if used_gpu_seconds is None else used_gpu_seconds, job.reserved_gpu_seconds
    )
    _entry(
        session,
        job.allocation_id,
        LedgerKind.SETTLEMENT,
        job.reserved_gpu_seconds - used,
        actor="system",
        job_id=job.id,
        used=used,
        work=str(spec.get("work", WorkType.TRAINING.value)),
        reason=f"job ended after {ran} s on {gpus} GPUs",
        at=at,
        batch=batch,
    )


# -- operators and applicants ----------------------------------------------------------------
def get_allocation(session: Session, principal: Principal, alloc_id: str) -> Allocation:
    alloc = session.get(Allocation, alloc_id)
    if alloc is None or not principal.can_read_org(alloc.org_id):
        raise NotFound("allocation", alloc_id)
    return alloc


def list_allocations(
    session: Session,
    principal: Principal,
    *,
    project_id: str | None = None,
    org_id: str | None = None,
    org_ids: tuple[str, ...] = (),
    limit: int | None = None,
) -> list[Allocation]:
    """``org_ids``: only these organisations' (an operator's own dashboard, say)."""
    query = select(Allocation).order_by(Allocation.starts_at.desc(), Allocation.id)
    if not principal.sees_all_tenants:
        query = query.where(Allocation.org_id.in_(list(principal.orgs)))
    if org_ids:
        query = query.where(Allocation.org_id.in_(list(org_ids)))
    if project_id:
        query = query.where(Allocation.project_id == project_id)
    if org_id:
        query = query.where(Allocation.org_id == org_id)
    return list(session.execute(query.limit(limit)).scalars())


def ledger(session: Session, alloc_id: str) -> list[LedgerEntry]:
    return list(
        session.execute(
            select(LedgerEntry)
            .where(LedgerEntry.allocation_id == alloc_id)
            .order_by(LedgerEntry.id)
        ).scalars()
    )


def adjust(
    session: Session, principal: Principal, alloc_id: str, *, gpu_seconds: int, reason: str
) -> Allocation:
    get_allocation(session, principal, alloc_id)  # 404 before 403
    if not principal.is_operator:
        raise Forbidden("only operators adjust allocations")
    alloc = _locked(session, alloc_id)
    assert alloc is not None
    balance = alloc.balance_gpu_seconds
    if balance + gpu_seconds < 0:
        raise Invalid.one(
            "gpu_hours",
            f"would leave a negative balance: {hours(balance):g} GPU-hours are left",
            rule="non_negative_balance",
        )
    _entry(
        session,
        alloc_id,
        LedgerKind.ADJUSTMENT,
        gpu_seconds,
        actor=principal.user_id,
        reason=reason,
    )
    audit.append(
        session,
        actor=principal.user_id,
        action="allocation.adjust",
        object_type="allocation",
        object_id=alloc_id,
        org_id=alloc.org_id,
        data={"gpu_seconds": gpu_seconds, "reason": reason},
    )
    session.refresh(alloc)
    return alloc


def expire(session: Session, alloc: Allocation, now: datetime) -> int:
    """Unused hours expire at the end: write off what is left (again after a late
    settlement). Returns the GPU-seconds written off."""
    if now < as_utc(alloc.ends_at):
        return 0
    locked = _locked(session, alloc.id)
    assert locked is not None
    balance = locked.balance_gpu_seconds
    if balance <= 0:
        return 0
    _entry(
        session,
        alloc.id,
        LedgerKind.EXPIRY,
        -balance,
        actor="system",
        reason=f"allocation ended on {as_utc(alloc.ends_at):%Y-%m-%d}; unused hours expire",
        at=now,
    )
    audit.append(
        session,
        actor=audit.SYSTEM_ACTOR,
        action="allocation.expire",
        object_type="allocation",
        object_id=alloc.id,
        org_id=alloc.org_id,
        data={"gpu_seconds": balance},
    )
    return balance


def report_overdue(alloc: Allocation, today: date) -> bool:
    return (
        alloc.report_filed_at is None
        and alloc.report_waived_at is None
        and alloc.report_due_on < today
    )


def overdue_reports(session: Session, org_id: str, today: date) -> list[Allocation]:
    rows = session.execute(
        select(Allocation).where(
            Allocation.org_id == org_id,
            Allocation.report_filed_at.is_(None),
            Allocation.report_waived_at.is_(None),
            Allocation.report_due_on < today,
        )
    ).scalars()
    return list(rows)


def file_report(
    session: Session, principal: Principal, alloc_id: str, report: dict[str, Any]
) -> Allocation:
    alloc = get_allocation(session, principal, alloc_id)
    if alloc.org_id not in principal.orgs:
        raise Forbidden("only members of the allocation's organisation file its report")
    if alloc.report_filed_at is not None:
        raise Conflict(f"the final report of {alloc_id} was filed on {alloc.report_filed_at:%F}")
    alloc.report = report
    alloc.report_filed_at = utcnow()
    audit.append(
        session,
        actor=principal.user_id,
        action="allocation.report",
        object_type="allocation",
        object_id=alloc_id,
        org_id=alloc.org_id,
        data={"publications": len(report.get("publications", []))},
    )
    return alloc


def waive_report(session: Session, principal: Principal, alloc_id: str, reason: str) -> Allocation:
    alloc = get_allocation(session, principal, alloc_id)  # 404 before 403
    if not principal.is_operator:
        raise Forbidden("only operators waive a final report")
    if alloc.report_filed_at is not None or alloc.report_waived_at is not None:
        raise Conflict(f"the final report of {alloc_id} is already filed or waived")
    alloc.report_waived_at = utcnow()
    alloc.report_waiver_reason = reason
    audit.append(
        session,
        actor=principal.user_id,
        action="allocation.report_waive",
        object_type="allocation",
        object_id=alloc_id,
        org_id=alloc.org_id,
        data={"reason": reason},
    )
    return alloc
