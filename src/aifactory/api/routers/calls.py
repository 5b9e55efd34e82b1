"""Access calls: every signed-in user reads them; operators open and close them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from aifactory.api import views_access as v
from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas_access import CallPublic
from aifactory.domain.access import AccessMode
from aifactory.domain.access_forms import CallSpec
from aifactory.services import calls
from aifactory.services.ids import utcnow

router = APIRouter(prefix="/calls", tags=["access calls"])


@router.get("", operation_id="list_calls", response_model=list[CallPublic])
def list_calls(
    runtime: Rt,
    caller: Caller,
    open: Annotated[bool, Query(description="Only calls taking proposals today.")] = False,
    mode: AccessMode | None = None,
) -> list[CallPublic]:
    today = utcnow().date()
    with runtime.db.read() as session:
        return [
            v.call(c, today)
            for c in calls.list_calls(session, today=today, open_only=open, mode=mode)
        ]


@router.post(
    "", operation_id="open_call", response_model=CallPublic, status_code=status.HTTP_201_CREATED
)
def open_call(body: CallSpec, runtime: Rt, caller: Caller) -> CallPublic:
    """Operators open a call of one mode on chosen partitions; ``rules`` override the mode's
    defaults."""
    today = utcnow().date()
    with runtime.db.write() as session:
        call = calls.open_call(session, caller, runtime.catalog, body, today=today)
        return v.call(call, today)


@router.get("/{call_id}", operation_id="get_call", response_model=CallPublic)
def get_call(call_id: str, runtime: Rt, caller: Caller) -> CallPublic:
    with runtime.db.read() as session:
        return v.call(calls.get_call(session, call_id), utcnow().date())


@router.post("/{call_id}/close", operation_id="close_call", response_model=CallPublic)
def close_call(call_id: str, runtime: Rt, caller: Caller) -> CallPublic:
    with runtime.db.write() as session:
        return v.call(calls.close_call(session, caller, call_id), utcnow().date())
