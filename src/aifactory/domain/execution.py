"""What services hand to executors and what executors report back.

One narrow port (DESIGN.md): submit, cancel, poll in batches. Each adapter
(local, simulated, slurm) speaks these types only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Signal:
    """Send ``number`` ``before_s`` seconds before the time limit (sbatch --signal); to the
    batch shell only, or (``batch`` False) to the job's other processes."""

    number: int
    before_s: int = 60
    batch: bool = False


@dataclass(frozen=True)
class LaunchRequest:
    job_id: str
    command: str  # run with /bin/sh -c in the work directory
    env: Mapping[str, str]
    workdir: Path
    walltime_s: int
    accelerator_ids: Sequence[int] = ()  # device indices handed to the job
    info: Mapping[str, str] = field(default_factory=dict)  # site, partition, account, ...
    script: str | None = None  # a user's batch script, run unchanged (instead of command)
    name: str = ""
    nodes: int = 1
    accelerators_per_node: int = 0
    cpus: int = 1
    memory_gb: int = 1
    # What the platform sets in the job's environment after the spec's env (an array task's
    # SLURM_ARRAY_* and AIF_ARRAY_* variables).
    platform_env: Mapping[str, str] = field(default_factory=dict)
    array_id: str | None = None  # an array task: its array and index
    array_index: int | None = None
    # A batch script's -o / -e / -D / --open-mode / --signal, as written (None: not given).
    output: str | None = None
    error: str | None = None
    chdir: str | None = None
    append: bool = False
    signal: Signal | None = None
    qos: str | None = None  # the QoS the partition's entry submits with
    exclusive: bool = False
    # The partition gives whole nodes (shared: false): the counts above are the node's;
    # a Slurm site is asked for --exclusive instead (its own node size then decides).
    whole_nodes: bool = False
    # Options the spec set apart from the script's own #SBATCH lines (the command line wins):
    # "time", "nodes", "gpus", "cpus", "memory", "name".
    overrides: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Launched:
    external_id: str  # opaque to services; the executor's own handle (for local: "pid:start")
    started_at: float  # epoch seconds
    workdir: Path | None = None  # where the job's files went, when not the requested place
    # Where its output goes at the site: {"stdout": path, "stderr": path} (the same path when
    # both streams share a file). A path may still hold %N, filled in once the node is known.
    logs: Mapping[str, str] = field(default_factory=dict)


class ProcessOutcome(StrEnum):
    QUEUED = "queued"  # accepted by the site's own scheduler, waiting there (Slurm PENDING)
    RUNNING = "running"
    COMPLETED = "completed"  # exit code 0
    FAILED = "failed"  # non-zero exit, killed by a signal, or vanished
    TIMEOUT = "timeout"  # walltime reached and killed
    CANCELLED = "cancelled"  # killed on request

    @property
    def is_final(self) -> bool:
        return self not in (ProcessOutcome.QUEUED, ProcessOutcome.RUNNING)


@dataclass(frozen=True)
class Tracked:
    """A job the executor was given earlier, as the service knows it."""

    job_id: str
    external_id: str
    workdir: Path
    logs: Mapping[str, str] = field(default_factory=dict)  # from Launched.logs
    node: str = ""  # the first node it ran on, once known


@dataclass(frozen=True)
class LogChunk:
    text: str
    offset: int  # where to continue from


@dataclass(frozen=True)
class Usage:
    """What a finished job used, as the site accounts it (Slurm: sacct's AllocTRES and
    elapsed time)."""

    gpus: int
    elapsed_s: int
    alloc_tres: str = ""

    @property
    def gpu_seconds(self) -> int:
        return self.gpus * self.elapsed_s


@dataclass(frozen=True)
class PollResult:
    job_id: str
    outcome: ProcessOutcome
    exit_code: int | None = None
    reason: str = ""
    ended_at: float | None = None
    started_at: float | None = None  # when the site started it, where it says so
    nodes: str = ""
    usage: Usage | None = None  # set on a final outcome when the site accounts usage


class SiteUnavailable(Exception):
    """The site's scheduler did not answer (controller or database down, SSH or HTTP
    unreachable). Nothing is known about its jobs: try again later, never conclude they
    ended."""


class Executor(Protocol):
    def launch(self, request: LaunchRequest) -> Launched: ...

    def poll(self, jobs: Sequence[Tracked]) -> list[PollResult]: ...

    def cancel(self, job: Tracked) -> None: ...

    def read_log(
        self, job: Tracked, stream: str, *, offset: int = 0, tail_lines: int | None = None
    ) -> LogChunk:
        """A job's output (``stdout`` or ``stderr``) from byte ``offset`` on, or its last
        ``tail_lines`` lines, read where the site keeps it."""
        ...

    def adopt(
        self, job_id: str, workdir: Path, *, site: str = "", since: float = 0.0
    ) -> Launched | None:
        """The handle of a job launched by a process that died before recording it (at
        ``site``, after ``since`` epoch seconds)."""
        ...
