"""Allocations: GPU-hours on one partition for a period, with their ledger."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from aifactory.api import views_access as v
from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas_access import (
    AdjustmentCreate,
    AllocationCreate,
    AllocationDetail,
    AllocationPublic,
    ReportCreate,
    WaiverCreate,
)
from aifactory.core.calendar import add_months
from aifactory.services import allocations
from aifactory.services.allocations import GPU_HOUR
from aifactory.services.ids import utcnow

router = APIRouter(prefix="/allocations", tags=["allocations"])


@router.get("", operation_id="list_allocations", response_model=list[AllocationPublic])
def list_allocations(
    runtime: Rt,
    caller: Caller,
    project_id: Annotated[str | None, Query(max_length=64)] = None,
    org_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AllocationPublic]:
    now = utcnow()
    with runtime.db.read() as session:
        rows = allocations.list_allocations(session, caller, project_id=project_id, org_id=org_id)
        return v.allocation_list(session, rows, now)


@router.post(
    "",
    operation_id="grant_allocation",
    response_model=AllocationDetail,
    status_code=status.HTTP_201_CREATED,
)
def grant_allocation(body: AllocationCreate, runtime: Rt, caller: Caller) -> AllocationDetail:
    """Operators grant outside a call (pay-per-use or preparatory access)."""
    now = utcnow()
    starts = body.starts_at or now
    with runtime.db.write() as session:
        a = allocations.grant_direct(
            session,
            caller,
            runtime.catalog,
            project_id=body.project_id,
            partition=body.partition,
            gpu_hours=body.gpu_hours,
            starts_at=starts,
            ends_at=body.ends_at,
            report_due_on=add_months(body.ends_at.date(), 3),
            reason=body.reason,
        )
        return v.allocation_detail(session, a, now)


@router.get("/{allocation_id}", operation_id="get_allocation", response_model=AllocationDetail)
def get_allocation(allocation_id: str, runtime: Rt, caller: Caller) -> AllocationDetail:
    with runtime.db.read() as session:
        a = allocations.get_allocation(session, caller, allocation_id)
        return v.allocation_detail(session, a, utcnow())


@router.post(
    "/{allocation_id}/adjustments",
    operation_id="adjust_allocation",
    response_model=AllocationDetail,
)
def adjust_allocation(
    allocation_id: str, body: AdjustmentCreate, runtime: Rt, caller: Caller
) -> AllocationDetail:
    """Operators add or remove GPU-hours, with a reason; never below zero."""
    with runtime.db.write() as session:
        a = allocations.adjust(
            session,
            caller,
            allocation_id,
            gpu_seconds=body.gpu_hours * GPU_HOUR,
            reason=body.reason,
        )
        return v.allocation_detail(session, a, utcnow())


@router.post("/{allocation_id}/report", operation_id="file_report", response_model=AllocationPublic)
def file_report(
    allocation_id: str, body: ReportCreate, runtime: Rt, caller: Caller
) -> AllocationPublic:
    """The applicant's final report, due 3 months after the allocation ends."""
    with runtime.db.write() as session:
        a = allocations.file_report(session, caller, allocation_id, body.model_dump())
        return v.allocation(session, a, utcnow())


@router.post(
    "/{allocation_id}/report-waiver",
    operation_id="waive_report",
    response_model=AllocationPublic,
)
def waive_report(
    allocation_id: str, body: WaiverCreate, runtime: Rt, caller: Caller
) -> AllocationPublic:
    """Operators waive a final report, with a reason."""
    with runtime.db.write() as session:
        a = allocations.waive_report(session, caller, allocation_id, body.reason)
        return v.allocation(session, a, utcnow())
