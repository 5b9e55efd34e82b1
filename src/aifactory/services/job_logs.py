"""A job's output, read where it ran through its executor (a Slurm site's own transport:
here, over SSH, or its shared jobs_dir), for the API and the portal alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aifactory.domain.catalog import ExecutorKind
from aifactory.domain.execution import SiteUnavailable, Tracked
from aifactory.domain.jobs import JobState
from aifactory.services import jobs
from aifactory.services.errors import Conflict, Unavailable
from aifactory.services.identity import Principal

if TYPE_CHECKING:
    from aifactory.services.runtime import Runtime

STREAMS = ("stdout", "stderr")


@dataclass(frozen=True)
class LogRead:
    text: str
    offset: int  # ask again from here to follow
    final: bool  # the job has ended: nothing more will come
    state: str


def read(
    runtime: Runtime,
    principal: Principal,
    job_id: str,
    stream: str = "stdout",
    *,
    offset: int = 0,
    tail_lines: int | None = None,
) -> LogRead:
    """Blocking (SSH to a site): call it from a worker thread."""
    with runtime.db.read() as session:
        job = jobs.get_job(session, principal, job_id)
        if job.array_tasks is not None:
            raise Conflict(
                f"{job.id} is an array: each task has its own log ({job.id}_<index>; "
                "aif job show lists them)"
            )
        state = job.state
        final = JobState(state).is_final
        kind, workdir = job.executor, job.workdir
        tracked = Tracked(
            job.id, job.external_id or "", Path(workdir or "."), job.logs or {}, job.node_list or ""
        )
    executor = runtime.executors.get(ExecutorKind(kind)) if kind else None
    if workdir is None or executor is None:
        return LogRead("", offset, final, state)
    try:
        chunk = executor.read_log(tracked, stream, offset=offset, tail_lines=tail_lines)
    except SiteUnavailable as exc:
        raise Unavailable(f"site of {job_id} does not answer: {exc}") from None
    return LogRead(chunk.text, chunk.offset, final, state)
