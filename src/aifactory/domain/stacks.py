"""Which software stack a script needs, read from what it loads and runs.

A job that names no ``software_stack`` may run on any partition: it gets its partition's
stack. But a script that loads ROCm modules or starts a CUDA container cannot run anywhere:
this reads the commands of a script (or a ``run:`` command) for the signs listed in
``SIGNS`` (module names, container images, vendor tools, PyTorch wheel indexes, a vendor's
environment variables) and returns the stack with the line that shows it. A script that
shows signs of both, or of neither, needs no particular stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aifactory.domain.jobs import JobStack

# (pattern on a command line, the stack it shows, what the user reads)
SIGNS: tuple[tuple[re.Pattern[str], JobStack, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), stack, what)
    for p, stack, what in (
        # module load/add/swap/use with a vendor's module
        (
            r"\bmodule\s+(?:load|add|swap|switch|try-load)\b[^#\n]*"
            r"\b(?:rocm|hip|amd-mixed|PrgEnv-amd|craype-accel-amd\S*|aws-ofi-rccl|rccl|miopen"
            r"|partition/G)\b",
            JobStack.ROCM,
            "loads a ROCm module",
        ),
        (
            r"\bmodule\s+(?:load|add|swap|switch|try-load)\b[^#\n]*"
            r"\b(?:cuda|cudnn|nvhpc|nccl|cudatoolkit|craype-accel-nvidia\S*)\b",
            JobStack.CUDA,
            "loads a CUDA module",
        ),
        # containers
        (
            r"\b(?:singularity|apptainer)\s+(?:exec|run|shell)\b[^#\n]*(?:--rocm\b|rocm)",
            JobStack.ROCM,
            "runs a ROCm container",
        ),
        (
            r"\b(?:singularity|apptainer)\s+(?:exec|run|shell)\b[^#\n]*(?:--nv\b|nvcr\.io|cuda)",
            JobStack.CUDA,
            "runs a CUDA container",
        ),
        (r"--container-image[= ]\S*rocm", JobStack.ROCM, "runs a ROCm container"),
        (r"\S*rocm\S*\.sif\b", JobStack.ROCM, "names a ROCm container image"),
        (r"\S*cuda\S*\.sif\b", JobStack.CUDA, "names a CUDA container image"),
        (
            r"--container-image[= ]\S*(?:nvcr\.io|nvidia|cuda)",
            JobStack.CUDA,
            "runs a CUDA container",
        ),
        # vendor tools and variables
        (r"\b(?:rocm-smi|rocminfo|amd-smi|hipcc)\b", JobStack.ROCM, "runs a ROCm tool"),
        (r"\b(?:nvidia-smi|nvcc|nsys|ncu)\b", JobStack.CUDA, "runs a CUDA tool"),
        (
            r"\b(?:export\s+)?(?:MIOPEN_\w+|HIP_VISIBLE_DEVICES|HSA_\w+|ROCBLAS_\w+)=",
            JobStack.ROCM,
            "sets a ROCm variable",
        ),
        (
            r"\b(?:export\s+)?(?:CUDA_LAUNCH_BLOCKING|CUDA_HOME|CUDNN_\w+)=",
            JobStack.CUDA,
            "sets a CUDA variable",
        ),
        # PyTorch wheels built for one vendor
        (r"download\.pytorch\.org/whl/rocm", JobStack.ROCM, "installs ROCm wheels"),
        (r"download\.pytorch\.org/whl/cu\d+", JobStack.CUDA, "installs CUDA wheels"),
    )
)


@dataclass(frozen=True)
class StackNeed:
    stack: JobStack  # ANY when nothing (or both) shows
    why: str = ""  # e.g. "line 14: loads a ROCm module (module load rocm/6.0.3)"


def _command_lines(text: str, first: int) -> list[tuple[int, str]]:
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        if number < first:
            continue
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append((number, stripped))
    return out


def infer_stack(text: str, first_line: int = 1) -> StackNeed:
    """The stack the commands of ``text`` (from ``first_line`` on) need."""
    found: dict[JobStack, str] = {}
    for number, line in _command_lines(text, first_line):
        for pattern, stack, what in SIGNS:
            if stack not in found and pattern.search(line):
                shown = line if len(line) <= 60 else line[:57] + "..."
                found[stack] = f"line {number}: {what} ({shown})"
        if len(found) == 2:
            break
    if len(found) == 1:
        ((stack, why),) = found.items()
        return StackNeed(stack, why)
    if len(found) == 2:
        return StackNeed(
            JobStack.ANY, "shows signs of both CUDA and ROCm: " + "; ".join(found.values())
        )
    return StackNeed(JobStack.ANY)
