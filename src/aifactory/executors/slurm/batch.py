"""A platform job as an sbatch submission: options, batch script and environment.

A command (``run:``) becomes a small bash script and the platform states every option. A
user's batch script runs as written: its own ``#SBATCH`` lines stand, and the command line
(which wins over them) carries only what the platform decides:

- ``--account`` (the allocation's account), ``--partition`` and, for a QoS variant,
  ``--qos``; ``--comment=aif:<job id>`` to find the job again;
- ``--export=ALL`` (the platform's clean environment, the spec's env and its own variables)
  and ``--mail-type=NONE`` (the platform sends the mail the script asks for);
- ``--chdir`` to the job's directory, unless the script gives ``-D``;
- ``--time`` when the script gives none (the partition's default the platform reserved) or
  the spec changed it; likewise ``--job-name``, ``--nodes``, ``--gres``, ``--cpus-per-task``,
  ``--mem`` where the spec changed what the script says;
- for an array task (a Slurm job of its own), ``--output``/``--error`` with ``%A``/``%a``
  filled in, so its log is named as the author meant.

The script's ``--array``, ``--dependency`` and ``--kill-on-invalid-dep`` lines are commented
out: the platform runs those itself (each task its own Slurm job; dependencies on platform
jobs, which Slurm does not know).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from aifactory.domain.execution import LaunchRequest
from aifactory.domain.sbatch import format_slurm_time
from aifactory.domain.sbatch.header import without_directives
from aifactory.executors import logs
from aifactory.executors.slurm.client import Submission
from aifactory.executors.slurm.connection import SiteConnection

COMMENT_PREFIX = "aif:"


def comment_of(job_id: str) -> str:
    return COMMENT_PREFIX + job_id


# The platform runs these itself: each array task is a Slurm job of its own, and the
# dependencies name platform jobs, which Slurm does not know.
PLATFORM_RUN = frozenset({"array", "dependency", "kill-on-invalid-dep"})
PLATFORM_RUN_WHY = "aifactory: the platform runs the array and the dependency itself"


def render_script(request: LaunchRequest) -> str:
    """A user's own batch script runs unchanged but for the directives in ``PLATFORM_RUN``
    (commented out); a command becomes a small bash script."""
    if request.script is not None:
        return without_directives(request.script, PLATFORM_RUN, PLATFORM_RUN_WHY)
    return f"#!/bin/bash\n# aifactory job {request.job_id}: {request.name}\n{request.command}\n"


def _gres(request: LaunchRequest, conn: SiteConnection) -> str:
    partition = request.info["partition"]
    gres = conn.gres_type(partition, request.info.get("accelerator", "gpu"))
    return f"--gres=gpu:{gres}:{request.accelerators_per_node}"


def options(request: LaunchRequest, conn: SiteConnection, workdir: Path) -> tuple[str, ...]:
    """Given on the command line, so they win over any #SBATCH line of a user's script."""
    partition = request.info["partition"]
    slurm_partition = conn.partitions.get(partition) or request.info.get("slurm_partition")
    opts = [
        f"--account={request.info['account']}",
        f"--partition={slurm_partition or partition}",
    ]
    if request.qos:
        opts.append(f"--qos={request.qos}")
    if request.script is None:
        opts += [
            f"--nodes={request.nodes}",
            f"--time={format_slurm_time(request.walltime_s)}",
            f"--job-name={request.name or request.job_id}",
            f"--chdir={workdir}",
            f"--output={workdir / logs.STDOUT_FILE}",
            f"--error={workdir / logs.STDERR_FILE}",
        ]
        # Whole nodes: Slurm gives every CPU and GPU of each, and the catalog's node size may
        # not be the site's exactly, so the counts are left to it.
        whole = request.whole_nodes or request.exclusive
        if not whole:
            opts.append(f"--cpus-per-task={request.cpus}")
        opts.append(f"--mem={request.memory_gb}G")
        if request.accelerators_per_node and not whole:
            opts.append(_gres(request, conn))
        if whole:
            opts.append("--exclusive")
        return tuple(opts)
    opts += ["--export=ALL", "--mail-type=NONE"]
    if not request.chdir:
        opts.append(f"--chdir={workdir}")
    changed = request.overrides
    if "time" in changed:
        opts.append(f"--time={format_slurm_time(request.walltime_s)}")
    if "name" in changed:
        opts.append(f"--job-name={request.name or request.job_id}")
    if "nodes" in changed:
        opts.append(f"--nodes={request.nodes}")
    if "gpus" in changed:
        opts.append(_gres(request, conn))
    if "cpus" in changed:
        opts.append(f"--cpus-per-task={request.cpus}")
    if "memory" in changed:
        opts.append(f"--mem={request.memory_gb}G")
    if request.array_index is not None:
        out, err = logs.script_patterns(request)
        opts += [f"--output={out}", f"--error={err}"]
    return tuple(opts)


def submission(request: LaunchRequest, conn: SiteConnection, workdir: Path) -> Submission:
    env = {**request.env, "AIF_JOB_ID": request.job_id}
    return Submission(
        options=options(request, conn, workdir),
        script=render_script(request),
        env=env,
        comment=comment_of(request.job_id),
        workdir=str(workdir),
        platform_env=dict(request.platform_env),
    )


def describe(sub: Submission) -> str:
    """The sbatch command line, for the job's work directory and for operators."""
    return shlex.join(["sbatch", *sub.options, f"--comment={sub.comment}", "--parsable"])
