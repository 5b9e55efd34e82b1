"""The federation catalog: accelerators, sites and their partitions.

Plain frozen data, no I/O. ``aifactory.catalog.loader`` builds a :class:`Catalog` from YAML and
is the only place that validates one; code that builds these by hand (tests, the simulator)
is trusted to pass sensible figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class SiteStatus(StrEnum):
    OPERATIONAL = "operational"
    PLANNED = "planned"  # announced, not yet in service: shown, never placed on


class ExecutorKind(StrEnum):
    LOCAL = "local"  # processes on this machine
    SLURM = "slurm"  # a real Slurm cluster (CLI, SSH or slurmrestd)
    SIMULATED = "simulated"  # a digital twin: a virtual clock, no code runs


class SoftwareStack(StrEnum):
    CUDA = "cuda"
    ROCM = "rocm"


@dataclass(frozen=True)
class Accelerator:
    """One schedulable accelerator, as Slurm counts it (an MI250X GCD, not the whole module)."""

    model: str
    peak_bf16_tflops: float  # dense, no sparsity
    memory_gb: float
    power_w: float  # typical board power
    software_stack: SoftwareStack
    description: str = ""


@dataclass(frozen=True)
class Partition:
    """A Slurm partition (or a simulated / local stand-in) of one system at one site."""

    id: str  # unique within its site; the Slurm partition name
    name: str
    accelerator: str  # an Accelerator.model of the catalog
    accelerators_per_node: int
    nodes: int
    cpus_per_node: int
    memory_gb_per_node: int
    peak_bf16_tflops: float  # per accelerator
    power_w: float  # per accelerator
    max_walltime_s: int
    software_stacks: frozenset[SoftwareStack]  # the local partition serves both
    pue: float
    grid_gco2e_per_kwh: float
    executor: ExecutorKind
    # Per accelerator; the same model ships with different memory (A100 40 / 64 / 80 GB).
    # None: the catalog's Accelerator.memory_gb applies.
    accelerator_memory_gb: float | None = None
    # Limits per job, as the site's Slurm sets them (MaxNodes, MinNodes, DefaultTime).
    max_nodes_per_job: int | None = None  # None: the partition's node count
    min_nodes_per_job: int = 1
    default_walltime_s: int | None = None  # None: the maximum, as Slurm does without one
    # False: every job gets whole nodes and is billed for them (OverSubscribe=EXCLUSIVE).
    shared: bool = True
    # The Slurm partition and QoS jobs here are submitted with (a QoS variant of a partition,
    # such as Leonardo's boost_qos_dbg, is an entry of its own). None: the id; no QoS.
    slurm_partition: str | None = None
    qos: str | None = None
    # Jobs here draw on the allocations granted on this partition of the same site (LUMI's
    # small-g and dev-g use standard-g's GPU hours). None: on its own.
    draws_on: str | None = None

    @property
    def slurm_name(self) -> str:
        return self.slurm_partition or self.id

    @property
    def job_max_nodes(self) -> int:
        return min(self.nodes, self.max_nodes_per_job or self.nodes)

    @property
    def job_default_walltime_s(self) -> int:
        return self.default_walltime_s or self.max_walltime_s

    @property
    def allocation_partition(self) -> str:
        """The partition whose allocations jobs here draw on."""
        return self.draws_on or self.id

    @property
    def total_accelerators(self) -> int:
        return self.accelerators_per_node * self.nodes

    @property
    def is_simulated(self) -> bool:
        return self.executor is ExecutorKind.SIMULATED

    @property
    def is_local(self) -> bool:
        return self.executor is ExecutorKind.LOCAL


@dataclass(frozen=True)
class Site:
    """One AI factory of the federation (or this machine)."""

    id: str  # lower-case slug
    name: str
    city: str
    country: str  # ISO 3166-1 alpha-2, upper case (Greece is GR, not EL)
    operator: str
    status: SiteStatus
    available_from: date | None  # required when planned
    experimental: bool  # hosts an experimental platform for advanced AI models
    budget_eur: int | None  # None: not published
    partitions: tuple[Partition, ...]
    notes: str = ""
    # Where the machine room is (WGS84/ETRS89 degrees), for the federation map. None: not on
    # the map (this machine, whose place the operator may not want to publish).
    latitude: float | None = None
    longitude: float | None = None

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def is_operational(self) -> bool:
        return self.status is SiteStatus.OPERATIONAL

    @property
    def total_accelerators(self) -> int:
        return sum(p.total_accelerators for p in self.partitions)

    def partition(self, partition_id: str) -> Partition:
        for p in self.partitions:
            if p.id == partition_id:
                return p
        known = ", ".join(p.id for p in self.partitions)
        raise KeyError(f"site {self.id!r} has no partition {partition_id!r}; it has: {known}")


@dataclass(frozen=True)
class Catalog:
    accelerators: dict[str, Accelerator]  # model -> accelerator
    sites: tuple[Site, ...]

    def site(self, site_id: str) -> Site:
        for s in self.sites:
            if s.id == site_id:
                return s
        known = ", ".join(s.id for s in self.sites)
        raise KeyError(f"no site {site_id!r}; known sites: {known}")

    def accelerator(self, model: str) -> Accelerator:
        try:
            return self.accelerators[model]
        except KeyError:
            known = ", ".join(self.accelerator_models())
            raise KeyError(f"no accelerator {model!r}; known models: {known}") from None

    def partitions(self, *, operational_only: bool = False) -> Iterator[tuple[Site, Partition]]:
        """Every (site, partition) pair in catalog order."""
        for s in self.sites:
            if operational_only and not s.is_operational:
                continue
            for p in s.partitions:
                yield s, p

    def accelerator_models(self) -> list[str]:
        return sorted(self.accelerators)

    def accelerator_memory_gb(self, partition: Partition) -> float:
        """Memory per accelerator on ``partition``: its own figure, else the model's."""
        if partition.accelerator_memory_gb is not None:
            return partition.accelerator_memory_gb
        return self.accelerator(partition.accelerator).memory_gb

    # "The largest that exists": figures for error messages such as "asks for 64 GPUs per
    # node; the most any partition has is 8". A catalog always has at least one partition.

    def largest_partition(self, *, operational_only: bool = False) -> tuple[Site, Partition]:
        """The partition with the most accelerators in total; the first one on a tie.

        :class:`ValueError` when no partition qualifies (no operational site).
        """
        return max(self.partitions(operational_only=operational_only), key=_total)

    def max_accelerators_per_node(self, *, operational_only: bool = False) -> int:
        pairs = self.partitions(operational_only=operational_only)
        return max((p.accelerators_per_node for _, p in pairs), default=0)

    def max_nodes(self, *, operational_only: bool = False) -> int:
        pairs = self.partitions(operational_only=operational_only)
        return max((p.nodes for _, p in pairs), default=0)

    def max_walltime_s(self, *, operational_only: bool = False) -> int:
        pairs = self.partitions(operational_only=operational_only)
        return max((p.max_walltime_s for _, p in pairs), default=0)


def _total(pair: tuple[Site, Partition]) -> int:
    return pair[1].total_accelerators
