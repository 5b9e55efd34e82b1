"""What services hand to executors and what executors report back.

One narrow port (DESIGN.md): submit, cancel, poll in batches. Each adapter
(local, simulated, later slurm) speaks these types only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class LaunchRequest:
    job_id: str
    command: str  # run with /bin/sh -c in the work directory
    env: Mapping[str, str]
    workdir: Path
    walltime_s: int
    accelerator_ids: Sequence[int] = ()  # device indices handed to the job
    info: Mapping[str, str] = field(default_factory=dict)  # for executors that run no code


@dataclass(frozen=True)
class Launched:
    external_id: str  # opaque to services; the executor's own handle (for local: "pid:start")
    started_at: float  # epoch seconds


class ProcessOutcome(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"  # exit code 0
    FAILED = "failed"  # non-zero exit, killed by a signal, or vanished
    TIMEOUT = "timeout"  # walltime reached and killed
    CANCELLED = "cancelled"  # killed on request


@dataclass(frozen=True)
class Tracked:
    """A job the executor was given earlier, as the service knows it."""

    job_id: str
    external_id: str
    workdir: Path


@dataclass(frozen=True)
class PollResult:
    job_id: str
    outcome: ProcessOutcome
    exit_code: int | None = None
    reason: str = ""
    ended_at: float | None = None


class Executor(Protocol):
    def launch(self, request: LaunchRequest) -> Launched: ...

    def poll(self, jobs: Sequence[Tracked]) -> list[PollResult]: ...

    def cancel(self, job: Tracked) -> None: ...

    def adopt(self, job_id: str, workdir: Path) -> Launched | None:
        """The handle of a job launched by a process that died before recording it."""
        ...
