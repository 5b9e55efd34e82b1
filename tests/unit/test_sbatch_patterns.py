"""-o/-e filename patterns, expanded as slurmstepd expands them for a batch job (Slurm 22.05
``src/slurmd/common/fname.c``, ``_create_batch_fname``) and as the sbatch man page's
"filename pattern" section documents them."""

from __future__ import annotations

import pytest

from aifactory.domain.sbatch.patterns import (
    NO_VAL,
    Fields,
    default_output,
    expand,
    resolve,
    substitute_array,
)

# Job 128 named "train" of user "alice" on node nid001; and task 7 of array 120 (job 130).
JOB = Fields("128", "train", "alice", node="nid001")
TASK = Fields("130", "train", "alice", array_job_id="120", array_index=7, node="nid001")

# (pattern, for the job, for the array task)
PATTERNS = [
    # the man page's examples (job 128, the batch step)
    ("job%J.out", "job128.out", "job130.out"),  # %J: jobid.stepid, no ".stepid" for batch
    ("job%4j.out", "job0128.out", "job0130.out"),
    ("job%j-%2t.out", "job128-00.out", "job130-00.out"),  # the batch step's only task is 0
    # each replacement symbol
    ("%j", "128", "130"),
    ("%x", "train", "train"),
    ("%u", "alice", "alice"),
    ("%A", "128", "120"),  # the array's job id; a job's own id when it is no array task
    ("%a", str(NO_VAL), "7"),  # NO_VAL (4294967294) for a job that is no array task
    ("%N", "nid001", "nid001"),  # the first node's short name
    ("%n", "0", "0"),  # node 0 of the job
    ("%t", "0", "0"),  # task 0
    ("%s", "batch", "batch"),  # the batch step
    ("%%", "%", "%"),
    ("100%%.log", "100%.log", "100%.log"),
    ("%%j", "%j", "%j"),  # an escaped percent sign is not a symbol
    ("%%%j", "%128", "%130"),
    # zero-padding: numeric fields only, at most 10 digits
    ("%5a", "4294967294", "00007"),
    ("%3A_%3a", "128_4294967294", "120_007"),
    ("%012j", "0000000128", "0000000130"),  # capped at 10
    ("%5x-%5u-%5N", "train-alice-nid001", "train-alice-nid001"),  # padding ignored
    ("%3s", "batch", "batch"),
    # whole names
    ("slurm-%j.out", "slurm-128.out", "slurm-130.out"),
    ("slurm-%A_%a.out", f"slurm-128_{NO_VAL}.out", "slurm-120_7.out"),
    ("logs/%x-%j.out", "logs/train-128.out", "logs/train-130.out"),
    ("/scratch/%u/%A/%a.log", f"/scratch/alice/128/{NO_VAL}.log", "/scratch/alice/120/7.log"),
    # not a symbol: kept as written
    ("%z", "%z", "%z"),
    ("a%", "a%", "a%"),
    ("plain.log", "plain.log", "plain.log"),
    # a backslash: no symbol is replaced, the escaping backslashes are removed
    ("a\\%j", "a%j", "a%j"),
    ("\\%x-%j.out", "%x-%j.out", "%x-%j.out"),
    ("a\\\\b", "a\\b", "a\\b"),
]


@pytest.mark.parametrize(("pattern", "job", "task"), PATTERNS, ids=[p[0] for p in PATTERNS])
def test_expand(pattern: str, job: str, task: str) -> None:
    assert expand(pattern, JOB) == job
    assert expand(pattern, TASK) == task


def test_node_left_for_later_when_not_known() -> None:
    assert expand("%N-%j.out", Fields("128", "train", "alice")) == "%N-128.out"


# (pattern, path in the job's working directory /home/alice/run)
RESOLVED = [
    ("out-%j.log", "/home/alice/run/out-128.log"),
    ("logs/%x.out", "/home/alice/run/logs/train.out"),
    ("/scratch/%u/%j.out", "/scratch/alice/128.out"),
]


@pytest.mark.parametrize(("pattern", "path"), RESOLVED, ids=[r[0] for r in RESOLVED])
def test_relative_to_the_working_directory(pattern: str, path: str) -> None:
    assert resolve(pattern, JOB, "/home/alice/run") == path


@pytest.mark.parametrize(
    ("array", "default", "task_name"),
    [(False, "slurm-%j.out", "slurm-128.out"), (True, "slurm-%A_%a.out", "slurm-120_7.out")],
    ids=["a job", "an array task"],
)
def test_default_output(array: bool, default: str, task_name: str) -> None:
    """ "For job arrays, the default file name is "slurm-%A_%a.out" ... For other jobs, the
    default file name is "slurm-%j.out"."""
    assert default_output(array) == default
    assert expand(default, TASK if array else JOB) == task_name


# (pattern, with %A and %a of task 7 of array job-x filled in, the rest left for Slurm)
SUBSTITUTED = [
    ("log-%A_%a.out", "log-job-x_7.out"),
    ("log-%A_%3a-%j.out", "log-job-x_007-%j.out"),
    ("%x-%u-%N", "%x-%u-%N"),
    ("100%%", "100%%"),
    ("a\\%a", "a\\%a"),  # a backslash: nothing is replaced, by Slurm either
]


@pytest.mark.parametrize(("pattern", "result"), SUBSTITUTED, ids=[s[0] for s in SUBSTITUTED])
def test_substitute_array(pattern: str, result: str) -> None:
    assert substitute_array(pattern, "job-x", 7) == result
    # what is left expands for the task's own Slurm job as the whole pattern would
    job = Fields("55", "train", "alice", node="n1")
    whole = Fields("55", "train", "alice", array_job_id="job-x", array_index=7, node="n1")
    assert expand(substitute_array(pattern, "job-x", 7), job) == expand(pattern, whole)
