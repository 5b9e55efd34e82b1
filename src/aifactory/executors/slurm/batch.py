"""A platform job as an sbatch submission: options, batch script and environment."""

from __future__ import annotations

import shlex
from pathlib import Path

from aifactory.domain.execution import LaunchRequest
from aifactory.domain.sbatch import format_slurm_time
from aifactory.executors.slurm.client import Submission
from aifactory.executors.slurm.connection import SiteConnection

COMMENT_PREFIX = "aif:"


def comment_of(job_id: str) -> str:
    return COMMENT_PREFIX + job_id


def render_script(request: LaunchRequest) -> str:
    """A user's own batch script runs unchanged; a command becomes a small bash script."""
    if request.script is not None:
        return request.script
    return f"#!/bin/bash\n# aifactory job {request.job_id}: {request.name}\n{request.command}\n"


def options(request: LaunchRequest, conn: SiteConnection, workdir: Path) -> tuple[str, ...]:
    """Given on the command line, so they win over any #SBATCH line of a user's script."""
    partition = request.info["partition"]
    opts = [
        f"--account={request.info['account']}",
        f"--partition={conn.slurm_partition(partition)}",
        f"--nodes={request.nodes}",
        f"--time={format_slurm_time(request.walltime_s)}",
        f"--job-name={request.name or request.job_id}",
        f"--chdir={workdir}",
        f"--output={workdir / 'stdout.log'}",
        f"--error={workdir / 'stderr.log'}",
        f"--cpus-per-task={request.cpus}",
        f"--mem={request.memory_gb}G",
    ]
    if request.accelerators_per_node:
        gres = conn.gres_type(partition, request.info.get("accelerator", "gpu"))
        opts.append(f"--gres=gpu:{gres}:{request.accelerators_per_node}")
    return tuple(opts)


def submission(request: LaunchRequest, conn: SiteConnection, workdir: Path) -> Submission:
    env = {**request.env, "AIF_JOB_ID": request.job_id}
    return Submission(
        options=options(request, conn, workdir),
        script=render_script(request),
        env=env,
        comment=comment_of(request.job_id),
        workdir=str(workdir),
    )


def describe(sub: Submission) -> str:
    """The sbatch command line, for the job's work directory and for operators."""
    return shlex.join(["sbatch", *sub.options, f"--comment={sub.comment}", "--parsable"])
