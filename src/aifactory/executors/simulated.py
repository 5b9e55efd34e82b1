"""The digital twin: a simulated partition accepts a job and runs no code.

The job "runs" for ``runtime_s`` seconds of real time (capped by its walltime) and completes;
its log says plainly that nothing was executed. The simulator issue gives it a virtual clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from aifactory.domain.execution import (
    Launched,
    LaunchRequest,
    LogChunk,
    PollResult,
    ProcessOutcome,
    Tracked,
)
from aifactory.executors import logs

NOTICE = "digital twin: this partition is simulated and ran no code"


class SimulatedExecutor:
    def __init__(self, *, runtime_s: float = 1.0) -> None:
        self.runtime_s = runtime_s

    def launch(self, request: LaunchRequest) -> Launched:
        request.workdir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        end = now + min(self.runtime_s, float(request.walltime_s))
        (request.workdir / "twin.json").write_text(json.dumps({"ends_at": end}))
        (request.workdir / "stdout.log").write_text(
            f"{NOTICE}\nsite: {request.info.get('site', '?')} partition: "
            f"{request.info.get('partition', '?')}\n"
        )
        (request.workdir / "stderr.log").write_text("")
        return Launched(external_id=f"twin:{request.job_id}", started_at=now)

    def adopt(
        self, job_id: str, workdir: Path, *, site: str = "", since: float = 0.0
    ) -> Launched | None:
        if not (workdir / "twin.json").exists():
            return None
        return Launched(external_id=f"twin:{job_id}", started_at=time.time())

    def poll(self, jobs: Sequence[Tracked]) -> list[PollResult]:
        now = time.time()
        out = []
        for job in jobs:
            try:
                state = json.loads((job.workdir / "twin.json").read_text())
                ends_at = float(state["ends_at"])
            except (OSError, ValueError, KeyError):
                out.append(PollResult(job.job_id, ProcessOutcome.FAILED, None, "twin state lost"))
                continue
            if state.get("cancelled"):
                out.append(PollResult(job.job_id, ProcessOutcome.CANCELLED, None, "cancelled"))
            elif now < ends_at:
                out.append(PollResult(job.job_id, ProcessOutcome.RUNNING))
            else:
                out.append(
                    PollResult(job.job_id, ProcessOutcome.COMPLETED, 0, NOTICE, ended_at=ends_at)
                )
        return out

    def read_log(
        self, job: Tracked, stream: str, *, offset: int = 0, tail_lines: int | None = None
    ) -> LogChunk:
        name = logs.STDOUT_FILE if stream == "stdout" else logs.STDERR_FILE
        return logs.read_file(job.workdir / name, offset=offset, tail_lines=tail_lines)

    def cancel(self, job: Tracked) -> None:
        (job.workdir / "twin.json").write_text(json.dumps({"ends_at": 0, "cancelled": True}))
