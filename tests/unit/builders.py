"""Small builders for scheduling tests: ``make_job().gpus(8).needs("H100")``.

- ``make_job()`` is fluent; ``.build()`` gives the :class:`Demand`, ``.pending(id)`` the
  :class:`PendingJob` the cycle queues (project, organisation, submission time, ...).
- ``make_partition`` / ``make_site`` / ``make_catalog`` / ``planned``: the catalog.
- ``state(site)`` a partition as the cycle sees it, ``running(...)`` a job on one,
  ``make_snapshot(...)`` the whole snapshot, ``decide(...)`` one cycle at ``NOW``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date

from aifactory.domain.access import AccessMode
from aifactory.domain.catalog import (
    Accelerator,
    Catalog,
    ExecutorKind,
    Partition,
    Site,
    SiteStatus,
    SoftwareStack,
)
from aifactory.domain.jobs import JobStack, Objective
from aifactory.scheduling.cycle import cycle
from aifactory.scheduling.model import (
    Active,
    Budget,
    Config,
    Decisions,
    Demand,
    PartitionKey,
    PartitionState,
    PendingJob,
    Residency,
    Snapshot,
)

NOW = 1_000_000.0  # the cycle's clock in every test; jobs are submitted at NOW by default
HOUR = 3600

ACCELERATORS = {
    "A100": Accelerator("A100", 312, 64, 400, SoftwareStack.CUDA),
    "H100": Accelerator("H100", 989.4, 64, 700, SoftwareStack.CUDA),
    "MI250X-GCD": Accelerator("MI250X-GCD", 191.5, 64, 250, SoftwareStack.ROCM),
}


class JobBuilder:
    def __init__(self) -> None:
        self.d = Demand("any", 1, 1, 1, 4, HOUR, JobStack.CUDA)
        self._project = "p1"
        self._org = "o1"
        self._submitted_at = NOW
        self._preemptible = False
        self._residency: Residency | None = None

    # -- the demand --------------------------------------------------------------------------
    def gpus(self, per_node: int, nodes: int = 1) -> JobBuilder:
        self.d = replace(self.d, accelerators_per_node=per_node, nodes=nodes)
        return self

    def needs(self, model: str) -> JobBuilder:
        self.d = replace(self.d, accelerator=model)
        return self

    def stack(self, stack: str) -> JobBuilder:
        self.d = replace(self.d, stack=JobStack(stack))
        return self

    def walltime(self, seconds: int) -> JobBuilder:
        self.d = replace(self.d, walltime_s=seconds)
        return self

    def cpus(self, n: int) -> JobBuilder:
        self.d = replace(self.d, cpus=n)
        return self

    def memory(self, gb: int) -> JobBuilder:
        self.d = replace(self.d, memory_gb=gb)
        return self

    def only_sites(self, *sites: str) -> JobBuilder:
        self.d = replace(self.d, sites=sites)
        return self

    def only_partitions(self, *partitions: str) -> JobBuilder:
        self.d = replace(self.d, partitions=partitions)
        return self

    def only_countries(self, *countries: str) -> JobBuilder:
        self.d = replace(self.d, countries=countries)
        return self

    def greenest(self) -> JobBuilder:
        self.d = replace(self.d, objective=Objective.GREENEST)
        return self

    def fastest(self) -> JobBuilder:
        self.d = replace(self.d, objective=Objective.FASTEST)
        return self

    def balanced(self) -> JobBuilder:
        self.d = replace(self.d, objective=Objective.BALANCED)
        return self

    def simulate(self) -> JobBuilder:
        self.d = replace(self.d, simulate=True)
        return self

    def experimental(self) -> JobBuilder:
        self.d = replace(self.d, experimental=True)
        return self

    # -- the queued job ----------------------------------------------------------------------
    def project(self, project: str, org: str | None = None) -> JobBuilder:
        self._project = project
        if org is not None:
            self._org = org
        return self

    def org(self, org: str) -> JobBuilder:
        self._org = org
        return self

    def submitted_at(self, t: float) -> JobBuilder:
        self._submitted_at = t
        return self

    def preemptible(self) -> JobBuilder:
        self._preemptible = True
        return self

    def residency(
        self,
        *datasets: str,
        countries: Iterable[str] | None = None,
        sites: Iterable[str] | None = None,
    ) -> JobBuilder:
        self._residency = Residency(
            tuple(datasets),
            None if countries is None else frozenset(countries),
            None if sites is None else frozenset(sites),
        )
        return self

    def build(self) -> Demand:
        return self.d

    def pending(self, job_id: str = "job") -> PendingJob:
        return PendingJob(
            job_id,
            self._project,
            self._org,
            self.d,
            self._submitted_at,
            self._preemptible,
            self._residency,
        )


def make_job() -> JobBuilder:
    return JobBuilder()


def make_partition(pid: str = "gpu", model: str = "A100", **kw: object) -> Partition:
    acc = ACCELERATORS[model]
    fields: dict[str, object] = {
        "id": pid,
        "name": pid,
        "accelerator": model,
        "accelerators_per_node": 4,
        "nodes": 10,
        "cpus_per_node": 64,
        "memory_gb_per_node": 512,
        "peak_bf16_tflops": acc.peak_bf16_tflops,
        "power_w": acc.power_w,
        "max_walltime_s": 48 * HOUR,
        "software_stacks": frozenset({acc.software_stack}),
        "pue": 1.1,
        "grid_gco2e_per_kwh": 100.0,
        "executor": ExecutorKind.LOCAL,
    }
    fields.update(kw)
    return Partition(**fields)  # type: ignore[arg-type]


def make_site(sid: str, *partitions: Partition, country: str = "FI", **kw: object) -> Site:
    fields: dict[str, object] = {
        "id": sid,
        "name": sid.upper(),
        "city": "City",
        "country": country,
        "operator": "Op",
        "status": SiteStatus.OPERATIONAL,
        "available_from": None,
        "experimental": False,
        "budget_eur": None,
        "partitions": partitions or (make_partition(),),
    }
    fields.update(kw)
    return Site(**fields)  # type: ignore[arg-type]


def make_catalog(*sites: Site) -> Catalog:
    return Catalog(accelerators=dict(ACCELERATORS), sites=sites)


def planned(site: Site, when: date = date(2027, 1, 1)) -> Site:
    return replace(site, status=SiteStatus.PLANNED, available_from=when)


# -- the cycle's view --------------------------------------------------------------------------
def state(site: Site, pid: str | None = None, **kw: object) -> PartitionState:
    """One partition of ``site`` (its first by default) as the cycle sees it; ``kw`` sets
    healthy, health_reason, transient, window, preemption."""
    part = site.partitions[0] if pid is None else site.partition(pid)
    return PartitionState(site, part, **kw)  # type: ignore[arg-type]


def running(
    job_id: str,
    key: PartitionKey,
    gpus: int = 1,
    *,
    cpus: int = 1,
    ends_in: float = HOUR,
    running: bool = True,
    preemptible: bool = False,
    mode: AccessMode | None = None,
    priority: int = 0,
) -> Active:
    """A job placed on ``key`` and not ended (``running=False``: handed to Slurm, queued)."""
    return Active(
        job_id,
        key,
        gpus,
        cpus,
        ends_in,
        running,
        preemptible=preemptible,
        mode=mode,
        priority=priority,
    )


def make_snapshot(
    *where: Site | PartitionState,
    jobs: Iterable[JobBuilder | PendingJob] = (),
    active: Iterable[Active] = (),
    budgets: Mapping[str, Mapping[PartitionKey, Budget]] | None = None,
    check_budgets: bool = False,
    **kw: object,
) -> Snapshot:
    """Sites (every partition, healthy, no window) or partition states, in that order; jobs
    given as builders are named ``j1``, ``j2``, ... in order. ``kw``: accounts, modes,
    suspended, org_rules."""
    partitions: list[PartitionState] = []
    for w in where:
        if isinstance(w, Site):
            partitions.extend(PartitionState(w, p) for p in w.partitions)
        else:
            partitions.append(w)
    pending = tuple(
        j.pending(f"j{i}") if isinstance(j, JobBuilder) else j for i, j in enumerate(jobs, 1)
    )
    return Snapshot(
        tuple(partitions),
        pending,
        tuple(active),
        budgets=budgets or {},
        check_budgets=check_budgets,
        **kw,  # type: ignore[arg-type]
    )


def decide(snapshot: Snapshot, now: float = NOW, config: Config | None = None) -> Decisions:
    return cycle(snapshot, now, config)
