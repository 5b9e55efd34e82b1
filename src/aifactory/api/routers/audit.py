"""The audit trail, for admins and compliance officers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas import AuditEventPublic, AuditVerifyPublic, Page
from aifactory.services import audit
from aifactory.services.ids import as_utc

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/verify", operation_id="verify_audit", response_model=AuditVerifyPublic)
def verify(runtime: Rt, caller: Caller) -> AuditVerifyPublic:
    """Recompute the hash chain and name the first broken link."""
    audit.require_reader(caller)
    with runtime.db.read() as session:
        report = audit.verify_chain(session)
    return AuditVerifyPublic(
        ok=report.ok, checked=report.checked, broken_seq=report.broken_seq, problem=report.problem
    )


@router.get("/events", operation_id="list_audit_events", response_model=Page[AuditEventPublic])
def events(
    runtime: Rt,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[AuditEventPublic]:
    audit.require_reader(caller)
    with runtime.db.read() as session:
        rows, total = audit.recent(session, limit=limit, offset=offset)
        items = [
            AuditEventPublic(
                seq=r.seq,
                at=as_utc(r.at),
                actor=r.actor,
                action=r.action,
                object_type=r.object_type,
                object_id=r.object_id,
                org_id=r.org_id,
                data=r.data,
                hash=r.hash,
            )
            for r in rows
        ]
    return Page[AuditEventPublic](items=items, total=total, limit=limit, offset=offset)
