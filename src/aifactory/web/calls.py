"""The calls pages: ``/calls`` lists the access calls (open ones first) with what each allows,
and ``/calls/{call_id}`` says a call's rules and when a proposal sent today would be decided.
Calls are federation-wide: every signed-in user reads the same ones (that is how anyone
applies)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aifactory.api.deps import Rt
from aifactory.db.tables import Call
from aifactory.domain.access import AccessMode
from aifactory.domain.access_forms import CallRules
from aifactory.domain.catalog import Catalog
from aifactory.services import calls
from aifactory.services.ids import utcnow
from aifactory.web.deps import Me
from aifactory.web.pages import page

router = APIRouter(include_in_schema=False)


def mode_name(mode: AccessMode) -> str:
    """The access mode as the AI Factories name it ("AI Factory Playground")."""
    title = calls.MODE_TITLES[mode]
    return title if mode is AccessMode.AI_FOR_SCIENCE else f"AI Factory {title}"


@dataclass(frozen=True)
class CallView:
    """What the pages say of a call, worked out by the calls service."""

    call: Call
    mode_name: str
    rules: CallRules
    open_problem: str | None
    next_cutoff: date | None
    due_if_sent_today: date | None

    @property
    def decision_time(self) -> str:
        r = self.rules
        start = "its cut-off" if r.decision_from.value == "cutoff" else "submission"
        if r.decision_working_days is not None:
            return f"within {r.decision_working_days} working days of {start}"
        return f"within {r.decision_months} month(s) of {start}"

    @property
    def max_hours(self) -> str:
        return f"{self.rules.max_gpu_hours:,}" if self.rules.max_gpu_hours else "no maximum"


def view_of(call: Call, catalog: Catalog, today: date) -> CallView:
    problem = calls.open_problem(call, today)
    return CallView(
        call=call,
        mode_name=mode_name(AccessMode(call.mode)),
        rules=calls.rules_of(call),
        open_problem=problem,
        next_cutoff=calls.next_cutoff(call, today),
        due_if_sent_today=None if problem else calls.decision_due(call, catalog, today)[1],
    )


@router.get("/calls", response_class=HTMLResponse)
def calls_page(request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    today = utcnow().date()
    with runtime.db.read() as session:
        rows = [
            view_of(c, runtime.catalog, today)
            for c in calls.list_calls(session, today=today, open_only=False)
        ]
    rows.sort(key=lambda v: v.open_problem is not None)  # open calls first, order kept
    return page(request, "calls.html", title="Access calls", me=me, calls=rows)


@router.get("/calls/{call_id}", response_class=HTMLResponse)
def call_page(call_id: str, request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    today = utcnow().date()
    with runtime.db.read() as session:
        view = view_of(calls.get_call(session, call_id[:64]), runtime.catalog, today)
    return page(request, "call.html", title=f"{view.call.title} ({view.call.code})", me=me, c=view)
