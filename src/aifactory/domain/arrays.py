"""Job arrays: ``--array`` (or ``array:`` in a spec) as Slurm reads it, and the state of an
array as a whole.

``--array=0-15``, ``0,6,16-32``, ``0-15:4`` (a step: 0,4,8,12), each optionally ending in
``%N``: at most N tasks run at once. Indexes are 0 or more and below MaxArraySize (Slurm's
default 1001, so 1000 at most). An array is one submission; each task is a job of its own
(``<array id>_<index>``) with its own placement, reservation, usage and log.

The array's own state follows from its tasks' states (:func:`array_state`) through a
transition table of its own: pending until a task is handed to a site, running until every
task has ended, then one final state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aifactory.domain.jobs import JobState

MAX_ARRAY_SIZE = 1001  # Slurm's default MaxArraySize: indexes 0..1000
ARRAY_FORMS = "N, A-B, A-B:STEP or a comma list of those, optionally ending in %MAX_RUNNING"
_RANGE = re.compile(r"([0-9]{1,7})(?:-([0-9]{1,7})(?::([0-9]{1,7}))?)?")


@dataclass(frozen=True)
class ArraySpec:
    text: str  # as written, e.g. "0-9%2"
    indexes: tuple[int, ...]  # ascending, without repeats
    throttle: int | None = None  # %N: at most N tasks running at once

    @property
    def size(self) -> int:
        return len(self.indexes)

    @property
    def step(self) -> int:
        """SLURM_ARRAY_TASK_STEP as slurmctld sets it (job_mgr.c, _create_job_array): the
        number after the spec's first ``:`` (``0-15:4`` and ``0-15:4,20`` give 4), else 1
        (``0,4,8`` gives 1)."""
        _, colon, rest = self.text.partition(":")
        digits = re.match(r"[0-9]*", rest)
        return int(digits[0]) if colon and digits and digits[0] else 1

    def env(self, index: int, array_id: str) -> dict[str, str]:
        """What Slurm sets in an array task's environment (sbatch OUTPUT ENVIRONMENT
        VARIABLES), with the platform's array id as the array job id, and the platform's own
        names."""
        return {
            "SLURM_ARRAY_JOB_ID": array_id,
            "SLURM_ARRAY_TASK_ID": str(index),
            "SLURM_ARRAY_TASK_COUNT": str(self.size),
            "SLURM_ARRAY_TASK_MIN": str(self.indexes[0]),
            "SLURM_ARRAY_TASK_MAX": str(self.indexes[-1]),
            "SLURM_ARRAY_TASK_STEP": str(self.step),
            "AIF_ARRAY_JOB_ID": array_id,
            "AIF_ARRAY_TASK_ID": str(index),
        }


def parse_array(value: str, *, max_size: int = MAX_ARRAY_SIZE) -> ArraySpec:
    """The indexes and throttle of an array spec; :class:`ValueError` naming the forms."""
    body, pct, limit = value.partition("%")
    throttle: int | None = None
    if pct:
        if not limit.isascii() or not limit.isdigit() or len(limit) > 7:
            raise ValueError(f"{value!r}: after % comes the number of tasks that may run at once")
        # %0 sets no limit, as in slurmctld (_create_job_array keeps only a limit above 0)
        throttle = int(limit) or None
    found: set[int] = set()
    for part in body.split(","):
        m = _RANGE.fullmatch(part)
        if not m:
            raise ValueError(f"{value!r} is not an array; use {ARRAY_FORMS}")
        first = int(m[1])
        last = int(m[2]) if m[2] is not None else first
        step = int(m[3]) if m[3] is not None else 1
        if last < first:
            raise ValueError(f"{value!r}: the range {part!r} runs backwards")
        if step == 0:
            raise ValueError(f"{value!r}: a step of 0 in {part!r}")
        if last >= max_size:
            raise ValueError(
                f"{value!r}: index {last} is too high; indexes go from 0 to {max_size - 1} "
                "(MaxArraySize)"
            )
        found.update(range(first, last + 1, step))
    return ArraySpec(value, tuple(sorted(found)), throttle)


def task_id(array_id: str, index: int) -> str:
    """A task's job id, as Slurm names them: ``<array>_<index>``."""
    return f"{array_id}_{index}"


# -- the array's own state -----------------------------------------------------------------
_ENDS = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT})
# An array is pending until a task starts, running until all have ended, then ended.
ARRAY_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: _ENDS | {JobState.RUNNING},
    JobState.RUNNING: _ENDS,
    **{state: frozenset() for state in _ENDS},
}
# A finished array with tasks in several final states shows the worst of them.
_WORST_FIRST = (JobState.FAILED, JobState.TIMEOUT, JobState.CANCELLED, JobState.COMPLETED)


def array_state(counts: Mapping[JobState, int]) -> JobState:
    """The array's state from how many of its tasks are in each state."""
    total = sum(counts.values())
    ended = sum(n for s, n in counts.items() if s.is_final)
    if total and ended == total:
        return next(s for s in _WORST_FIRST if counts.get(s, 0))
    started = total - counts.get(JobState.PENDING, 0)
    return JobState.RUNNING if started else JobState.PENDING


def count_states(states: Iterable[str]) -> dict[JobState, int]:
    out: dict[JobState, int] = {}
    for s in states:
        state = JobState(s)
        out[state] = out.get(state, 0) + 1
    return out


def check_array_transition(current: JobState, target: JobState) -> None:
    if target not in ARRAY_TRANSITIONS[current]:
        raise ValueError(f"an array cannot go from {current.value} to {target.value}")
