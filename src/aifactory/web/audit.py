"""The audit page (admins and compliance officers, as the API's audit calls): whether the hash
chain holds (or the first broken link), its head, and the events newest first, 50 a page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from aifactory.api.deps import Rt
from aifactory.services import audit
from aifactory.web.deps import Me
from aifactory.web.pages import page

router = APIRouter(include_in_schema=False)
PER_PAGE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, runtime: Rt, me: Me, page_no: Annotated[int, Query(alias="page")] = 1
) -> HTMLResponse:
    audit.require_reader(me.principal)  # others: the 403 page
    number = max(1, min(page_no, 200_000))
    with runtime.db.read() as session:
        # The whole chain is walked on every view: it is the check, and it streams in batches.
        report = audit.verify_chain(session)
        head_seq, head_hash = audit.head(session)
        events, total = audit.recent(session, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)
        last = max(1, -(-total // PER_PAGE))
        return page(
            request,
            "audit.html",
            title="Audit trail",
            me=me,
            report=report,
            head_seq=head_seq,
            head_hash=head_hash,
            events=events,
            total=total,
            number=number,
            last=last,
        )
