"""Placement, first version: hard filters, then the earliest estimated start.

Pure: the caller passes the catalog, each partition's load and ``now``. Every partition
considered is reported with its filter result, so a user sees why each other site lost.
The scheduling-core issue replaces this with the full engine (scores, fair share, backfill).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aifactory.domain.catalog import Catalog, ExecutorKind, Partition, Site, SoftwareStack
from aifactory.domain.jobs import JobStack, Objective

PartitionKey = tuple[str, str]  # (site id, partition id)


@dataclass(frozen=True)
class Demand:
    """What a job needs, in the terms the filters use."""

    accelerator: str  # a model, or "any"
    accelerators_per_node: int
    nodes: int
    cpus: int
    memory_gb: int
    walltime_s: int
    stack: JobStack
    sites: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()
    objective: Objective = Objective.FASTEST
    simulate: bool = False

    @property
    def accelerators(self) -> int:
        return self.accelerators_per_node * self.nodes


@dataclass(frozen=True)
class Load:
    """A partition's state: free accelerators (and CPUs, where tracked) now, and when running
    work ends (seconds from now, accelerators freed, CPUs freed), so the earliest start can
    be estimated. CPUs are tracked for partitions the platform runs itself: they bound how
    many jobs without accelerators run at once."""

    free_accelerators: int
    releases: tuple[tuple[float, int, int], ...] = ()
    healthy: bool = True
    health_reason: str = ""
    free_cpus: int | None = None
    transient: bool = False  # unhealthy for now (a site that does not answer): keep waiting


@dataclass(frozen=True)
class Budget:
    """A project's allocations on one partition that a job may draw on now, soonest-ending
    first, as (allocation id, GPU-seconds left); empty with ``problem`` saying why."""

    usable: tuple[tuple[str, int], ...]
    problem: str = ""

    def pick(self, need: int) -> str | None:
        """The first allocation with room for ``need`` GPU-seconds (and any room at all)."""
        for alloc_id, left in self.usable:
            if left >= need and left > 0:
                return alloc_id
        return None


@dataclass(frozen=True)
class Candidate:
    site: str
    partition: str
    executor: ExecutorKind
    feasible: bool
    reason: str
    start_in_s: float | None = None
    runtime_s: float | None = None
    allocation_id: str | None = None
    # Infeasible only for now (an allocation may be granted or hours returned): keep waiting.
    retry: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "site": self.site,
            "partition": self.partition,
            "executor": self.executor.value,
            "feasible": self.feasible,
            "reason": self.reason,
            "start_in_s": self.start_in_s,
            "runtime_s": self.runtime_s,
            "allocation_id": self.allocation_id,
        }


@dataclass(frozen=True)
class Placement:
    chosen: Candidate | None
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)

    @property
    def feasible(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.feasible)

    @property
    def never(self) -> bool:
        """No partition can run the job, now or after any allocation or release."""
        return self.chosen is None and not any(c.feasible or c.retry for c in self.candidates)


def _stack_ok(stack: JobStack, partition: Partition) -> bool:
    if stack is JobStack.ANY:
        return True
    return SoftwareStack(stack.value) in partition.software_stacks


def _hard_filter(demand: Demand, site: Site, part: Partition) -> str | None:
    """The first hard filter the partition fails, as a sentence; None when it passes."""
    if demand.sites and site.id not in demand.sites:
        return f"excluded by the job's site constraint ({', '.join(demand.sites)})"
    if demand.partitions and part.id not in demand.partitions:
        return f"excluded by the job's partition constraint ({', '.join(demand.partitions)})"
    if demand.countries and site.country not in demand.countries:
        return f"site is in {site.country}; the job may run only in {', '.join(demand.countries)}"
    if not site.is_operational:
        when = f" (available from {site.available_from.isoformat()})" if site.available_from else ""
        return f"site is {site.status.value}{when}, not operational"
    if part.executor is ExecutorKind.SIMULATED and not demand.simulate:
        return "simulated partition (a digital twin that runs no code); set simulate: true"
    if demand.accelerator != "any" and demand.accelerator != part.accelerator:
        return f"has {part.accelerator}, the job needs {demand.accelerator}"
    if not _stack_ok(demand.stack, part):
        stacks = "/".join(sorted(s.value for s in part.software_stacks))
        return f"software stack is {stacks}, the job is built for {demand.stack.value}"
    if demand.nodes > part.nodes:
        return f"has {part.nodes} nodes, the job needs {demand.nodes}"
    if demand.accelerators_per_node > part.accelerators_per_node:
        return (
            f"has {part.accelerators_per_node} accelerators per node, "
            f"the job needs {demand.accelerators_per_node}"
        )
    if demand.cpus > part.cpus_per_node:
        return f"has {part.cpus_per_node} CPUs per node, the job needs {demand.cpus}"
    if demand.memory_gb > part.memory_gb_per_node:
        return f"has {part.memory_gb_per_node} GB per node, the job needs {demand.memory_gb} GB"
    if demand.walltime_s > part.max_walltime_s:
        return (
            f"maximum walltime is {part.max_walltime_s} s, the job asks for {demand.walltime_s} s"
        )
    return None


def static_candidates(demand: Demand, catalog: Catalog) -> list[Candidate]:
    """Hard filters only (no load): what could ever run the job."""
    out = []
    for site, part in catalog.partitions():
        reason = _hard_filter(demand, site, part)
        out.append(
            Candidate(site.id, part.id, part.executor, reason is None, reason or "passes filters")
        )
    return out


def _start_in(need: int, need_cpus: int, load: Load) -> float | None:
    """Seconds until ``need`` accelerators (and ``need_cpus`` CPUs, where tracked) are free,
    from the known releases; None if never."""
    free, cpus = load.free_accelerators, load.free_cpus

    def fits() -> bool:
        return free >= need and (cpus is None or cpus >= need_cpus)

    if fits():
        return 0.0
    for when, freed, freed_cpus in sorted(load.releases):
        free += freed
        cpus = None if cpus is None else cpus + freed_cpus
        if fits():
            return max(when, 0.0)
    return None


def _budget_problem(demand: Demand, budget: Budget | None) -> tuple[str | None, str]:
    """(allocation to draw on, "") or (None, why not)."""
    if budget is None:
        return None, "the project has no allocation here; apply to an access call (aif calls)"
    need = demand.accelerators * demand.walltime_s
    chosen = budget.pick(need)
    if chosen is not None:
        return chosen, ""
    if not budget.usable:
        return None, f"{budget.problem}; the job needs {need / 3600:g} GPU-hours"
    best = max(left for _, left in budget.usable)
    return None, (
        f"allocation has {best / 3600:g} GPU-hours left; the job needs {need / 3600:g} "
        f"({demand.accelerators} GPUs x {demand.walltime_s} s)"
    )


def place(
    demand: Demand,
    catalog: Catalog,
    loads: Mapping[PartitionKey, Load],
    budgets: Mapping[PartitionKey, Budget] | None = None,
) -> Placement:
    """Filter every partition, estimate the start on the feasible ones, pick the earliest.

    With ``budgets`` (the job's project's allocations), a partition also needs an active
    allocation with room for walltime x GPUs; without, allocations are not considered.

    Ties go to the faster accelerator (``fastest``) or the lower carbon per accelerator-hour
    (``greenest``), then to executors that run code, then to the id (deterministic).
    """
    parts = {(s.id, p.id): (s, p) for s, p in catalog.partitions()}
    ranked: list[tuple[tuple[float, float, int, str, str], Candidate]] = []
    candidates: list[Candidate] = []
    for static in static_candidates(demand, catalog):
        site, part = parts[(static.site, static.partition)]
        if not static.feasible:
            candidates.append(static)
            continue
        allocation_id = None
        if budgets is not None:
            allocation_id, problem = _budget_problem(demand, budgets.get((site.id, part.id)))
            if allocation_id is None:
                candidates.append(
                    Candidate(site.id, part.id, part.executor, False, problem, retry=True)
                )
                continue
        load = loads.get((site.id, part.id), Load(free_accelerators=part.total_accelerators))
        if not load.healthy:
            candidates.append(
                Candidate(
                    site.id,
                    part.id,
                    part.executor,
                    False,
                    f"unhealthy: {load.health_reason}",
                    retry=load.transient,
                )
            )
            continue
        start = _start_in(demand.accelerators, demand.cpus * demand.nodes, load)
        if start is None:
            reason = (
                f"only {load.free_accelerators} accelerators free and nothing running frees "
                f"{demand.accelerators}"
            )
            candidates.append(Candidate(site.id, part.id, part.executor, False, reason))
            continue
        candidate = Candidate(
            site.id,
            part.id,
            part.executor,
            True,
            "can start now" if start == 0 else f"earliest start in {start:.0f} s",
            start_in_s=start,
            runtime_s=float(demand.walltime_s),
            allocation_id=allocation_id,
        )
        candidates.append(candidate)
        tie = (
            -part.peak_bf16_tflops
            if demand.objective is Objective.FASTEST
            else part.power_w * part.pue * part.grid_gco2e_per_kwh
        )
        runs_code = 1 if part.executor is ExecutorKind.SIMULATED else 0
        ranked.append(((start, tie, runs_code, site.id, part.id), candidate))
    if not ranked:
        return Placement(None, tuple(candidates))
    ranked.sort(key=lambda item: item[0])
    best = ranked[0][1]
    out = []
    for c in candidates:
        if c is best:
            out.append(
                Candidate(
                    c.site,
                    c.partition,
                    c.executor,
                    True,
                    f"chosen: {c.reason}",
                    c.start_in_s,
                    c.runtime_s,
                    c.allocation_id,
                )
            )
        elif c.feasible:
            out.append(
                Candidate(
                    c.site,
                    c.partition,
                    c.executor,
                    True,
                    f"feasible, not chosen: {c.reason}; "
                    f"{best.site}/{best.partition} starts earlier or ranks first",
                    c.start_in_s,
                    c.runtime_s,
                    c.allocation_id,
                )
            )
        else:
            out.append(c)
    chosen = next(c for c in out if c.reason.startswith("chosen"))
    return Placement(chosen, tuple(out))


def summarise(candidates: Sequence[Candidate]) -> str:
    return "; ".join(f"{c.site}/{c.partition}: {c.reason}" for c in candidates)
