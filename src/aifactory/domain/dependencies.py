"""Job dependencies (``--dependency`` / ``dependency:``) between platform jobs, as sbatch
reads them: ``type:id[:id...]`` joined by ``,`` (all must hold) or ``?`` (any one may), with
the types ``after`` (``+minutes`` allowed), ``afterany`` (also a bare id), ``afterok``,
``afternotok``, ``aftercorr`` and ``singleton``. The ids are platform job ids (an array's id
stands for all its tasks, ``<array>_<index>`` for one task).

:func:`evaluate` decides, from the states of the jobs named, whether the job may start now,
must wait, or can never start (Slurm's DependencyNeverSatisfied).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from aifactory.domain.jobs import JobState

DEPENDENCY_FORMS = (
    "TYPE:ID[:ID...] joined by , (all) or ? (any); TYPE is after, afterany, afterok, "
    "afternotok, aftercorr; or singleton"
)
_ID = re.compile(r"job-[a-z0-9]{1,40}(?:_[0-9]{1,7})?")  # a platform job, or one array task


class Kind(StrEnum):
    AFTER = "after"  # the job started (or was cancelled), + minutes
    AFTERANY = "afterany"  # the job ended, in any state
    AFTEROK = "afterok"  # the job completed (exit code 0)
    AFTERNOTOK = "afternotok"  # the job ended in some failed state
    AFTERCORR = "aftercorr"  # array task i after task i of the other array completed
    SINGLETON = "singleton"  # no earlier job of this user with this name is still active


@dataclass(frozen=True)
class Condition:
    kind: Kind
    job_id: str = ""  # empty for singleton
    minutes: int = 0  # after:ID+minutes


@dataclass(frozen=True)
class Dependency:
    text: str
    conditions: tuple[Condition, ...]
    any_of: bool = False  # joined by "?"

    @property
    def job_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.job_id for c in self.conditions if c.job_id))

    @property
    def singleton(self) -> bool:
        return any(c.kind is Kind.SINGLETON for c in self.conditions)


def parse_dependency(value: str) -> Dependency:
    if "," in value and "?" in value:
        raise ValueError(f"{value!r}: use either , (all of) or ? (any of), not both")
    any_of = "?" in value
    conditions: list[Condition] = []
    for part in value.split("?" if any_of else ","):
        if part == "singleton":
            conditions.append(Condition(Kind.SINGLETON))
            continue
        kind_text, colon, ids = part.partition(":")
        if not colon and part in {k.value for k in Kind}:
            raise ValueError(f"{value!r}: {part} needs job ids ({part}:job-...)")
        if not colon:  # a bare id: afterany, Slurm's default type
            kind_text, ids = "afterany", part
        try:
            kind = Kind(kind_text)
        except ValueError:
            raise ValueError(
                f"{value!r}: {kind_text!r} is not a dependency type; use {DEPENDENCY_FORMS}"
            ) from None
        if kind is Kind.SINGLETON:
            raise ValueError(f"{value!r}: singleton takes no job ids")
        for item in ids.split(":"):
            job_id, plus, minutes = item.partition("+")
            if plus and (kind is not Kind.AFTER or not minutes.isascii() or not minutes.isdigit()):
                raise ValueError(f"{value!r}: only after:ID+MINUTES takes a delay")
            if plus and not minutes.strip("0"):  # Slurm refuses +0 (job_scheduler.c)
                raise ValueError(f"{value!r}: the delay after + is 1 minute or more")
            if not _ID.fullmatch(job_id):
                raise ValueError(
                    f"{value!r}: {job_id!r} is not a platform job id (job-..., or job-..._N for "
                    "one task of an array)"
                )
            conditions.append(Condition(kind, job_id, int(minutes) if plus else 0))
    return Dependency(value, tuple(conditions), any_of)


@dataclass(frozen=True)
class Ref:
    """A job a dependency names, as the platform knows it now. For an array: its own state
    (final once every task has ended)."""

    state: JobState
    started_at: float | None = None  # epoch seconds
    ended_at: float | None = None
    # aftercorr: the state of each task of an array, by index
    tasks: Mapping[int, JobState] | None = None


class Status(StrEnum):
    MET = "met"
    WAIT = "wait"
    NEVER = "never"


def _one(c: Condition, ref: Ref | None, now: float, index: int | None) -> tuple[Status, str]:
    if ref is None:  # purged or never visible: Slurm treats an unknown job as done
        return Status.MET, f"{c.kind.value}:{c.job_id} (job no longer known)"
    label = f"{c.kind.value}:{c.job_id}"
    state = ref.state
    if c.kind is Kind.AFTERCORR:
        if index is not None and ref.tasks is not None:
            if index not in ref.tasks:
                return Status.MET, f"{label} has no task {index}"
            state = ref.tasks[index]
            label = f"aftercorr:{c.job_id}_{index}"
        c = Condition(Kind.AFTEROK, c.job_id)  # then it reads as afterok on that task
    if c.kind is Kind.AFTER:
        since = ref.started_at if ref.started_at is not None else ref.ended_at
        if since is None and state is JobState.CANCELLED:
            since = now  # cancelled before it started: counts from now, as soon as seen
        if since is None:
            return Status.WAIT, f"{label} ({state.value}, not started)"
        due = since + 60 * c.minutes
        if now < due:
            return Status.WAIT, f"{label} (started; +{c.minutes} min not yet passed)"
        return Status.MET, label
    if not state.is_final:
        return Status.WAIT, f"{label} ({state.value})"
    if c.kind is Kind.AFTERANY:
        return Status.MET, label
    ok = state is JobState.COMPLETED
    if c.kind is Kind.AFTEROK:
        return (Status.MET, label) if ok else (Status.NEVER, f"{label} ended {state.value}")
    # afternotok
    return (Status.NEVER, f"{label} completed") if ok else (Status.MET, label)


def evaluate(
    dep: Dependency, refs: Mapping[str, Ref], now: float, index: int | None = None
) -> tuple[Status, str]:
    """Whether the job may start: met, wait (with what it waits for) or never (with why).
    ``index`` is the job's own array index, for aftercorr. Singleton conditions are turned
    into afterany ones by the caller, who knows the other jobs of the same name."""
    results = [
        _one(c, refs.get(c.job_id), now, index)
        for c in dep.conditions
        if c.kind is not Kind.SINGLETON
    ]
    if not results:
        return Status.MET, ""
    if dep.any_of:
        if any(s is Status.MET for s, _ in results):
            return Status.MET, ""
        if all(s is Status.NEVER for s, _ in results):
            return Status.NEVER, "; ".join(r for _, r in results)
        return Status.WAIT, " or ".join(r for s, r in results if s is Status.WAIT)
    never = [r for s, r in results if s is Status.NEVER]
    if never:
        return Status.NEVER, "; ".join(never)
    waiting = [r for s, r in results if s is Status.WAIT]
    if waiting:
        return Status.WAIT, ", ".join(waiting)
    return Status.MET, ""
