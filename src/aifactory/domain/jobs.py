"""The job state machine: one enum and one transition table.

Every write of a job's state goes through :func:`check_transition`, so an illegal
transition cannot reach the database.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PENDING = "pending"
    PLACED = "placed"
    SUBMITTED = "submitted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES: frozenset[JobState] = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT}
)

# Why each edge exists:
# - pending -> failed: no partition can ever run the job.
# - placed -> pending: the executor refused it (site went away); placement is tried again.
# - placed/submitted -> failed: the executor could not start it, or it vanished across a restart.
# - submitted -> completed/failed/timeout: a short job can finish between two polls.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.PLACED, JobState.CANCELLED, JobState.FAILED}),
    JobState.PLACED: frozenset(
        {JobState.SUBMITTED, JobState.PENDING, JobState.CANCELLED, JobState.FAILED}
    ),
    JobState.SUBMITTED: frozenset(
        {
            JobState.RUNNING,
            JobState.COMPLETED,
            JobState.FAILED,
            JobState.CANCELLED,
            JobState.TIMEOUT,
        }
    ),
    JobState.RUNNING: frozenset(
        {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT}
    ),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.TIMEOUT: frozenset(),
}


class IllegalTransition(ValueError):
    def __init__(self, current: JobState, target: JobState) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final state)"
        super().__init__(
            f"job cannot go from {current.value} to {target.value}; allowed from "
            f"{current.value}: {allowed}"
        )
        self.current = current
        self.target = target


def check_transition(current: JobState, target: JobState) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is in the table."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)


class Objective(StrEnum):
    """What the scheduler optimises among the partitions a job may run on."""

    FASTEST = "fastest"  # earliest completion
    GREENEST = "greenest"  # least carbon
    BALANCED = "balanced"  # both, weighed


class JobStack(StrEnum):
    """What a job's code was built for; ``any`` means it ships both builds."""

    CUDA = "cuda"
    ROCM = "rocm"
    ANY = "any"
