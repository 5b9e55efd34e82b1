"""Small builders for scheduling tests: ``make_job().gpus(8).needs("H100")``."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

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
from aifactory.scheduling.placement import Demand

ACCELERATORS = {
    "A100": Accelerator("A100", 312, 64, 400, SoftwareStack.CUDA),
    "H100": Accelerator("H100", 989.4, 64, 700, SoftwareStack.CUDA),
    "MI250X-GCD": Accelerator("MI250X-GCD", 191.5, 64, 250, SoftwareStack.ROCM),
}


class JobBuilder:
    def __init__(self) -> None:
        self.d = Demand("any", 1, 1, 1, 4, 3600, JobStack.CUDA)

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

    def only_countries(self, *countries: str) -> JobBuilder:
        self.d = replace(self.d, countries=countries)
        return self

    def greenest(self) -> JobBuilder:
        self.d = replace(self.d, objective=Objective.GREENEST)
        return self

    def simulate(self) -> JobBuilder:
        self.d = replace(self.d, simulate=True)
        return self

    def build(self) -> Demand:
        return self.d


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
        "max_walltime_s": 48 * 3600,
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
