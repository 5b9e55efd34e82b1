"""What an executor is handed to start a placed job: the :class:`LaunchRequest`.

The resources are what the placement resolved on the chosen partition (whole nodes, the
partition's default time limit, all of a node's memory: ``scheduling.fit``). A batch script's
``-o``/``-e``/``-D``/``--open-mode``/``--signal`` come from its reading, an array task's
``SLURM_ARRAY_*`` variables from its array, and ``overrides`` says which of the script's own
resource lines the spec changed (the command line carries those at a Slurm site).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aifactory.domain.catalog import ExecutorKind, Partition
from aifactory.domain.execution import LaunchRequest, Signal
from aifactory.domain.jobspec import JobSpec
from aifactory.domain.sbatch import ScriptReading
from aifactory.domain.sbatch.values import OpenMode

_DEFAULT_MEMORY_GB = 4  # the spec's default, which a script without --mem leaves in place


@dataclass(frozen=True)
class Placed:
    """What launching a placed job needs, as the placing transaction wrote it."""

    workdir: Path
    kind: ExecutorKind
    ids: list[int]
    site: str
    partition: str
    allocation_id: str
    attempts: int
    placed_at: float
    resolved: dict[str, Any] | None = None
    array_id: str | None = None
    array_index: int | None = None


def resources(spec: JobSpec, resolved: dict[str, Any] | None) -> dict[str, int]:
    """Nodes, accelerators per node, CPUs, memory and walltime the job got on its partition
    (for a job placed before placements kept them: its spec's, with the old defaults)."""
    if resolved:
        return {
            k: int(resolved[k])
            for k in ("nodes", "accelerators_per_node", "cpus", "memory_gb", "walltime_s")
        }
    r = spec.resources
    return {
        "nodes": r.nodes or 1,
        "accelerators_per_node": r.accelerators_per_node or 0,
        "cpus": r.cpus or 1,
        "memory_gb": r.memory_gb or 1,
        "walltime_s": r.walltime_s or 3600,
    }


def overrides(spec: JobSpec, reading: ScriptReading) -> frozenset[str]:
    """The script's resource lines the spec changed (or a limit it left to the partition)."""
    derived = reading.resources()
    r = spec.resources
    out = set()
    if derived.get("walltime") is None or r.walltime_s != derived["walltime"]:
        out.add("time")  # the limit the platform reserved, stated to Slurm
    if reading.name is None or spec.name != reading.name:
        out.add("name")
    if "nodes" in derived and r.nodes != derived["nodes"]:
        out.add("nodes")
    if derived.get("nodes") is not None and r.accelerators_per_node != derived.get(
        "accelerators_per_node"
    ):
        out.add("gpus")
    if (
        derived.get("nodes") is not None
        and r.cpus != derived.get("cpus")
        and reading.ntasks is None
        and reading.ntasks_per_node is None
    ):
        out.add("cpus")
    memory = derived.get(
        "memory_gb",
        None
        if "memory_gb_per_cpu" in derived or "memory_gb_per_accelerator" in derived
        else _DEFAULT_MEMORY_GB,
    )
    if r.memory_gb is not None and r.memory_gb != memory:
        out.add("memory")
    return frozenset(out)


def launch_request(
    job_id: str, spec: JobSpec, placed: Placed, partition: Partition | None
) -> LaunchRequest:
    got = resources(spec, placed.resolved)
    reading = spec.reading()
    array = spec.array_spec
    platform_env = (
        array.env(placed.array_index, placed.array_id)
        if array is not None and placed.array_id is not None and placed.array_index is not None
        else {}
    )
    whole = bool(placed.resolved and placed.resolved.get("whole_nodes"))
    if whole and spec.resources.memory_gb == 0:
        got["memory_gb"] = 0  # --mem=0: all of whatever node the site gives
    signal = None
    if reading is not None and reading.signal is not None:
        sig = reading.signal
        signal = Signal(sig.number, sig.before_s, sig.batch)
    return LaunchRequest(
        job_id=job_id,
        command=spec.run or "",
        env=dict(spec.env),
        workdir=placed.workdir,
        walltime_s=got["walltime_s"],
        accelerator_ids=placed.ids,
        info={
            "site": placed.site,
            "partition": placed.partition,
            "account": placed.allocation_id,
            "accelerator": partition.accelerator if partition is not None else "",
            "slurm_partition": partition.slurm_name if partition is not None else placed.partition,
        },
        script=spec.script,
        name=spec.name,
        nodes=got["nodes"],
        accelerators_per_node=got["accelerators_per_node"],
        cpus=got["cpus"],
        memory_gb=got["memory_gb"],
        platform_env=platform_env,
        array_id=placed.array_id,
        array_index=placed.array_index,
        output=reading.output if reading else None,
        error=reading.error if reading else None,
        chdir=reading.chdir if reading else None,
        append=reading is not None and reading.open_mode is OpenMode.APPEND,
        signal=signal,
        qos=partition.qos if partition is not None else None,
        exclusive=spec.resources.exclusive,
        whole_nodes=whole,
        overrides=overrides(spec, reading) if reading is not None else frozenset(),
    )
