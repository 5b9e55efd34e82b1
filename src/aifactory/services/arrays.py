"""Job arrays: one submission, a job row per task, and the array's own row that follows them.

A task is a job like any other (``<array id>_<index>``): its own placement, reservation,
usage, log and cancel. The scheduling cycle holds an array's ``%N`` throttle (counting its
tasks placed and not ended). The array's row is never scheduled; its state and reason are
worked out from its tasks' states (``domain.arrays.array_state``) at the end of every write
transaction that moved one of them, with the array's row locked, so two transactions
ending its last tasks at once still leave it final.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifactory.db.tables import Job, JobEvent, User
from aifactory.domain.arrays import ARRAY_TRANSITIONS, ArraySpec, array_state, task_id
from aifactory.domain.jobs import JobState
from aifactory.services import job_mail
from aifactory.services.ids import utcnow

TOUCHED = "aif_arrays_touched"


def touched(session: Session, array_id: str) -> None:
    """Note that a task of ``array_id`` moved: its array is worked out before commit."""
    session.info.setdefault(TOUCHED, set()).add(array_id)


def task_rows(parent: Mapping[str, Any], spec: ArraySpec) -> list[dict[str, Any]]:
    """The job rows of an array's tasks, from the array's own row."""
    return [
        {
            **parent,
            "id": task_id(str(parent["id"]), index),
            "idempotency_key": None,
            "array_job_id": parent["id"],
            "array_index": index,
            "array_tasks": None,
        }
        for index in spec.indexes
    ]


def summary(counts: Mapping[JobState, int]) -> str:
    total = sum(counts.values())
    parts = [f"{n} {state.value}" for state in JobState if (n := counts.get(state, 0))]
    return f"{total} tasks: " + ", ".join(parts)


def counts_of(session: Session, array_id: str) -> dict[JobState, int]:
    return {
        JobState(state): int(n)
        for state, n in session.execute(
            select(Job.state, func.count()).where(Job.array_job_id == array_id).group_by(Job.state)
        ).all()
    }


def refresh_touched(session: Session) -> None:
    """The arrays whose tasks this transaction moved, brought up to date (a before-commit
    hook of the database's write transactions)."""
    ids = session.info.pop(TOUCHED, None)
    if not ids:
        return
    session.flush()
    for array_id in sorted(ids):
        refresh(session, array_id)


def refresh(session: Session, array_id: str, at: datetime | None = None) -> bool:
    """Work out the array's state from its tasks; True when it changed."""
    array = session.get(Job, array_id, with_for_update=True, populate_existing=True)
    if array is None or array.array_tasks is None:
        return False
    counts = counts_of(session, array_id)
    at = at or utcnow()
    new = array_state(counts)
    current = JobState(array.state)
    text = summary(counts)
    if new is current or new not in ARRAY_TRANSITIONS[current]:
        if array.reason != text:
            array.reason = text
            array.updated_at = at
        return False
    started, ended, worst = session.execute(
        select(func.min(Job.started_at), func.max(Job.ended_at), func.max(Job.exit_code)).where(
            Job.array_job_id == array_id
        )
    ).one()
    array.state = new.value
    array.reason = text
    array.updated_at = at
    if started is not None and array.started_at is None:
        array.started_at = started
    if new.is_final:
        array.ended_at = ended or at
        array.exit_code = worst
    session.add(JobEvent(job_id=array_id, state=new.value, at=at, reason=text))
    event = job_mail.event_for_array(
        job_mail.types_of(array), new, counts.get(JobState.FAILED, 0) > 0
    )
    if event is not None:
        email = session.execute(select(User.email).where(User.id == array.user_id)).scalar()
        job_mail.send(session, array, event, email or "")
    return True


def reconcile(session: Session) -> int:
    """Arrays left behind by a transaction that could not see another's last change (a
    safety net the executor loop runs): every unfinished array whose tasks have all ended."""
    unfinished = select(Job.id).where(
        Job.array_tasks.is_not(None),
        Job.state.in_((JobState.PENDING.value, JobState.RUNNING.value)),
    )
    return sum(refresh(session, array_id) for array_id in session.execute(unfinished).scalars())
