"""What the platform asks of one Slurm cluster, whatever the transport (CLI or slurmrestd)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aifactory.domain.execution import LogChunk, SiteUnavailable

__all__ = ["SiteUnavailable"]


class SlurmRefused(Exception):
    """The cluster answered and refused the request (a bad account, partition, limit)."""


@dataclass(frozen=True)
class Submission:
    options: tuple[str, ...]  # sbatch long options, e.g. "--account=alc-x"
    script: str  # the batch script, passed unchanged
    env: Mapping[str, str]
    comment: str  # "aif:<job id>", how a crash-interrupted submission is found again
    workdir: str
    # The platform's own variables (an array task's SLURM_ARRAY_*): set after env, and the
    # one place a SLURM_ name may come from.
    platform_env: Mapping[str, str] = field(default_factory=dict)
    # Directories to create first (the work directory and the log files' own): a missing
    # one would fail the job at the site.
    dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueRow:
    """One job as squeue (or slurmrestd's job list) shows it."""

    slurm_id: str
    state: str  # Slurm's state name, e.g. PENDING
    reason: str
    nodes: str
    start: float | None  # epoch seconds; None while pending
    comment: str


@dataclass(frozen=True)
class AccountingRow:
    """One job allocation as sacct (or slurmdbd over REST) records it."""

    slurm_id: str
    state: str
    exit_code: int | None
    signal: int | None
    start: float | None  # epoch seconds
    end: float | None
    elapsed_s: int
    alloc_tres: str
    nodes: str
    comment: str = ""


class SlurmClient(Protocol):
    def submit(self, job: Submission) -> str: ...

    def queue(self) -> list[QueueRow]: ...

    def accounting(self, slurm_ids: Sequence[str]) -> list[AccountingRow]: ...

    def find(self, comment: str, since: float) -> str | None:
        """The Slurm job carrying ``comment`` submitted after ``since``, if any."""
        ...

    def cancel(self, slurm_id: str) -> None: ...

    def read_file(self, path: str, *, offset: int = 0, tail_lines: int | None = None) -> LogChunk:
        """A file at the site (a job's log)."""
        ...

    def write_files(
        self, folder: str, filename: str | None, chunks: Iterable[bytes], size: int
    ) -> None:
        """Put a job's input in ``folder`` at the site: one file, or a tar unpacked."""
        ...

    def remove_files(self, folder: str) -> None: ...
