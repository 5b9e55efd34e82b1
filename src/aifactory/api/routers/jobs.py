"""Jobs: submit, list, show, logs, cancel, wait."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from aifactory.api import views
from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas import JobDetail, JobPlan, JobPublic, LogChunk, Page
from aifactory.domain.jobs import JobState
from aifactory.domain.jobspec import JobSpec
from aifactory.services import job_logs, jobs, submission
from aifactory.services.compliance import ledger
from aifactory.services.dry_run import plan_record

router = APIRouter(prefix="/jobs", tags=["jobs"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="The same key returns the same job instead of a second one.",
    ),
]


@router.post(
    "",
    operation_id="submit_job",
    response_model=JobPublic | JobPlan,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": JobPublic | JobPlan,
            "description": "Same Idempotency-Key: the earlier job; dry_run: the plan.",
        }
    },
)
def submit_job(
    spec: JobSpec,
    runtime: Rt,
    caller: Caller,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: Annotated[
        bool,
        Query(description="Only read the job and say where it would go; nothing is written."),
    ] = False,
) -> JobPublic | JobPlan:
    if dry_run:
        response.status_code = status.HTTP_200_OK
        plan = runtime.dry_runs.plan(caller, spec, set(runtime.executors))
        return JobPlan.model_validate(plan_record(plan))
    outcome = submission.submit(runtime, caller, spec, idempotency_key)
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    return views.job(outcome.job)


@router.get("", operation_id="list_jobs", response_model=Page[JobPublic])
def list_jobs(
    runtime: Rt,
    caller: Caller,
    project_id: Annotated[str | None, Query(max_length=64)] = None,
    org_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[list[JobState] | None, Query()] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[JobPublic]:
    """Newest first; filters combine."""
    filt = jobs.JobFilter(project_id, org_id, tuple(state or ()), site, name)
    with runtime.db.read() as session:
        rows, total = jobs.list_jobs(session, caller, filt, limit=limit, offset=offset)
        return Page[JobPublic](
            items=[views.job(j) for j in rows], total=total, limit=limit, offset=offset
        )


@router.get("/{job_id}", operation_id="get_job", response_model=JobDetail)
def get_job(job_id: str, runtime: Rt, caller: Caller) -> JobDetail:
    """The job with its state history and its placement: every partition considered, the
    one chosen and why each other was not."""
    with runtime.db.read() as session:
        job = jobs.get_job(session, caller, job_id)
        tasks = jobs.array_tasks(session, job.id) if job.array_tasks is not None else None
        energy = ledger.job_energy(session, job, runtime.catalog, ledger.rules_of(runtime.settings))
        return views.job_detail(job, jobs.history(session, job.id), tasks, energy)


@router.get("/{job_id}/logs", operation_id="get_job_logs", response_model=LogChunk)
async def get_logs(
    job_id: str,
    runtime: Rt,
    caller: Caller,
    stream: Literal["stdout", "stderr"] = "stdout",
    tail: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> LogChunk:
    """A tail (``tail`` lines) or everything from a byte ``offset``; follow by asking again
    with the returned offset until ``final``. Read where the job ran, through its executor
    (a Slurm site's own transport: here, over SSH, or its shared jobs_dir)."""
    got = await run_in_threadpool(
        job_logs.read, runtime, caller, job_id, stream, offset=offset, tail_lines=tail
    )
    return LogChunk(stream=stream, text=got.text, offset=got.offset, final=got.final)


@router.post("/{job_id}/cancel", operation_id="cancel_job", response_model=JobPublic)
def cancel_job(job_id: str, runtime: Rt, caller: Caller) -> JobPublic:
    """Pending and placed jobs end at once; running ones are stopped (their whole process
    group) and reach ``cancelled`` shortly after."""
    with runtime.db.write() as session:
        return views.job(jobs.cancel(session, caller, job_id))


@router.get("/{job_id}/wait", operation_id="wait_job", response_model=JobPublic)
async def wait_job(
    job_id: str,
    runtime: Rt,
    caller: Caller,
    timeout: Annotated[float, Query(ge=0, le=60)] = 30,
) -> JobPublic:
    """Return when the job has ended, or after ``timeout`` seconds with its current state."""

    def current() -> JobPublic:
        with runtime.db.read() as session:
            return views.job(jobs.get_job(session, caller, job_id))

    # Async, so that a waiting client holds no worker thread between two looks.
    deadline = time.monotonic() + timeout
    while True:
        out = await run_in_threadpool(current)
        if JobState(out.state).is_final or time.monotonic() >= deadline:
            return out
        await asyncio.sleep(0.25)
