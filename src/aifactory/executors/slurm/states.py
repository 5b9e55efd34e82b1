"""Slurm's job states and output formats, mapped onto the platform's (pure)."""

from __future__ import annotations

from aifactory.domain.execution import ProcessOutcome

# Every base state of Slurm 22.05+ (squeue %T / sacct State); sacct adds "by <uid>" to
# CANCELLED, which `base_state` drops.
_OUTCOME: dict[str, ProcessOutcome] = {
    "PENDING": ProcessOutcome.QUEUED,
    "REQUEUED": ProcessOutcome.QUEUED,
    "REQUEUE_HOLD": ProcessOutcome.QUEUED,
    "REQUEUE_FED": ProcessOutcome.QUEUED,
    "RESV_DEL_HOLD": ProcessOutcome.QUEUED,
    "CONFIGURING": ProcessOutcome.RUNNING,
    "RUNNING": ProcessOutcome.RUNNING,
    "COMPLETING": ProcessOutcome.RUNNING,
    "SUSPENDED": ProcessOutcome.RUNNING,
    "STOPPED": ProcessOutcome.RUNNING,
    "SIGNALING": ProcessOutcome.RUNNING,
    "STAGE_OUT": ProcessOutcome.RUNNING,
    "RESIZING": ProcessOutcome.RUNNING,
    "COMPLETED": ProcessOutcome.COMPLETED,
    "FAILED": ProcessOutcome.FAILED,
    "NODE_FAIL": ProcessOutcome.FAILED,
    "OUT_OF_MEMORY": ProcessOutcome.FAILED,
    "BOOT_FAIL": ProcessOutcome.FAILED,
    "PREEMPTED": ProcessOutcome.FAILED,
    "SPECIAL_EXIT": ProcessOutcome.FAILED,
    "CANCELLED": ProcessOutcome.CANCELLED,
    "REVOKED": ProcessOutcome.CANCELLED,
    "TIMEOUT": ProcessOutcome.TIMEOUT,
    "DEADLINE": ProcessOutcome.TIMEOUT,
}

# What the user reads when the state alone does not say it.
_WHY: dict[str, str] = {
    "NODE_FAIL": "a node of the job failed",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "BOOT_FAIL": "the job's nodes failed to boot",
    "PREEMPTED": "preempted by the site",
    "SPECIAL_EXIT": "the job asked to be held after exiting",
    "DEADLINE": "the job reached its deadline",
    "TIMEOUT": "the job reached its walltime",
    "REVOKED": "revoked by a federated cluster",
}

FINAL_STATES = frozenset(s for s, o in _OUTCOME.items() if o.is_final)


def base_state(state: str) -> str:
    """``"CANCELLED by 0"`` -> ``"CANCELLED"``; ``"RUNNING+"`` -> ``"RUNNING"``."""
    return state.split(" ", 1)[0].rstrip("+").upper()


def outcome_of(state: str) -> ProcessOutcome:
    """The platform's view of a Slurm state; an unknown state counts as still running, so a
    newer Slurm release never makes a job end early."""
    return _OUTCOME.get(base_state(state), ProcessOutcome.RUNNING)


def describe(state: str, exit_code: int | None, signal: int | None) -> str:
    base = base_state(state)
    text = f"Slurm: {base}"
    why = _WHY.get(base)
    if why:
        text += f" ({why})"
    if signal:
        text += f", signal {signal}"
    elif exit_code:
        text += f", exit code {exit_code}"
    return text


def parse_exit_code(text: str) -> tuple[int | None, int | None]:
    """sacct's ``ExitCode`` ``"2:0"`` -> (2, 0); empty -> (None, None)."""
    code, _, sig = text.partition(":")
    try:
        return int(code), int(sig or 0)
    except ValueError:
        return None, None


def platform_exit_code(exit_code: int | None, signal: int | None) -> int | None:
    """The shell's convention: killed by signal N reads as 128 + N."""
    if signal:
        return 128 + signal
    return exit_code


def tres_count(alloc_tres: str, key: str = "gres/gpu") -> int:
    """``"billing=2,cpu=2,gres/gpu=2,mem=4G,node=1"`` -> 2 (0 when absent)."""
    for item in alloc_tres.split(","):
        name, _, value = item.partition("=")
        if name == key:
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def parse_epoch(text: str) -> float | None:
    """Times are asked for as epoch seconds (``SLURM_TIME_FORMAT=%s``); "Unknown"/"None"
    for a job that has not started or ended."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None
