"""Build the scheduling cycle's snapshot from the database ("compute, then act": this reads,
``scheduling.cycle`` decides, the dispatcher acts)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.db.tables import Allocation, Job, Project, UsageRecord
from aifactory.domain.access import AccessMode
from aifactory.domain.catalog import Catalog, ExecutorKind
from aifactory.domain.jobs import JobState
from aifactory.domain.jobspec import JobSpec
from aifactory.scheduling.model import (
    Active,
    Demand,
    PartitionKey,
    PartitionState,
    PendingJob,
    Snapshot,
)
from aifactory.scheduling.priority import DEFAULT_HALF_LIFE_S, Account, Weights, decayed
from aifactory.services import allocations, slurm_sites, tenancy
from aifactory.services.ids import as_utc
from aifactory.services.jobs import demand_of

ACTIVE = (JobState.PLACED.value, JobState.SUBMITTED.value, JobState.RUNNING.value)
# Usage older than this many half-lives counts for less than 0.1 %: not read.
_HORIZON_HALF_LIVES = 10


@dataclass(frozen=True)
class Policy:
    """The scheduling settings a site operator sets (see docs/scheduling.md)."""

    slurm_window: int = 16
    preemption: frozenset[PartitionKey] = frozenset()
    half_life_s: float = DEFAULT_HALF_LIFE_S
    weights: Weights = field(default_factory=Weights)


@dataclass(frozen=True)
class ParsedSpec:
    spec: JobSpec
    demand: Demand
    preemptible: bool
    walltime_s: int
    accelerators: int
    cpus: int


class SpecCache:
    """A job's spec never changes after submission: parse it once per process."""

    def __init__(self) -> None:
        self._by_job: dict[str, ParsedSpec] = {}

    def get(self, job_id: str, raw: dict[str, object]) -> ParsedSpec:
        hit = self._by_job.get(job_id)
        if hit is None:
            spec = JobSpec.model_validate(raw)
            r = spec.resources
            hit = self._by_job[job_id] = ParsedSpec(
                spec,
                demand_of(spec),
                spec.preemptible,
                r.walltime_s,
                r.total_accelerators,
                r.cpus * r.nodes,
            )
        return hit

    def load(self, session: Session, job_ids: list[str], chunk: int = 5000) -> None:
        """Read and parse the specs of the jobs not cached yet."""
        missing = [j for j in job_ids if j not in self._by_job]
        for i in range(0, len(missing), chunk):
            part = missing[i : i + chunk]
            for job_id, raw in session.execute(
                select(Job.id, Job.spec).where(Job.id.in_(part))
            ).all():
                self.get(job_id, raw)

    def cached(self, job_id: str) -> ParsedSpec:
        return self._by_job[job_id]

    def forget(self, keep: Iterable[str]) -> None:
        keep = set(keep)
        for job_id in [j for j in self._by_job if j not in keep]:
            del self._by_job[job_id]


def _live_grants(
    session: Session, project_ids: set[str], now: datetime, weights: Weights
) -> tuple[dict[str, AccessMode], dict[str, float]]:
    """From the projects' live allocations, one query: each project's best access mode (the
    QoS of its jobs) and its fair-share shares (the GPU-seconds granted)."""
    qos = weights.qos_by_mode
    best: dict[str, AccessMode] = {}
    shares: dict[str, float] = defaultdict(float)
    rows = session.execute(
        select(Allocation.project_id, Allocation.mode, Allocation.granted_gpu_seconds).where(
            Allocation.project_id.in_(project_ids),
            Allocation.starts_at <= now,
            Allocation.ends_at > now,
        )
    ).all()
    for project_id, mode, granted in rows:
        shares[project_id] += granted
        if mode is None:
            continue
        m = AccessMode(str(mode))
        if project_id not in best or qos.get(m, 0) > qos.get(best[project_id], 0):
            best[project_id] = m
    return best, shares


def _accounts(
    session: Session,
    project_ids: set[str],
    orgs: Mapping[str, str],
    shares: Mapping[str, float],
    now: datetime,
    half_life: float,
) -> tuple[Account, ...]:
    """Fair-share accounts: the shares, and the GPU-seconds used decayed by the half-life."""
    usage: dict[str, float] = defaultdict(float)
    since = now - timedelta(seconds=half_life * _HORIZON_HALF_LIVES)
    for project_id, gpu_seconds, ended_at in session.execute(
        select(UsageRecord.project_id, UsageRecord.gpu_seconds, UsageRecord.ended_at).where(
            UsageRecord.project_id.in_(project_ids), UsageRecord.ended_at >= since
        )
    ).all():
        if ended_at is not None:
            usage[project_id] += decayed(gpu_seconds, as_utc(ended_at), now, half_life)
    return tuple(
        Account(orgs[p], p, shares.get(p, 0.0), usage.get(p, 0.0)) for p in sorted(project_ids)
    )


def _priorities(session: Session, job_ids: list[str]) -> dict[str, int]:
    """The priority each job had when placed (its placement record), for preemption: read only
    for jobs on partitions where preemption is on (the record is the big column)."""
    out: dict[str, int] = {}
    for i in range(0, len(job_ids), 5000):
        for job_id, placement in session.execute(
            select(Job.id, Job.placement).where(Job.id.in_(job_ids[i : i + 5000]))
        ).all():
            out[job_id] = int((placement or {}).get("priority", 0) or 0)
    return out


def build(
    session: Session,
    catalog: Catalog,
    configured: Iterable[ExecutorKind],
    specs: SpecCache,
    policy: Policy,
    now: datetime,
    limit: int | None = None,
) -> tuple[Snapshot, dict[str, str], dict[PartitionKey, set[int]]]:
    """The snapshot, each pending job's current reason (so unchanged holds are not rewritten)
    and the device ids in use per partition (for jobs the platform runs itself)."""
    query = (
        select(Job.id, Job.project_id, Job.org_id, Job.reason, Job.created_at)
        .where(Job.state == JobState.PENDING.value)
        .order_by(Job.created_at, Job.id)
    )
    pending_rows = session.execute(query if limit is None else query.limit(limit)).all()
    # Specs never change: only those not parsed yet are read (a big queue costs no JSON).
    specs.load(session, [r[0] for r in pending_rows])
    reasons: dict[str, str] = {}
    pending = []
    for job_id, project_id, org_id, reason, created in pending_rows:
        s = specs.cached(job_id)
        reasons[job_id] = reason
        pending.append(
            PendingJob(
                job_id, project_id, org_id, s.demand, as_utc(created).timestamp(), s.preemptible
            )
        )
    active_rows = session.execute(
        select(
            Job.id,
            Job.project_id,
            Job.site_id,
            Job.partition_id,
            Job.state,
            Job.started_at,
            Job.accelerator_ids,
            Job.executor,
            Job.cancel_requested,
        ).where(Job.state.in_(ACTIVE))
    ).all()
    specs.load(session, [r[0] for r in active_rows])
    priorities = _priorities(
        session, [r[0] for r in active_rows if (r[2], r[3]) in policy.preemption]
    )
    projects = {p.project for p in pending} | {r[1] for r in active_rows}
    orgs = dict(
        session.execute(select(Project.id, Project.org_id).where(Project.id.in_(projects))).all()
    )
    modes, shares = _live_grants(session, projects, now, policy.weights)
    in_use: dict[PartitionKey, set[int]] = defaultdict(set)
    active = []
    for row in active_rows:
        job_id, project_id, site, part, state, started, ids, kind, stopping = row
        if site is None or part is None:
            continue
        s = specs.cached(job_id)
        start = as_utc(started) if started else now
        # A job being stopped (cancelled, preempted) frees its accelerators any moment now.
        ends_in = 0.0 if stopping else (start - now).total_seconds() + s.walltime_s
        # A Slurm job counts as running once Slurm starts it; a job the platform runs itself
        # holds its accelerators from placement on.
        running = state == JobState.RUNNING.value or kind != ExecutorKind.SLURM.value
        active.append(
            Active(
                job_id,
                (site, part),
                s.accelerators,
                s.cpus,
                ends_in,
                running,
                tuple(ids or ()),
                s.preemptible and not stopping,
                modes.get(project_id),
                priorities.get(job_id, 0),
            )
        )
        in_use[(site, part)].update(ids or ())
    degraded = slurm_sites.degraded_sites(session)
    configured = set(configured)
    partitions = []
    for site_obj, part_obj in catalog.partitions():
        healthy = part_obj.executor in configured and site_obj.id not in degraded
        why = (
            f"site degraded: {degraded[site_obj.id]}"[:300]
            if site_obj.id in degraded
            else f"no {part_obj.executor.value} executor configured"
        )
        partitions.append(
            PartitionState(
                site_obj,
                part_obj,
                healthy=healthy,
                health_reason="" if healthy else why,
                transient=site_obj.id in degraded,
                window=policy.slurm_window if part_obj.executor is ExecutorKind.SLURM else None,
                preemption=(site_obj.id, part_obj.id) in policy.preemption,
            )
        )
    pending_projects = {p.project for p in pending}
    suspended = dict(
        session.execute(
            select(Project.id, Project.suspended_reason).where(
                Project.id.in_(pending_projects), Project.suspended_at.is_not(None)
            )
        ).all()
    )
    snapshot = Snapshot(
        partitions=tuple(partitions),
        pending=tuple(pending),
        active=tuple(active),
        budgets=allocations.budgets(session, pending_projects, now),
        accounts=_accounts(session, projects, orgs, shares, now, policy.half_life_s),
        modes=modes,
        suspended={k: v or "" for k, v in suspended.items()},
        org_rules=tenancy.org_rules(session, {p.org for p in pending}),
    )
    return snapshot, reasons, in_use
