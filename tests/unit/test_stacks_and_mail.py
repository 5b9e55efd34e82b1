"""Two rules tables: the software stack a script's commands show (docs/jobs.md, "Software
stack"), and which mail a job's state change sends, as Slurm's job_completion_logger decides
(src/slurmctld/job_mgr.c, 22.05)."""

from __future__ import annotations

import pytest

from aifactory.domain.jobs import JobStack, JobState
from aifactory.domain.sbatch.values import MailType as M
from aifactory.domain.stacks import infer_stack
from aifactory.services.job_mail import event_for, event_for_array


def script(*commands: str, header: tuple[str, ...] = ("#SBATCH -t 10",)) -> str:
    return "\n".join(["#!/bin/bash -l", *header, *commands]) + "\n"


# (case, commands, the stack, the line that shows it)
STACKS = [
    (
        "LUMI modules",
        ["module load LUMI/23.09 partition/G", "srun python train.py"],
        JobStack.ROCM,
        3,
    ),
    ("a ROCm module", ["module load rocm/6.0.3"], JobStack.ROCM, 3),
    ("a CUDA module", ["module purge", "module load cuda/12.2 nccl"], JobStack.CUDA, 4),
    (
        "CINECA's deep-learning profile",
        ["module load profile/deeplrn", "module load cudnn"],
        JobStack.CUDA,
        4,
    ),
    (
        "a ROCm container",
        ["srun singularity exec $SIF/pytorch_rocm6.0.sif python t.py"],
        JobStack.ROCM,
        3,
    ),
    (
        "an NVIDIA container with --nv",
        ["apptainer exec --nv pytorch.sif python t.py"],
        JobStack.CUDA,
        3,
    ),
    (
        "an NGC image",
        ["srun --container-image=nvcr.io#nvidia/pytorch:24.01-py3 python t.py"],
        JobStack.CUDA,
        3,
    ),
    ("rocm-smi", ["rocm-smi --showuse"], JobStack.ROCM, 3),
    ("nvidia-smi", ["nvidia-smi -L", "python t.py"], JobStack.CUDA, 3),
    ("a HIP variable", ["export HIP_VISIBLE_DEVICES=0,1"], JobStack.ROCM, 3),
    (
        "ROCm wheels",
        ["pip install torch --index-url https://download.pytorch.org/whl/rocm6.0"],
        JobStack.ROCM,
        3,
    ),
    (
        "CUDA wheels",
        ["pip install torch --index-url https://download.pytorch.org/whl/cu121"],
        JobStack.CUDA,
        3,
    ),
]


@pytest.mark.parametrize(("case", "commands", "stack", "line"), STACKS, ids=[s[0] for s in STACKS])
def test_the_stack_a_script_shows(
    case: str, commands: list[str], stack: JobStack, line: int
) -> None:
    need = infer_stack(script(*commands), 3)
    assert need.stack is stack
    assert need.why.startswith(f"line {line}: ")


@pytest.mark.parametrize(
    "commands",
    [
        ["python train.py"],  # nothing vendor-specific: any stack
        ["# module load rocm   (a comment, not a command)", "python t.py"],
        ["module load rocm", "nvidia-smi"],  # both: the job says it ships both builds
    ],
    ids=["plain python", "a commented-out module", "signs of both"],
)
def test_a_script_without_one_stack_needs_none(commands: list[str]) -> None:
    need = infer_stack(script(*commands), 3)
    assert need.stack is JobStack.ANY


def test_the_header_is_not_read_for_signs() -> None:
    """#SBATCH lines are directives, not commands: a job name with 'cuda' in it shows nothing."""
    text = script("python t.py", header=("#SBATCH -J cuda-free-run", "#SBATCH --comment=rocm"))
    assert infer_stack(text, 4).stack is JobStack.ANY


# (case, asked, the job's new state, reason, the mail sent)
MAIL = [
    ("begin", {M.BEGIN}, JobState.RUNNING, "", M.BEGIN),
    ("no begin asked", {M.END}, JobState.RUNNING, "", None),
    ("completed", {M.END}, JobState.COMPLETED, "", M.END),
    ("cancelled counts as END", {M.END}, JobState.CANCELLED, "by its user", M.END),
    ("failed sends FAIL", {M.FAIL}, JobState.FAILED, "exit code 1", M.FAIL),
    ("failed with only END: nothing", {M.END}, JobState.FAILED, "exit code 1", None),
    ("timeout is a failure", {M.FAIL, M.END}, JobState.TIMEOUT, "", M.FAIL),
    ("placed sends nothing", set(M), JobState.PLACED, "", None),
    (
        "invalid dependency",
        {M.INVALID_DEPEND},
        JobState.CANCELLED,
        "dependency can never be satisfied (DependencyNeverSatisfied): job-1 failed",
        M.INVALID_DEPEND,
    ),
    (
        "invalid dependency, only END asked",
        {M.END},
        JobState.CANCELLED,
        "dependency can never be satisfied (DependencyNeverSatisfied): job-1 failed",
        M.END,
    ),
    ("nothing asked", set(), JobState.COMPLETED, "", None),
]


@pytest.mark.parametrize(
    ("case", "asked", "state", "reason", "sent"), MAIL, ids=[m[0] for m in MAIL]
)
def test_the_mail_a_state_change_sends(
    case: str, asked: set[M], state: JobState, reason: str, sent: M | None
) -> None:
    assert event_for(asked, state, reason) is sent


def test_an_array_task_mails_only_with_array_tasks() -> None:
    assert event_for({M.END}, JobState.COMPLETED, task=True) is None
    assert event_for({M.END, M.ARRAY_TASKS}, JobState.COMPLETED, task=True) is M.END


@pytest.mark.parametrize(
    ("asked", "state", "failed", "sent"),
    [
        ({M.BEGIN}, JobState.RUNNING, False, M.BEGIN),
        ({M.END, M.FAIL}, JobState.COMPLETED, False, M.END),
        ({M.END, M.FAIL}, JobState.FAILED, True, M.FAIL),
        ({M.END}, JobState.FAILED, True, M.END),  # Slurm: FAIL not asked, END is
        ({M.FAIL}, JobState.COMPLETED, False, None),
    ],
)
def test_an_array_mails_as_a_whole(
    asked: set[M], state: JobState, failed: bool, sent: M | None
) -> None:
    assert event_for_array(asked, state, failed) is sent
