"""Jobs in the portal: the list (paginated, filtered), a job's page (its state timeline, the
placement table with every partition's reason or score, a log tail that follows the job) and
cancel. The composer is in composer.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aifactory.api.deps import Rt
from aifactory.domain.jobs import JobState
from aifactory.services import job_logs, jobs, tenancy
from aifactory.services.errors import Conflict, Unavailable
from aifactory.web.deps import Me, check_csrf
from aifactory.web.pages import form_of, page

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
TAIL_LINES = 200
# htmx stops polling an element whose answer has this status (htmx's documented convention).
STOP_POLLING = 286


@router.get("/jobs", response_class=HTMLResponse)
def job_list(
    request: Request,
    runtime: Rt,
    me: Me,
    project: str = "",
    state: str = "",
    site: str = "",
    page_no: int = 1,
) -> HTMLResponse:
    states = [s.value for s in JobState]
    errors = {}
    if state and state not in states:
        errors["state"] = f"one of {', '.join(states)}"
        state = ""
    page_no = max(1, min(page_no, 100_000))
    filt = jobs.JobFilter(
        project_id=project[:64] or None,
        states=(JobState(state),) if state else (),
        site_id=site[:64] or None,
    )
    with runtime.db.read() as session:
        rows, total = jobs.list_jobs(
            session, me.principal, filt, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
        )
        projects = tenancy.list_projects(session, me.principal)
        query = {"project": project, "state": state, "site": site}
        base = urlencode({k: v for k, v in query.items() if v})
        return page(
            request,
            "jobs/list.html",
            422 if errors else 200,
            title="Jobs",
            me=me,
            jobs=rows,
            total=total,
            page_no=page_no,
            pages=max(1, -(-total // PAGE_SIZE)),
            link=lambda n: f"/jobs?{base}&page_no={n}" if base else f"/jobs?page_no={n}",
            form=query,
            errors=errors,
            projects=[("", "all")] + [(p.id, p.name) for p in projects],
            states=[("", "all")] + [(s, s) for s in states],
            sites=[("", "all")] + [(s.id, s.name) for s in runtime.catalog.sites],
        )


def candidates_of(placement: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Feasible partitions first, best score first; then the others with their reasons."""
    rows = list((placement or {}).get("candidates") or [])
    return sorted(rows, key=lambda c: (not c.get("feasible"), -(c.get("score") or 0)))


def _facts(runtime: Rt, me: Me, job_id: str) -> dict[str, Any]:
    """The job page's facts: the job, its state timeline, array tasks and placement."""
    with runtime.db.read() as session:
        job = jobs.get_job(session, me.principal, job_id)
        tasks = jobs.array_tasks(session, job.id) if job.array_tasks is not None else None
        return {
            "job": job,
            "events": jobs.history(session, job.id),
            "tasks": tasks,
            "candidates": candidates_of(job.placement),
            "chosen": (job.placement or {}).get("chosen"),
        }


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, runtime: Rt, me: Me, job_id: str) -> HTMLResponse:
    context = await run_in_threadpool(_facts, runtime, me, job_id)
    live = await _live(runtime, me, context["job"].id, context["job"].array_tasks is None)
    return page(
        request, "jobs/show.html", title=f"Job {context['job'].name}", me=me, **context, live=live
    )


async def _live(runtime: Rt, me: Me, job_id: str, has_log: bool) -> dict[str, Any]:
    """The part of the job page that follows the job: state and log tail."""
    if not has_log:
        with runtime.db.read() as session:
            job = jobs.get_job(session, me.principal, job_id)
            return {
                "id": job_id,
                "state": job.state,
                "final": JobState(job.state).is_final,
                "text": "",
                "unavailable": "",
            }
    try:
        got = await run_in_threadpool(
            job_logs.read, runtime, me.principal, job_id, "stdout", tail_lines=TAIL_LINES
        )
    except Unavailable as exc:
        with runtime.db.read() as session:
            state = jobs.get_job(session, me.principal, job_id).state
        return {
            "id": job_id,
            "state": state,
            "final": JobState(state).is_final,
            "text": "",
            "unavailable": exc.detail,
        }
    return {
        "id": job_id,
        "state": got.state,
        "final": got.final,
        "text": got.text,
        "unavailable": "",
    }


@router.get("/jobs/{job_id}/live", response_class=HTMLResponse)
async def job_live(
    request: Request, runtime: Rt, me: Me, job_id: str, seen: str = ""
) -> HTMLResponse:
    """The state and log tail alone, for the job page's htmx poll (also readable by itself).
    To the poll, when the state is no longer the ``seen`` one the page shows, also the page's
    facts (state, timeline, placement, cancel), swapped in out of band: the whole page follows
    the job, and nothing else is replaced while it stays (a focused button keeps its focus)."""
    try:
        live = await _live(runtime, me, job_id, True)
    except Conflict:
        live = await _live(runtime, me, job_id, False)
    if request.headers.get("hx-request"):
        status = STOP_POLLING if live["final"] else 200
        facts: dict[str, Any] = {}
        if live["state"] != seen[:32]:
            facts = await run_in_threadpool(_facts, runtime, me, job_id)
        return page(request, "jobs/_poll.html", status, live=live, me=me, oob=True, **facts)
    return page(request, "jobs/live.html", title="Job output", me=me, live=live)


@router.post("/jobs/{job_id}/cancel")
async def cancel(request: Request, runtime: Rt, me: Me, job_id: str) -> Response:
    form = await form_of(request)
    check_csrf(me, form)
    try:
        with runtime.db.write() as session:
            target = f"/jobs/{jobs.cancel(session, me.principal, job_id).id}"
    except Conflict as exc:  # it ended meanwhile
        return page(
            request,
            "message.html",
            409,
            title="Not cancelled",
            message=f"{exc.detail}.",
            me=me,
            back=f"/jobs/{job_id}",
        )
    return RedirectResponse(target, status_code=303)
