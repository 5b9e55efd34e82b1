"""Job dependencies (sbatch --dependency, the spec's ``dependency:``) between platform jobs: how
a spec is read, and when it is met, as the sbatch man page (22.05) describes each type and
slurmctld decides it (``src/slurmctld/job_scheduler.c``, ``_test_job_dependency_common``).
"""

from __future__ import annotations

import pytest

from aifactory.domain.dependencies import (
    Condition,
    Dependency,
    Kind,
    Ref,
    Status,
    evaluate,
    parse_dependency,
)
from aifactory.domain.jobs import JobState

A, B, C = "job-a", "job-b", "job-c"
AFTER, ANY, OK, NOTOK = Kind.AFTER, Kind.AFTERANY, Kind.AFTEROK, Kind.AFTERNOTOK
CORR = Kind.AFTERCORR

# (spec, joined by "?", conditions)
PARSED = [
    ("afterok:job-a", False, [Condition(OK, A)]),
    ("afterok:job-a:job-b", False, [Condition(OK, A), Condition(OK, B)]),
    ("afterany:job-a", False, [Condition(ANY, A)]),
    ("job-a", False, [Condition(ANY, A)]),  # afterany "is the default dependency type"
    ("afternotok:job-a", False, [Condition(NOTOK, A)]),
    ("aftercorr:job-a", False, [Condition(CORR, A)]),
    ("after:job-a", False, [Condition(AFTER, A)]),
    # after:job_id[[+time][:jobid[+time]...]]: 'time' in minutes, per id
    ("after:job-a+10", False, [Condition(AFTER, A, 10)]),
    ("after:job-a+10:job-b+5", False, [Condition(AFTER, A, 10), Condition(AFTER, B, 5)]),
    ("singleton", False, [Condition(Kind.SINGLETON)]),
    ("afterok:job-a_3", False, [Condition(OK, "job-a_3")]),  # one task of an array
    # "-d afterok:20:21,afterany:23 means that the job can run only after a 0 return code of
    # jobs 20 and 21 AND the completion of job 23"
    ("afterok:job-a:job-b,afterany:job-c", False,
     [Condition(OK, A), Condition(OK, B), Condition(ANY, C)]),
    # "-d afterok:20:21?afterany:23 means that any of the conditions (afterok:20 OR afterok:21
    # OR afterany:23) will be enough to release the job"
    ("afterok:job-a:job-b?afterany:job-c", True,
     [Condition(OK, A), Condition(OK, B), Condition(ANY, C)]),
    ("singleton,afterok:job-a", False, [Condition(Kind.SINGLETON), Condition(OK, A)]),
    ("afterok:job-a?afterok:job-b", True, [Condition(OK, A), Condition(OK, B)]),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "any_of", "conditions"), PARSED, ids=[p[0] for p in PARSED])
def test_parse(spec: str, any_of: bool, conditions: list[Condition]) -> None:
    dep = parse_dependency(spec)
    assert dep == Dependency(spec, tuple(conditions), any_of)
    assert dep.job_ids == tuple(dict.fromkeys(c.job_id for c in conditions if c.job_id))
    assert dep.singleton == any(c.kind is Kind.SINGLETON for c in conditions)


# (spec, part of the message)
PARSED_BAD = [
    # "Only one separator may be used."
    ("afterok:job-a,afterany:job-b?after:job-c", "use either , (all of) or ? (any of), not both"),
    ("afterfoo:job-a", "'afterfoo' is not a dependency type"),
    ("afterburstbuffer:job-a", "is not a dependency type"),  # no burst buffers here
    ("expand:job-a", "is not a dependency type"),
    ("afterok:job-a+5", "only after:ID+MINUTES takes a delay"),
    ("after:job-a+x", "only after:ID+MINUTES takes a delay"),
    ("after:job-a+0", "the delay after + is 1 minute or more"),  # slurmctld refuses +0 too
    ("afterok:4242", "'4242' is not a platform job id"),  # Slurm's ids are not the platform's
    ("afterok:", "'' is not a platform job id"),
    ("afterok:job-a:", "'' is not a platform job id"),
    ("afterok:job-a,", "'' is not a platform job id"),
    ("afterok:JOB-A", "is not a platform job id"),
    ("afterok:job-a_x", "is not a platform job id"),
    ("singleton:job-a", "singleton takes no job ids"),
    ("", "is not a platform job id"),
]


@pytest.mark.parametrize(("spec", "message"), PARSED_BAD, ids=[repr(p[0]) for p in PARSED_BAD])
def test_parse_refuses(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_dependency(spec)
    assert message in str(e.value)


# -- when it is met ----------------------------------------------------------------------------
NOW = 1_000_000.0
MIN = 60.0


def done(state: JobState, ran_for: float = 10 * MIN) -> Ref:
    """A job that ended just now, in ``state``, after running ``ran_for`` seconds."""
    return Ref(state, started_at=NOW - ran_for, ended_at=NOW)


OK_, FAILED, TIMEOUT, CANCELLED = (
    done(JobState.COMPLETED),
    done(JobState.FAILED),
    done(JobState.TIMEOUT),
    done(JobState.CANCELLED),
)
PENDING = Ref(JobState.PENDING)
RUNNING = Ref(JobState.RUNNING, started_at=NOW - 5 * MIN)
MET, WAIT, NEVER = Status.MET, Status.WAIT, Status.NEVER

# (case, spec, the jobs it names as the platform knows them, status, part of the reason)
EVALUATED = [
    # afterok: "after the specified jobs have successfully executed (ran to completion with an
    # exit code of zero)"; once one of them failed the job "will never be run"
    ("afterok: all completed", "afterok:job-a:job-b", {A: OK_, B: OK_}, MET, ""),
    ("afterok: one failed", "afterok:job-a:job-b", {A: OK_, B: FAILED}, NEVER,
     "afterok:job-b ended failed"),
    ("afterok: one timed out", "afterok:job-a", {A: TIMEOUT}, NEVER, "ended timeout"),
    ("afterok: one cancelled", "afterok:job-a", {A: CANCELLED}, NEVER, "ended cancelled"),
    ("afterok: one still running", "afterok:job-a:job-b", {A: OK_, B: RUNNING}, WAIT,
     "afterok:job-b (running)"),
    ("afterok: pending", "afterok:job-a", {A: PENDING}, WAIT, "afterok:job-a (pending)"),
    ("afterok: a failure decides before a wait", "afterok:job-a:job-b", {A: RUNNING, B: FAILED},
     NEVER, "afterok:job-b ended failed"),
    # afternotok: "after the specified jobs have terminated in some failed state (non-zero exit
    # code, node failure, timed out, etc)"
    ("afternotok: failed", "afternotok:job-a", {A: FAILED}, MET, ""),
    ("afternotok: timed out", "afternotok:job-a", {A: TIMEOUT}, MET, ""),
    ("afternotok: cancelled", "afternotok:job-a", {A: CANCELLED}, MET, ""),
    ("afternotok: completed", "afternotok:job-a", {A: OK_}, NEVER, "afternotok:job-a completed"),
    ("afternotok: running", "afternotok:job-a", {A: RUNNING}, WAIT, "(running)"),
    # afterany: "after the specified jobs have terminated"
    ("afterany: completed", "afterany:job-a", {A: OK_}, MET, ""),
    ("afterany: failed", "afterany:job-a:job-b", {A: FAILED, B: CANCELLED}, MET, ""),
    ("afterany: running", "afterany:job-a", {A: RUNNING}, WAIT, "afterany:job-a (running)"),
    ("a bare id is afterany", "job-a", {A: TIMEOUT}, MET, ""),
    # after: "After the specified jobs start or are cancelled and 'time' in minutes from job
    # start or cancellation happens"
    ("after: started", "after:job-a", {A: RUNNING}, MET, ""),
    ("after: pending", "after:job-a", {A: PENDING}, WAIT, "not started"),
    ("after: ended", "after:job-a", {A: FAILED}, MET, ""),
    ("after: cancelled before it started", "after:job-a", {A: Ref(JobState.CANCELLED)}, MET, ""),
    ("after +10: started 5 min ago", "after:job-a+10", {A: RUNNING}, WAIT,
     "+10 min not yet passed"),
    ("after +5: started 5 min ago", "after:job-a+5", {A: RUNNING}, MET, ""),
    # ",": all must hold
    ("all of: one waits", "afterok:job-a,afterany:job-b", {A: OK_, B: RUNNING}, WAIT,
     "afterany:job-b (running)"),
    ("all of: both hold", "afterok:job-a,afternotok:job-b", {A: OK_, B: FAILED}, MET, ""),
    # "?": any one may
    ("any of: one met", "afterok:job-a?afterok:job-b", {A: FAILED, B: OK_}, MET, ""),
    ("any of: one failed, one waits", "afterok:job-a?afterok:job-b", {A: FAILED, B: RUNNING},
     WAIT, "afterok:job-b (running)"),
    ("any of: all failed", "afterok:job-a?afterok:job-b", {A: FAILED, B: TIMEOUT}, NEVER,
     "afterok:job-a ended failed; afterok:job-b ended timeout"),
    ("any of: the man page's example", "afterok:job-a:job-b?afterany:job-c",
     {A: FAILED, B: FAILED, C: CANCELLED}, MET, ""),
    ("any of: ids of one type are any of too", "afterok:job-a:job-b?afterany:job-c",
     {A: FAILED, B: OK_, C: RUNNING}, MET, ""),
    # a job the platform no longer knows: Slurm clears a dependency on a purged job
    ("unknown job", "afterok:job-a", {}, MET, ""),
    # singleton: the caller turns it into afterany on the same name's jobs
    ("singleton alone", "singleton", {}, MET, ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "spec", "refs", "status", "reason"), EVALUATED, ids=[e[0] for e in EVALUATED]
)
def test_evaluate(case: str, spec: str, refs: dict[str, Ref], status: Status, reason: str) -> None:
    got, why = evaluate(parse_dependency(spec), refs, NOW)
    assert got is status, why
    assert reason in why
    if status is MET:
        assert why == ""


# aftercorr: "A task of this job array can begin execution after the corresponding task ID in
# the specified job has completed successfully". (case, our index, the other array's tasks,
# status)
ARRAY = Ref(JobState.RUNNING, started_at=NOW)
CORRESPONDING = [
    ("its task completed", 3, {3: JobState.COMPLETED, 4: JobState.RUNNING}, MET),
    ("its task failed", 3, {3: JobState.FAILED}, NEVER),
    ("its task runs", 3, {3: JobState.RUNNING, 2: JobState.COMPLETED}, WAIT),
    ("no such task there", 9, {3: JobState.COMPLETED}, MET),
]


@pytest.mark.parametrize(
    ("case", "index", "tasks", "status"), CORRESPONDING, ids=[c[0] for c in CORRESPONDING]
)
def test_aftercorr(case: str, index: int, tasks: dict[int, JobState], status: Status) -> None:
    refs = {A: Ref(ARRAY.state, ARRAY.started_at, tasks=tasks)}
    got, why = evaluate(parse_dependency("aftercorr:job-a"), refs, NOW, index)
    assert got is status, why
