"""What the scheduling cycle reads (the snapshot) and what it returns (the decisions).

Plain frozen dataclasses: the services build a snapshot from the database and executors, the
simulator builds one from a trace; neither the cycle nor these types know where it came from.
Times inside the cycle are seconds (floats) on the caller's clock: ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

from aifactory.domain.access import AccessMode
from aifactory.domain.catalog import ExecutorKind, Partition, Site
from aifactory.domain.dependencies import Dependency, Ref
from aifactory.domain.jobs import JobStack, Objective
from aifactory.scheduling.priority import Account, Factors, Weights

if TYPE_CHECKING:
    from aifactory.scheduling.fit import Need

PartitionKey = tuple[str, str]  # (site id, partition id)


@dataclass(frozen=True)
class Demand:
    """What a job asks for, in the terms the filters use. Some figures depend on the
    partition (``scheduling.fit`` works them out there): ``nodes`` None takes as many nodes
    as ``accelerators_total`` and ``cpus_total`` need, ``memory_gb`` 0 is all of a node's
    memory, ``walltime_s`` None the partition's default time limit, ``exclusive`` (or a
    partition whose nodes are not shared) whole nodes."""

    accelerator: str  # a model, or "any"
    accelerators_per_node: int | None
    nodes: int | None
    cpus: int | None  # per node
    memory_gb: int | None  # per node; 0: all of it; None: per CPU or per accelerator below
    walltime_s: int | None
    stack: JobStack
    sites: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()
    objective: Objective = Objective.BALANCED
    simulate: bool = False
    experimental: bool = False  # built for an experimental platform: only runs there
    exclusive: bool = False
    accelerators_total: int | None = None  # with nodes None
    cpus_total: int | None = None  # with nodes None
    memory_gb_per_cpu: float | None = None
    memory_gb_per_accelerator: float | None = None
    stack_why: str = ""  # why the job needs its stack (a script's module line), if inferred

    # Cached: the cycle asks for these several times per job.
    @cached_property
    def accelerators(self) -> int:
        """As asked, before any partition (the priority's size factor): per node times
        nodes, or the total."""
        if self.accelerators_total is not None:
            return self.accelerators_total
        return (self.accelerators_per_node or 0) * (self.nodes or 1)

    @cached_property
    def fixed(self) -> bool:
        """Whether every figure is the same on every partition (no partition-made ones)."""
        return (
            self.nodes is not None
            and self.walltime_s is not None
            and self.memory_gb is not None
            and self.memory_gb > 0
            and not self.exclusive
        )


@dataclass(frozen=True)
class DataRule:
    """One dataset's residency policy: where it may be processed (None: no limit of that
    kind), and the policy as its owner wrote it ("FI", "EU/EEA", "sites lumi"), to name it."""

    dataset: str
    rule: str
    countries: frozenset[str] | None = None
    sites: frozenset[str] | None = None


@dataclass(frozen=True)
class Residency:
    """Where a job's datasets may be processed: the countries and/or sites all their residency
    policies allow (None: no limit of that kind), the datasets, and each one's own rule (to
    name the dataset and the rule that exclude a site)."""

    datasets: tuple[str, ...]
    countries: frozenset[str] | None = None
    sites: frozenset[str] | None = None
    rules: tuple[DataRule, ...] = ()


@dataclass(frozen=True)
class OrgRule:
    """An operator's restriction on where an organisation's jobs may run (None: no limit)."""

    reason: str
    countries: frozenset[str] | None = None
    sites: frozenset[str] | None = None


@dataclass(frozen=True)
class Budget:
    """A project's allocations on one partition that a job may draw on now, soonest-ending
    first, as (allocation id, GPU-seconds left); empty with ``problem`` saying why."""

    usable: tuple[tuple[str, int], ...]
    problem: str = ""


@dataclass(frozen=True)
class PartitionState:
    """One partition as the cycle sees it. ``window`` bounds the jobs handed to a Slurm site
    and not yet running (None: the platform runs the partition itself and backfills it)."""

    site: Site
    partition: Partition
    healthy: bool = True
    health_reason: str = ""
    transient: bool = False  # unhealthy for now (a site that does not answer): keep waiting
    window: int | None = None
    preemption: bool = False  # a higher-priority job may preempt Playground jobs here

    @property
    def key(self) -> PartitionKey:
        return (self.site.id, self.partition.id)

    @property
    def backfilled(self) -> bool:
        return self.window is None


@dataclass(frozen=True)
class Active:
    """A job placed on a partition and not ended: handed over (``running`` False, counts
    against the in-flight window) or running. ``ends_in_s`` is its walltime end from now."""

    id: str
    key: PartitionKey
    accelerators: int
    cpus: int
    ends_in_s: float
    running: bool = True
    accelerator_ids: tuple[int, ...] = ()
    preemptible: bool = False
    mode: AccessMode | None = None
    priority: int = 0


@dataclass(frozen=True)
class PendingJob:
    id: str
    project: str
    org: str
    demand: Demand
    submitted_at: float
    preemptible: bool = False
    residency: Residency | None = None
    array: str | None = None  # the array a task belongs to (its throttle is in the snapshot)
    index: int = 0  # the task's index: an array's tasks queue in index order
    after: Dependency | None = None
    cancel_never_satisfied: bool = True  # --kill-on-invalid-dep


@dataclass(frozen=True)
class Snapshot:
    partitions: tuple[PartitionState, ...]
    pending: tuple[PendingJob, ...]
    active: tuple[Active, ...] = ()
    # project -> partition -> its allocations there; a project missing here has none.
    budgets: Mapping[str, Mapping[PartitionKey, Budget]] = field(default_factory=dict)
    accounts: tuple[Account, ...] = ()  # fair share: shares and decayed usage per project
    modes: Mapping[str, AccessMode] = field(default_factory=dict)  # project -> its best mode
    suspended: Mapping[str, str] = field(default_factory=dict)  # project -> why
    org_rules: Mapping[str, OrgRule] = field(default_factory=dict)
    # Without allocations (a bare executor, the simulator's free mode) budgets are not checked.
    check_budgets: bool = True
    # array -> (its %N throttle, its tasks placed and not ended now)
    throttles: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    refs: Mapping[str, Ref] = field(default_factory=dict)  # the jobs dependencies name


@dataclass(frozen=True)
class Config:
    weights: Weights = field(default_factory=Weights)
    # Balanced: how much completion time counts against carbon (the rest).
    balanced_time_weight: float = 0.5


class Filter(StrEnum):
    """The hard filters, in the order they are checked; a verdict names the first failed."""

    SITE = "site"
    PARTITION = "partition"
    COUNTRY = "country"
    OPERATIONAL = "operational"
    SIMULATED = "simulated"
    EXPERIMENTAL = "experimental"
    ACCELERATOR = "accelerator"
    STACK = "stack"
    FIT = "fit"
    WALLTIME = "walltime"
    RESIDENCY = "residency"
    ORGANISATION = "organisation"
    HEALTH = "health"
    ALLOCATION = "allocation"
    # Not a hard filter: the partition is full now (it waits) or its window is.
    CAPACITY = "capacity"


class Terms(NamedTuple):  # a tuple: one is made per partition scored, many per cycle
    """A feasible partition's score terms: when the job could start, how long it would run
    there, and the energy and carbon of the whole job."""

    start_s: float
    runtime_s: float
    energy_kwh: float
    co2e_kg: float
    score: float = 0.0  # lower is better; comparable only among one job's partitions

    @property
    def completion_s(self) -> float:
        return self.start_s + self.runtime_s


@dataclass(frozen=True)
class Verdict:
    """One partition considered for one job: the filter it failed (with the reason), or its
    score terms."""

    site: str
    partition: str
    executor: ExecutorKind
    feasible: bool
    reason: str
    failed: Filter | None = None
    retry: bool = False  # failed only for now (allocation, health): keep waiting
    allocation_id: str | None = None
    terms: Terms | None = None

    @property
    def key(self) -> PartitionKey:
        return (self.site, self.partition)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "site": self.site,
            "partition": self.partition,
            "executor": self.executor.value,
            "feasible": self.feasible,
            "reason": self.reason,
            "filter": self.failed.value if self.failed else None,
            "allocation_id": self.allocation_id,
        }
        if self.terms is not None:
            t = self.terms
            out.update(
                start_in_s=round(t.start_s, 1),
                runtime_s=round(t.runtime_s, 1),
                energy_kwh=round(t.energy_kwh, 6),
                co2e_kg=round(t.co2e_kg, 6),
                score=round(t.score, 4),
            )
        return out


class Action(StrEnum):
    PLACE = "place"  # hand the job to ``chosen`` now
    HOLD = "hold"  # keep it pending with ``reason``
    FAIL = "fail"  # no partition can ever run it: end it with ``reason``, do not retry
    CANCEL = "cancel"  # its dependency can never be satisfied (Slurm's kill_invalid_depend)


class Decision(NamedTuple):  # a tuple: one per pending job, so cheap to make
    """One job's outcome. Its verdicts come in layers that many jobs share (a queue of 100,000
    jobs has a few hundred shapes): the static filters' verdicts (the partition's key where it
    passed them), then this job's health and allocation verdicts, then the scored partitions;
    ``verdicts`` merges them in partition order."""

    job_id: str
    action: Action
    reason: str
    static: tuple[Verdict | PartitionKey, ...]
    late: tuple[Verdict, ...] = ()
    scored: tuple[Verdict, ...] = ()
    chosen: Verdict | None = None
    priority: int = 0
    factors: Factors | None = None
    reserved: bool = False  # the head of its partition's queue: backfill may not delay it
    need: Need | None = None  # with PLACE: the job's resources on the chosen partition

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        """Every partition considered, in the snapshot's order."""
        rest = {v.key: v for v in (*self.late, *self.scored)}
        if self.chosen is not None:
            rest[self.chosen.key] = self.chosen
        return tuple(v if isinstance(v, Verdict) else rest[v] for v in self.static)

    def placement_record(self) -> dict[str, object]:
        """What the job's ``placement`` column keeps and ``aif job show`` prints."""
        return {
            "chosen": {"site": self.chosen.site, "partition": self.chosen.partition}
            if self.chosen and self.action is Action.PLACE
            else None,
            "need": self.need.as_dict() if self.need is not None else None,
            "priority": self.priority,
            "factors": None
            if self.factors is None
            else {
                "age": round(self.factors.age, 4),
                "fairshare": round(self.factors.fairshare, 4),
                "size": round(self.factors.size, 4),
                "qos": round(self.factors.qos, 4),
            },
            "candidates": [v.as_dict() for v in self.verdicts],
        }


@dataclass(frozen=True)
class Preemption:
    """Victims to stop so ``job_id`` can start on ``key``; issued by the service."""

    job_id: str
    key: PartitionKey
    victims: tuple[str, ...]


@dataclass(frozen=True)
class Decisions:
    decisions: tuple[Decision, ...]
    preemptions: tuple[Preemption, ...] = ()

    @property
    def placed(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.action is Action.PLACE)

    def of(self, job_id: str) -> Decision:
        for d in self.decisions:
            if d.job_id == job_id:
                return d
        raise KeyError(job_id)
