"""Mail about a job's state, as sbatch --mail-type asks (the platform's mail, not the site's).

The rules are Slurm's (``job_completion_logger`` in ``src/slurmctld/job_mgr.c``):

- BEGIN when the job starts running;
- END when it completes or is cancelled; FAIL when it fails or times out (so a timed-out
  job asked only for END sends nothing, as in Slurm);
- INVALID_DEPEND when it is cancelled because its dependency can never be satisfied;
- an array mails as a whole (its first task begins, all its tasks have ended: FAIL if any
  failed, else END) unless ARRAY_TASKS asks for mail about each task.

REQUEUE and STAGE_OUT never happen on the platform; TIME_LIMIT* are listed as not sent.
The mail goes to ``mail_user`` (the submitter by default) through the outbox, in the same
transaction as the change it tells of.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from aifactory.db.tables import Job
from aifactory.domain.jobs import JobState
from aifactory.domain.sbatch.values import MailType
from aifactory.services import notifications

NOT_SENT = frozenset(
    {
        MailType.REQUEUE,
        MailType.STAGE_OUT,
        MailType.TIME_LIMIT,
        MailType.TIME_LIMIT_90,
        MailType.TIME_LIMIT_80,
        MailType.TIME_LIMIT_50,
    }
)
DEPENDENCY_NEVER = "dependency can never be satisfied"


def event_for(
    types: Collection[MailType], target: JobState, reason: str = "", *, task: bool = False
) -> MailType | None:
    """The mail a job's move to ``target`` sends, if any; ``task``: an array task (which
    mails only with ARRAY_TASKS)."""
    if not types or (task and MailType.ARRAY_TASKS not in types):
        return None
    if target is JobState.RUNNING:
        return MailType.BEGIN if MailType.BEGIN in types else None
    if not target.is_final:
        return None
    if (
        target is JobState.CANCELLED
        and reason.startswith(DEPENDENCY_NEVER)
        and MailType.INVALID_DEPEND in types
    ):
        return MailType.INVALID_DEPEND
    if target in (JobState.FAILED, JobState.TIMEOUT):
        return MailType.FAIL if MailType.FAIL in types else None
    return MailType.END if MailType.END in types else None


def event_for_array(
    types: Collection[MailType], target: JobState, any_task_failed: bool
) -> MailType | None:
    """The mail an array as a whole sends: BEGIN with its first task, and once all its tasks
    have ended FAIL when one exited non-zero (and FAIL was asked), else END."""
    if not types:
        return None
    if target is JobState.RUNNING:
        return MailType.BEGIN if MailType.BEGIN in types else None
    if not target.is_final:
        return None
    if any_task_failed and MailType.FAIL in types:
        return MailType.FAIL
    return MailType.END if MailType.END in types else None


def send(session: Session, job: Job, event: MailType, email: str) -> None:
    spec = job.spec
    to = spec.get("mail_user") or email
    what = {
        MailType.BEGIN: "began",
        MailType.END: f"ended: {job.state}",
        MailType.FAIL: f"failed: {job.state}",
        MailType.INVALID_DEPEND: "was cancelled: its dependency can never be satisfied",
    }.get(event, event.value)
    where = f" on {job.site_id}/{job.partition_id}" if job.site_id else ""
    body = (
        f"Job {job.id} ({job.name}){where} {what}.\n"
        f"Reason: {job.reason or '-'}\n"
        f"Exit code: {job.exit_code if job.exit_code is not None else '-'}\n\n"
        f"aif job show {job.id}\n"
    )
    notifications.enqueue(
        session, [to], f"job.{event.value.lower()}", f"[aifactory] job {job.name} {what}", body
    )


def types_of(job: Job) -> tuple[MailType, ...]:
    return tuple(MailType(t) for t in job.spec.get("mail_type") or ())
