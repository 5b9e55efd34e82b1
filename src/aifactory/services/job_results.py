"""What executors report about a job, applied to it: state, times, nodes and its usage
record (written once, with the final state)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from aifactory.db.tables import Job, UsageRecord
from aifactory.domain.execution import PollResult, ProcessOutcome
from aifactory.domain.jobs import JobState
from aifactory.services.allocations import placed_gpus
from aifactory.services.batch import WriteBatch
from aifactory.services.ids import as_utc, utcnow
from aifactory.services.jobs import transition

_OUTCOME_STATE = {
    ProcessOutcome.COMPLETED: JobState.COMPLETED,
    ProcessOutcome.FAILED: JobState.FAILED,
    ProcessOutcome.TIMEOUT: JobState.TIMEOUT,
    ProcessOutcome.CANCELLED: JobState.CANCELLED,
}


def apply_result(
    session: Session,
    job: Job,
    result: PollResult,
    batch: WriteBatch | None = None,
) -> int:
    state = JobState(job.state)
    if state.is_final:
        return 0
    if result.nodes:
        job.node_list = result.nodes[:2000]
    if result.outcome is ProcessOutcome.QUEUED:
        # Waiting in the site's own queue: the user reads the site's reason.
        if job.reason != result.reason:
            job.reason = result.reason[:2000]
            return 1
        return 0
    if result.outcome is ProcessOutcome.RUNNING:
        if state is JobState.SUBMITTED:
            if result.started_at:
                job.started_at = datetime.fromtimestamp(result.started_at, UTC)
            transition(session, job, JobState.RUNNING, "running")
            return 1
        return 0
    target = _OUTCOME_STATE[result.outcome]
    if job.cancel_requested and target is JobState.FAILED:
        target = JobState.CANCELLED  # killed because we asked
    ended = datetime.fromtimestamp(result.ended_at, UTC) if result.ended_at else utcnow()
    if result.started_at:
        job.started_at = datetime.fromtimestamp(result.started_at, UTC)
    job.exit_code = result.exit_code
    job.ended_at = ended
    usage = _record_usage(session, job, result, ended, batch)
    # A preempted job keeps the reason that names the job it made room for.
    preempted = target is JobState.CANCELLED and job.reason.startswith("preempted by")
    transition(
        session,
        job,
        target,
        job.reason if preempted else (result.reason or target.value),
        at=ended,
        used_gpu_seconds=usage,
        batch=batch,
    )
    return 1


def _record_usage(
    session: Session, job: Job, result: PollResult, ended: datetime, batch: WriteBatch | None
) -> int:
    """One usage record per job, written with its final state (so exactly once). A site that
    accounts usage (Slurm's sacct) is taken at its word; otherwise GPUs x the time it ran."""
    if result.usage is not None:
        gpus, elapsed = result.usage.gpus, result.usage.elapsed_s
        tres, source = result.usage.alloc_tres, "sacct"
        job.alloc_tres = tres[:2000]
    else:
        gpus = placed_gpus(job)
        start = as_utc(job.started_at) if job.started_at else ended
        elapsed = max(0, int((ended - start).total_seconds()))
        tres, source = None, job.executor or "local"
    row = {
        "job_id": job.id,
        "org_id": job.org_id,
        "project_id": job.project_id,
        "allocation_id": job.allocation_id,
        "site_id": job.site_id or "",
        "partition_id": job.partition_id or "",
        "source": source,
        "external_id": job.external_id,
        "gpus": gpus,
        "elapsed_s": elapsed,
        "gpu_seconds": gpus * elapsed,
        "alloc_tres": tres,
        "started_at": job.started_at,
        "ended_at": ended,
        "recorded_at": utcnow(),
        "model_version_id": job.model_version_id,
        "purpose": job.purpose,
        "utilisation": job.utilisation,
    }
    if batch is not None:
        batch.add(UsageRecord, row)
    else:
        session.add(UsageRecord(**row))
    return gpus * elapsed
