"""How busy each site of the federation is: accelerators held and jobs waiting now, and the
same over the last hours. Federation-wide figures, the same for every user (no job of anyone
is named). Every figure is an aggregate the database computes: the portal stays fast with a
big jobs table.

Held accelerators follow the scheduler's snapshot: a Slurm job holds its accelerators once
Slurm runs it; a job the platform runs itself (local, simulated) from its placement on. A
job counts at a site once it is placed there; before that it waits in the federation's queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from aifactory.db.tables import Job
from aifactory.domain.catalog import Catalog, ExecutorKind, Partition, Site
from aifactory.domain.jobs import FINAL_STATES, JobState
from aifactory.services import slurm_sites
from aifactory.services.errors import NotFound

ACTIVE = (JobState.PLACED.value, JobState.SUBMITTED.value, JobState.RUNNING.value)
_FINAL = tuple(s.value for s in FINAL_STATES)


@dataclass(frozen=True)
class PartitionLoad:
    partition: Partition
    busy: int  # accelerators held by jobs
    running: int  # jobs holding them
    queued: int  # jobs placed here that do not hold accelerators yet

    @property
    def total(self) -> int:
        return self.partition.total_accelerators

    @property
    def free(self) -> int:
        return max(0, self.total - self.busy)


@dataclass(frozen=True)
class SiteLoad:
    site: Site
    status: str  # operational, planned, degraded, not connected
    status_detail: str  # why, in words ("" when operational)
    partitions: tuple[PartitionLoad, ...]

    @property
    def total(self) -> int:
        return self.site.total_accelerators

    @property
    def busy(self) -> int:
        return min(self.total, sum(p.busy for p in self.partitions))

    @property
    def queued(self) -> int:
        return sum(p.queued for p in self.partitions)

    @property
    def running(self) -> int:
        return sum(p.running for p in self.partitions)

    @property
    def utilisation(self) -> float:
        """Busy accelerators as a fraction of the site's (0 for a site without any)."""
        return self.busy / self.total if self.total else 0.0

    @property
    def by_accelerator(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.site.partitions:
            out[p.accelerator] = out.get(p.accelerator, 0) + p.total_accelerators
        return out

    @property
    def grid_gco2e_per_kwh(self) -> tuple[float, float]:
        """The lowest and highest carbon intensity of the site's partitions' electricity."""
        values = [p.grid_gco2e_per_kwh for p in self.site.partitions]
        return min(values), max(values)


@dataclass(frozen=True)
class Federation:
    sites: tuple[SiteLoad, ...]
    waiting: int  # jobs submitted and not placed at any site yet


@dataclass(frozen=True)
class Point:
    at: datetime
    busy: int  # accelerators held at that moment
    queued: int  # jobs of this site submitted and not started yet


def _accelerators() -> ColumnElement[Any]:
    """What a placed job holds (allocations.placed_gpus in SQL): what its placement
    resolved; for jobs placed before that was kept, its spec's figures."""
    spec = func.coalesce(Job.spec[("resources", "accelerators_per_node")].as_integer(), 0) * (
        func.coalesce(Job.spec[("resources", "nodes")].as_integer(), 1)
    )
    return func.coalesce(Job.resolved["accelerators"].as_integer(), spec)


def _holding() -> ColumnElement[bool]:
    return or_(Job.state == JobState.RUNNING.value, Job.executor != ExecutorKind.SLURM.value)


def _status(site: Site, degraded: Mapping[str, str], kinds: set[ExecutorKind]) -> tuple[str, str]:
    if not site.is_operational:
        when = site.available_from.isoformat() if site.available_from else "a date to come"
        return "planned", f"enters service {when}"
    if site.id in degraded:
        return "degraded", f"its scheduler does not answer: {degraded[site.id]}"[:300]
    missing = sorted({p.executor.value for p in site.partitions} - {k.value for k in kinds})
    if missing:
        return "not connected", f"no {' or '.join(missing)} executor configured here"
    return "operational", ""


def federation(session: Session, catalog: Catalog, kinds: set[ExecutorKind]) -> Federation:
    """Every site of the catalog with its accelerators held and jobs queued now (one query)."""
    rows = session.execute(
        select(
            Job.site_id,
            Job.partition_id,
            _holding(),
            func.count(),
            func.coalesce(func.sum(_accelerators()), 0),
        )
        .where(Job.state.in_(ACTIVE), Job.array_tasks.is_(None))
        .group_by(Job.site_id, Job.partition_id, _holding())
    ).all()
    held: dict[tuple[str, str], tuple[int, int]] = {}
    queued: dict[tuple[str, str], int] = {}
    for site_id, partition_id, holding, jobs, accelerators in rows:
        key = (str(site_id), str(partition_id))
        if holding:
            held[key] = (int(jobs), int(accelerators))
        else:
            queued[key] = int(jobs)
    waiting = session.execute(
        select(func.count())
        .select_from(Job)
        .where(Job.state == JobState.PENDING.value, Job.array_tasks.is_(None))
    ).scalar_one()
    degraded = slurm_sites.degraded_sites(session)
    sites = []
    for site in catalog.sites:
        parts = []
        for p in site.partitions:
            jobs, busy = held.get((site.id, p.id), (0, 0))
            parts.append(PartitionLoad(p, busy, jobs, queued.get((site.id, p.id), 0)))
        status, detail = _status(site, degraded, kinds)
        sites.append(SiteLoad(site, status, detail, tuple(parts)))
    return Federation(tuple(sites), int(waiting))


def site_load(
    session: Session, catalog: Catalog, kinds: set[ExecutorKind], site_id: str
) -> SiteLoad:
    for load in federation(session, catalog, kinds).sites:
        if load.site.id == site_id:
            return load
    raise NotFound("site", site_id)


def hours(now: datetime, count: int = 24) -> list[datetime]:
    """The tops of the last ``count`` hours, oldest first, and now."""
    top = now.replace(minute=0, second=0, microsecond=0)
    points = [top - timedelta(hours=k) for k in range(count - 1, -1, -1)]
    return [*points, now] if now != top else points


def history(session: Session, site_id: str, at: Sequence[datetime]) -> list[Point]:
    """Accelerators held and jobs waiting at the site at each moment of ``at``, from the jobs'
    submission, start and end times: one query, two sums per moment, over the jobs that were
    alive in the window only."""
    if not at:
        return []
    # A job cancelled or failed before it started has no end time; it ended when last updated.
    end = func.coalesce(Job.ended_at, case((Job.state.in_(_FINAL), Job.updated_at), else_=None))
    accelerators = _accelerators()
    columns: list[ColumnElement[Any]] = []
    for t in at:
        alive = or_(end.is_(None), end > t)
        busy = and_(Job.started_at.is_not(None), Job.started_at <= t, alive)
        waiting = and_(
            Job.created_at <= t, or_(Job.started_at.is_(None), Job.started_at > t), alive
        )
        columns.append(func.coalesce(func.sum(case((busy, accelerators), else_=0)), 0))
        columns.append(func.coalesce(func.sum(case((waiting, 1), else_=0)), 0))
    row = session.execute(
        select(*columns).where(
            Job.site_id == site_id,
            Job.array_tasks.is_(None),
            Job.created_at <= max(at),
            or_(end.is_(None), end > min(at)),
        )
    ).one()
    return [Point(t, int(row[2 * i] or 0), int(row[2 * i + 1] or 0)) for i, t in enumerate(at)]
