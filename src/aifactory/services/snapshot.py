"""Build the scheduling cycle's snapshot from the database ("compute, then act": this reads,
``scheduling.cycle`` decides, the dispatcher acts)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.db.tables import Allocation, Job, Project, UsageRecord
from aifactory.domain.access import AccessMode
from aifactory.domain.arrays import ArraySpec
from aifactory.domain.catalog import Catalog, ExecutorKind
from aifactory.domain.dependencies import Condition, Dependency, Ref
from aifactory.domain.dependencies import Kind as DependencyKind
from aifactory.domain.jobs import FINAL_STATES, JobState
from aifactory.domain.jobspec import JobSpec
from aifactory.scheduling.model import (
    Active,
    Budget,
    Demand,
    PartitionKey,
    PartitionState,
    PendingJob,
    Snapshot,
)
from aifactory.scheduling.priority import DEFAULT_HALF_LIFE_S, Account, Weights, decayed
from aifactory.services import allocations, slurm_sites, tenancy
from aifactory.services.data import placement as data_placement
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
    array: ArraySpec | None
    after: Dependency | None


class SpecCache:
    """A job's spec never changes after submission: parse it once per process."""

    def __init__(self) -> None:
        self._by_job: dict[str, ParsedSpec] = {}

    def get(self, job_id: str, raw: dict[str, object]) -> ParsedSpec:
        hit = self._by_job.get(job_id)
        if hit is None:
            spec = JobSpec.model_validate(raw)
            hit = self._by_job[job_id] = ParsedSpec(
                spec, demand_of(spec), spec.preemptible, spec.array_spec, spec.dependency_spec
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


def _held(resolved: dict[str, Any] | None, d: Demand) -> tuple[int, int, int]:
    """Accelerators, CPUs and walltime a placed job holds (what its placement resolved;
    for jobs placed before that was kept, its demand's fixed figures)."""
    if resolved:
        return (
            int(resolved["accelerators"]),
            int(resolved["nodes"]) * int(resolved["cpus"]),
            int(resolved["walltime_s"]),
        )
    nodes = d.nodes or 1
    return d.accelerators, (d.cpus or 1) * nodes, d.walltime_s or 3600


class Waiting(NamedTuple):
    """A waiting job as dependencies see it (singleton compares user and name)."""

    id: str
    user_id: str
    name: str
    created_at: datetime
    after: Dependency | None


def _dependencies(
    session: Session, rows: Sequence[Waiting]
) -> tuple[dict[str, Dependency], dict[str, Ref]]:
    """Each waiting job's dependency (singleton turned into afterany on the earlier active
    jobs of the same user and name) and the jobs they name, as they are now."""
    deps: dict[str, Dependency] = {r.id: r.after for r in rows if r.after is not None}
    singles = {r.id: r for r in rows if r.id in deps and deps[r.id].singleton}
    if singles:
        names = {(r.user_id, r.name) for r in singles.values()}
        earlier = session.execute(
            select(Job.id, Job.user_id, Job.name, Job.created_at).where(
                Job.name.in_({n for _, n in names}),
                Job.state.not_in([s.value for s in FINAL_STATES]),
                Job.array_tasks.is_(None),
            )
        ).all()
        for job_id, row in singles.items():
            before = tuple(
                Condition(DependencyKind.AFTERANY, e.id)
                for e in earlier
                if (e.user_id, e.name) == (row.user_id, row.name)
                and e.id != job_id
                and (as_utc(e.created_at), e.id) < (as_utc(row.created_at), row.id)
            )
            dep = deps[job_id]
            deps[job_id] = Dependency(dep.text, dep.conditions + before, dep.any_of)
    named = {i for dep in deps.values() for i in dep.job_ids}
    refs: dict[str, Ref] = {}
    corr = {
        c.job_id
        for dep in deps.values()
        for c in dep.conditions
        if c.kind is DependencyKind.AFTERCORR
    }
    ids = sorted(named)
    for i in range(0, len(ids), 5000):
        for job_id, state, started, ended, tasks in session.execute(
            select(Job.id, Job.state, Job.started_at, Job.ended_at, Job.array_tasks).where(
                Job.id.in_(ids[i : i + 5000])
            )
        ).all():
            by_index = None
            if tasks is not None and job_id in corr:
                by_index = {
                    int(index or 0): JobState(task_state)
                    for index, task_state in session.execute(
                        select(Job.array_index, Job.state).where(Job.array_job_id == job_id)
                    ).all()
                }
            refs[job_id] = Ref(
                JobState(state),
                as_utc(started).timestamp() if started else None,
                as_utc(ended).timestamp() if ended else None,
                by_index,
            )
    return deps, refs


def _budgets_by_partition(
    catalog: Catalog, raw: dict[str, dict[PartitionKey, Budget]]
) -> dict[str, dict[PartitionKey, Budget]]:
    """Per project, each partition's budget: a partition that draws on another one's
    allocations (LUMI's small-g on standard-g) gets the same Budget, so a promise made on
    either counts against both."""
    draws = [
        ((site.id, part.id), (site.id, part.draws_on))
        for site, part in catalog.partitions()
        if part.draws_on is not None
    ]
    if not draws:
        return raw
    out = {}
    for project, per_key in raw.items():
        expanded = dict(per_key)
        for key, source in draws:
            if source in per_key and key not in per_key:
                expanded[key] = per_key[source]
        out[project] = expanded
    return out


def build(
    session: Session,
    catalog: Catalog,
    configured: Iterable[ExecutorKind],
    specs: SpecCache,
    policy: Policy,
    now: datetime,
    limit: int | None = None,
    extra: Sequence[tuple[PendingJob, str, str]] = (),
) -> tuple[Snapshot, dict[str, str], dict[PartitionKey, set[int]]]:
    """The snapshot, each pending job's current reason (so unchanged holds are not rewritten)
    and the device ids in use per partition (for jobs the platform runs itself). An array's
    own row is never a pending or active job: its tasks are. ``extra`` adds jobs not in the
    database, each with its user and name (a dry run: where would this job go?)."""
    query = (
        select(
            Job.id,
            Job.project_id,
            Job.org_id,
            Job.reason,
            Job.created_at,
            Job.array_job_id,
            Job.array_index,
            Job.user_id,
            Job.name,
        )
        .where(Job.state == JobState.PENDING.value, Job.array_tasks.is_(None))
        .order_by(Job.created_at, Job.id)
    )
    pending_rows = session.execute(query if limit is None else query.limit(limit)).all()
    # Specs never change: only those not parsed yet are read (a big queue costs no JSON).
    specs.load(session, [r[0] for r in pending_rows])
    deps, refs = _dependencies(
        session,
        [
            *(
                Waiting(r.id, r.user_id, r.name, r.created_at, specs.cached(r.id).after)
                for r in pending_rows
            ),
            *(
                Waiting(
                    job.id,
                    user,
                    name,
                    datetime.fromtimestamp(job.submitted_at, now.tzinfo),
                    job.after,
                )
                for job, user, name in extra
            ),
        ],
    )
    reasons: dict[str, str] = {}
    pending = []
    arrays: dict[str, int] = {}  # array -> its throttle
    residencies = data_placement.pending_residencies(session)
    for row in pending_rows:
        job_id, project_id, org_id, reason, created, array_id, index = row[:7]
        s = specs.cached(job_id)
        reasons[job_id] = reason
        if array_id is not None and s.array is not None and s.array.throttle:
            arrays[array_id] = s.array.throttle
        pending.append(
            PendingJob(
                job_id,
                project_id,
                org_id,
                s.demand,
                as_utc(created).timestamp(),
                s.preemptible,
                residencies.get(job_id),
                array_id,
                index or 0,
                deps.get(job_id),
                s.spec.kill_on_invalid_dep,
            )
        )
    for job, _, _ in extra:  # a dry run's job; the first task of an array stands for it
        pending.append(replace(job, after=deps.get(job.id, job.after)))
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
            Job.resolved,
            Job.array_job_id,
        ).where(Job.state.in_(ACTIVE), Job.array_tasks.is_(None))
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
    in_array: dict[str, int] = defaultdict(int)
    active = []
    for row in active_rows:
        values: tuple[Any, ...] = tuple(row)
        job_id, project_id, site, part, state, started, ids, kind, stopping, resolved = values[:10]
        if values[10] is not None:
            in_array[values[10]] += 1
        if site is None or part is None:
            continue
        s = specs.cached(job_id)
        accelerators, cpus, walltime_s = _held(resolved, s.demand)
        start = as_utc(started) if started else now
        # A job being stopped (cancelled, preempted) frees its accelerators any moment now.
        ends_in = 0.0 if stopping else (start - now).total_seconds() + walltime_s
        # A Slurm job counts as running once Slurm starts it; a job the platform runs itself
        # holds its accelerators from placement on.
        running = state == JobState.RUNNING.value or kind != ExecutorKind.SLURM.value
        active.append(
            Active(
                job_id,
                (site, part),
                accelerators,
                cpus,
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
        budgets=_budgets_by_partition(catalog, allocations.budgets(session, pending_projects, now)),
        accounts=_accounts(session, projects, orgs, shares, now, policy.half_life_s),
        modes=modes,
        suspended={k: v or "" for k, v in suspended.items()},
        org_rules=tenancy.org_rules(session, {p.org for p in pending}),
        throttles={a: (limit, in_array.get(a, 0)) for a, limit in arrays.items()},
        refs=refs,
    )
    return snapshot, reasons, in_use
