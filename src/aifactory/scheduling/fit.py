"""A job's resources on one partition: what it asks for there, and what it is allocated.

A demand's figures may depend on the partition, as Slurm's do (sbatch man page):

- no node count (``-n`` or ``--gpus`` without ``-N``): as few nodes as hold the job's
  accelerators and CPUs, the accelerators and CPUs spread evenly over them;
- ``--mem=0``: all of the node's memory; ``--mem-per-cpu`` / ``--mem-per-gpu``: times the
  CPUs / accelerators the node gives the job;
- no time limit: the partition's default (its maximum, where it has none);
- ``--exclusive``, or a partition whose nodes are not shared: whole nodes, every accelerator
  and CPU of each (and billed so); the memory stays what was asked (all of it with
  ``--mem=0``), and a per-CPU figure counts every CPU.

:func:`resolve` gives the :class:`Need` on a partition, or why the job cannot fit there.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from aifactory.domain.catalog import Partition
from aifactory.scheduling.model import Demand


class Need(NamedTuple):
    """The job on one partition: per node what it is allocated, and its time limit."""

    nodes: int
    accelerators_per_node: int
    cpus: int  # per node
    memory_gb: int  # per node
    walltime_s: int
    whole_nodes: bool = False

    @property
    def accelerators(self) -> int:
        return self.nodes * self.accelerators_per_node

    @property
    def cpus_total(self) -> int:
        return self.nodes * self.cpus

    @property
    def gpu_seconds(self) -> int:
        """What a placement reserves from an allocation: walltime x accelerators."""
        return self.accelerators * self.walltime_s

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "nodes": self.nodes,
            "accelerators_per_node": self.accelerators_per_node,
            "accelerators": self.accelerators,
            "cpus": self.cpus,
            "memory_gb": self.memory_gb,
            "walltime_s": self.walltime_s,
            "whole_nodes": self.whole_nodes,
        }


def _ceil(a: float, b: float) -> int:
    return math.ceil(a / b) if b > 0 else 0


def _asked(d: Demand, p: Partition) -> tuple[int, int, int]:
    """Nodes, accelerators and CPUs per node, as asked (before whole nodes)."""
    if d.nodes is not None:
        return d.nodes, d.accelerators_per_node or 0, d.cpus or 1
    per, cores = p.accelerators_per_node, p.cpus_per_node
    total = d.accelerators_total or 0
    counts = [1]
    if d.accelerators_per_node is None and total:
        counts.append(_ceil(total, per) if per else 1)
    if d.cpus is None and d.cpus_total:
        counts.append(_ceil(d.cpus_total, cores) if cores else 1)
    nodes = max(counts)
    apn = d.accelerators_per_node if d.accelerators_per_node is not None else _ceil(total, nodes)
    cpus = d.cpus if d.cpus is not None else max(1, _ceil(d.cpus_total or 1, nodes))
    return nodes, apn, cpus


def resolve(d: Demand, p: Partition) -> Need | str:
    """The job's need on ``p``, or why it can never fit there."""
    nodes, apn, cpus = _asked(d, p)
    if nodes > p.nodes:
        return f"has {p.nodes} nodes, the job needs {nodes}"
    if nodes > p.job_max_nodes:
        return f"takes at most {p.job_max_nodes} nodes per job, the job needs {nodes}"
    if nodes < p.min_nodes_per_job:
        return f"takes jobs of {p.min_nodes_per_job} nodes or more, the job needs {nodes}"
    if apn > p.accelerators_per_node:
        return f"has {p.accelerators_per_node} accelerators per node, the job needs {apn}"
    if cpus > p.cpus_per_node:
        return f"has {p.cpus_per_node} CPUs per node, the job needs {cpus}"
    whole = d.exclusive or not p.shared
    if whole:
        apn, cpus = p.accelerators_per_node, p.cpus_per_node
    if d.memory_gb is not None:
        memory = d.memory_gb or p.memory_gb_per_node
    elif d.memory_gb_per_cpu is not None:
        memory = math.ceil(d.memory_gb_per_cpu * cpus)
    else:
        memory = math.ceil((d.memory_gb_per_accelerator or 0) * apn)
    if memory > p.memory_gb_per_node:
        return f"has {p.memory_gb_per_node} GB per node, the job needs {memory} GB"
    walltime = d.walltime_s if d.walltime_s is not None else p.job_default_walltime_s
    return Need(nodes, apn, cpus, memory, walltime, whole)
