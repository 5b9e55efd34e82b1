"""Proposals pages: ``/proposals`` (my organisations'), ``/proposals/{id}`` (state, history,
the decision's due date, the reviews the API shows the reader, the allocations once accepted;
withdraw for the applicant, assign a reviewer for operators) and ``/decisions``, the operators'
queue of proposals whose decision is due, each with its accept and reject forms.

The page data is the API's own read model (``api.views_access``), so the portal shows what the
API answers, reviews hidden from whom the API hides them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from aifactory.api import views_access as v
from aifactory.api.deps import Rt
from aifactory.api.schemas_access import DecisionCreate, ReviewerAssign
from aifactory.domain.access import ReviewKind
from aifactory.services import allocations, calls, proposals, reviews, tenancy
from aifactory.services.errors import Conflict, Forbidden, Invalid, NotFound
from aifactory.services.ids import utcnow
from aifactory.web.deps import Me, check_csrf
from aifactory.web.pages import errors_of, form_of, page

router = APIRouter(include_in_schema=False)
HORIZON_DAYS = 14  # the decisions queue shows what is due within two weeks unless asked


@router.get("/proposals", response_class=HTMLResponse)
def my_proposals(request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    today = utcnow().date()
    with runtime.db.read() as session:
        # Operators' lists span every tenant; "mine" is my organisations' (their queue is
        # /decisions).
        rows = [
            v.proposal(session, p, today)
            for p in proposals.list_proposals(session, me.principal)
            if p.org_id in me.principal.orgs
        ]
    return page(request, "proposals.html", title="My proposals", me=me, rows=rows)


def _proposal_page(
    request: Request,
    runtime: Rt,
    me: Me,
    proposal_id: str,
    status: int = 200,
    **kw: Any,
) -> HTMLResponse:
    now = utcnow()
    with runtime.db.read() as session:
        p = proposals.get_proposal(session, me.principal, proposal_id)
        detail = v.proposal_detail(session, p, me.principal, now.date())
        mine = p.org_id in me.principal.orgs
        project = tenancy.get_project(session, me.principal, p.project_id) if mine else None
        allocs = [
            v.allocation(session, allocations.get_allocation(session, me.principal, a), now)
            for a in detail.allocation_ids
            if mine or me.principal.is_operator
        ]
        call = calls.get_call(session, p.call_id)
    return page(
        request,
        "proposal.html",
        status,
        title=f"Proposal {detail.reference or detail.id}",
        me=me,
        p=detail,
        call=call,
        project=project,
        allocations=allocs,
        mine=mine,
        kinds=list(ReviewKind),
        form=kw.get("form", {}),
        errors=kw.get("errors", {}),
    )


@router.get("/proposals/{proposal_id}", response_class=HTMLResponse)
def proposal_page(proposal_id: str, request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    return _proposal_page(request, runtime, me, proposal_id[:64])


@router.post("/proposals/{proposal_id}/withdraw")
async def withdraw(proposal_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    check_csrf(me, await form_of(request))
    try:
        with runtime.db.write() as session:
            proposals.withdraw(session, me.principal, proposal_id[:64])
    except Conflict as exc:
        return _proposal_page(
            request, runtime, me, proposal_id[:64], 409, errors={"withdraw": exc.detail}
        )
    return RedirectResponse(f"/proposals/{proposal_id[:64]}", status_code=303)


async def _operators_form(
    request: Request, runtime: Rt, me: Me, proposal_id: str, what: str
) -> dict[str, str]:
    """An operator's form about a proposal: the CSRF check, then 404 for a proposal the
    user may not read (before 403: it would tell that it exists), then 403 for non-operators."""
    form = await form_of(request)
    check_csrf(me, form)
    with runtime.db.read() as session:
        proposals.get_proposal(session, me.principal, proposal_id[:64])
    if not me.principal.is_operator:
        raise Forbidden(f"only operators {what}")
    return form


@router.post("/proposals/{proposal_id}/reviewers", response_class=HTMLResponse)
async def assign_reviewer(proposal_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    form = await _operators_form(request, runtime, me, proposal_id, "assign reviewers")
    proposal_id = proposal_id[:64]
    kept = {"reviewer": form.get("reviewer", "")[:254], "kind": form.get("kind", "")}
    try:
        body = ReviewerAssign.model_validate(kept)
        with runtime.db.write() as session:
            reviews.assign(
                session, me.principal, proposal_id, reviewer_email=body.reviewer, kind=body.kind
            )
    except ValidationError as exc:
        errors = errors_of(exc)
    except Invalid as exc:
        errors = {p.field: p.message for p in exc.problems}
    except NotFound:  # the proposal was found above: it is the reviewer's e-mail
        errors = {"reviewer": "no account has this e-mail address"}
    except Conflict as exc:
        errors = {"reviewer": exc.detail}
    else:
        return RedirectResponse(f"/proposals/{proposal_id}", status_code=303)
    return _proposal_page(request, runtime, me, proposal_id, 422, form=kept, errors=errors)


def _until_of(raw: str, today: date) -> date:
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return today + timedelta(days=HORIZON_DAYS)


def _decisions_page(
    request: Request, runtime: Rt, me: Me, until: str = "", status: int = 200, **kw: Any
) -> HTMLResponse:
    if not me.principal.is_operator:
        raise Forbidden("only operators see the decisions due")
    today = utcnow().date()
    by = _until_of(until, today)
    with runtime.db.read() as session:
        rows = [
            (v.proposal(session, p, today), proposals.form_of(p))
            for p in proposals.due(session, me.principal, by)
        ]
    return page(
        request,
        "decisions.html",
        status,
        title="Decisions due",
        me=me,
        rows=rows,
        until=by,
        today=today,
        form=kw.get("form", {}),
        errors=kw.get("errors", {}),
    )


@router.get("/decisions", response_class=HTMLResponse)
def decisions(request: Request, runtime: Rt, me: Me, until: str = "") -> HTMLResponse:
    return _decisions_page(request, runtime, me, until)


@router.post("/proposals/{proposal_id}/decision", response_class=HTMLResponse)
async def decide(proposal_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    form = await _operators_form(request, runtime, me, proposal_id, "decide proposals")
    proposal_id = proposal_id[:64]
    decision = form.get("decision", "")
    kept = {f"{proposal_id}.{decision}.reason": form.get("reason", "")[:2000]}
    key = f"{proposal_id}.{decision}.reason"
    try:
        body = DecisionCreate.model_validate({"decision": decision, "reason": kept[key]})
        with runtime.db.write() as session:
            proposals.decide(
                session,
                me.principal,
                runtime.catalog,
                proposal_id,
                proposals.DecisionInput(body.decision, body.reason),
                utcnow(),
            )
    except ValidationError as exc:
        errors = {f"{proposal_id}.{decision}.{k}": m for k, m in errors_of(exc).items()}
        status = 422
    except Conflict as exc:
        errors, status = {key: exc.detail}, 409
    else:
        return RedirectResponse(f"/proposals/{proposal_id}", status_code=303)
    return _decisions_page(
        request, runtime, me, form.get("until", ""), status, form=kept, errors=errors
    )
