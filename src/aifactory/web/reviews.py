"""Reviewers' pages: ``/reviews`` (the reviews assigned to me, my declared conflicts of
interest and the form to declare one) and ``/reviews/{id}``: the proposal under review and the
review form (a technical review says whether the request fits, a peer review gives a score
from 1 to 5), with the reviews service's rules and answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from aifactory.api import views_access as v
from aifactory.api.deps import Rt
from aifactory.api.schemas_access import ConflictCreate, ReviewSubmit
from aifactory.services import proposals, reviews
from aifactory.services.errors import Conflict, Invalid, NotFound
from aifactory.services.ids import utcnow
from aifactory.web.deps import Me, check_csrf
from aifactory.web.pages import errors_of, form_of, page

router = APIRouter(include_in_schema=False)


def _reviews_page(
    request: Request, runtime: Rt, me: Me, status: int = 200, **kw: Any
) -> HTMLResponse:
    with runtime.db.read() as session:
        # Operators' service list is every review; this page is the reader's own.
        rows = [
            v.review(session, r, me.principal)
            for r in reviews.list_reviews(session, me.principal)
            if r.reviewer_id == me.principal.user_id
        ]
        conflicts = reviews.list_conflicts(session, me.principal)
    return page(
        request,
        "reviews.html",
        status,
        title="My reviews",
        me=me,
        rows=rows,
        conflicts=conflicts,
        form=kw.get("form", {}),
        errors=kw.get("errors", {}),
    )


@router.get("/reviews", response_class=HTMLResponse)
def my_reviews(request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    return _reviews_page(request, runtime, me)


@router.post("/reviewer/conflicts", response_class=HTMLResponse)
async def declare_conflict(request: Request, runtime: Rt, me: Me) -> Response:
    form = await form_of(request)
    check_csrf(me, form)
    kept = {"organisation": form.get("organisation", "")[:200], "reason": form.get("reason", "")}
    try:
        body = ConflictCreate.model_validate(kept)
    except ValidationError as exc:
        return _reviews_page(request, runtime, me, 422, form=kept, errors=errors_of(exc))
    with runtime.db.write() as session:
        reviews.declare_conflict(
            session, me.principal, organisation=body.organisation, reason=body.reason
        )
    return RedirectResponse("/reviews", status_code=303)


def _review_page(
    request: Request, runtime: Rt, me: Me, review_id: str, status: int = 200, **kw: Any
) -> HTMLResponse:
    today = utcnow().date()
    with runtime.db.read() as session:
        found = [r for r in reviews.list_reviews(session, me.principal) if r.id == review_id]
        if not found:
            raise NotFound("review", review_id)
        review = v.review(session, found[0], me.principal)
        p = proposals.get_proposal(session, me.principal, found[0].proposal_id)
        detail = v.proposal_detail(session, p, me.principal, today)
    return page(
        request,
        "review.html",
        status,
        title=f"Review of {review.proposal_reference or review.proposal_id}",
        me=me,
        r=review,
        p=detail,
        mine=review.reviewer_id == me.principal.user_id,
        form=kw.get("form", {}),
        errors=kw.get("errors", {}),
    )


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_page(review_id: str, request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    return _review_page(request, runtime, me, review_id[:64])


@router.post("/reviews/{review_id}", response_class=HTMLResponse)
async def submit_review(review_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    form = await form_of(request)
    check_csrf(me, form)
    review_id = review_id[:64]
    kept = {k: form.get(k, "") for k in ("passed", "score", "comments")}
    raw: dict[str, Any] = {"comments": kept["comments"]}
    if kept["passed"] in ("yes", "no"):
        raw["passed"] = kept["passed"] == "yes"
    if kept["score"]:
        raw["score"] = int(kept["score"]) if kept["score"].isdigit() else kept["score"]
    try:
        body = ReviewSubmit.model_validate(raw)
        with runtime.db.write() as session:
            reviews.submit(
                session,
                me.principal,
                runtime.catalog,
                review_id,
                passed=body.passed,
                score=body.score,
                comments=body.comments,
                now=utcnow(),
            )
    except ValidationError as exc:
        errors, status = errors_of(exc), 422
    except Invalid as exc:
        errors, status = {p.field: p.message for p in exc.problems}, 422
    except Conflict as exc:
        errors, status = {"form": exc.detail}, 409
    else:
        return RedirectResponse(f"/reviews/{review_id}", status_code=303)
    return _review_page(request, runtime, me, review_id, status, form=kept, errors=errors)
