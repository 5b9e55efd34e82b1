"""The dispatch and executor loops as reconcilers: read desired and actual state, act on the
difference; safe to run twice and to crash at any line ("compute, then act")."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from aifactory.db.engine import Database
from aifactory.db.tables import Job, Project
from aifactory.domain.catalog import Catalog, ExecutorKind
from aifactory.domain.execution import (
    Executor,
    LaunchRequest,
    PollResult,
    ProcessOutcome,
    SiteUnavailable,
    Tracked,
)
from aifactory.domain.jobs import JobState
from aifactory.domain.jobspec import JobSpec
from aifactory.scheduling.placement import (
    Budget,
    Candidate,
    Demand,
    Load,
    PartitionKey,
    Placement,
    place,
    summarise,
)
from aifactory.services import allocations, audit, slurm_sites
from aifactory.services.batch import WriteBatch
from aifactory.services.ids import as_utc, utcnow
from aifactory.services.job_results import apply_result
from aifactory.services.jobs import demand_of, job_workdir, transition

log = logging.getLogger(__name__)

ACTIVE = (JobState.PLACED.value, JobState.SUBMITTED.value, JobState.RUNNING.value)


@dataclass
class _PartitionUse:
    used_ids: set[int]
    used: int
    used_cpus: int
    releases: list[tuple[float, int, int]]


@dataclass(frozen=True)
class _Placed:
    """What launching a placed job needs, as the placing transaction wrote it."""

    workdir: Path
    kind: ExecutorKind
    ids: list[int]
    site: str
    partition: str
    allocation_id: str
    attempts: int
    placed_at: float

    @classmethod
    def of(cls, job: Job) -> _Placed:
        assert job.workdir and job.executor
        return cls(
            Path(job.workdir),
            ExecutorKind(job.executor),
            list(job.accelerator_ids or []),
            job.site_id or "",
            job.partition_id or "",
            job.allocation_id or "",
            job.launch_attempts or 0,
            as_utc(job.updated_at).timestamp(),
        )


def _hold_reason(candidates: tuple[Candidate, ...], never: bool) -> str:
    if never:
        return ("no partition can run this job: " + summarise(candidates))[:2000]
    # Stable while nothing changes (no countdown), so a waiting job is not rewritten each pass.
    full = ", ".join(f"{c.site}/{c.partition}" for c in candidates if c.feasible)
    if full:
        return f"waiting for capacity on {full}"[:2000]
    retry = [c for c in candidates if c.retry]
    if any(c.reason.startswith("unhealthy") for c in retry):
        return f"waiting for a site to answer: {summarise(retry)}"[:2000]
    return f"waiting for an allocation with hours left: {summarise(retry)}"[:2000]


_GONE = "no longer pending"


def _spend(
    budgets: dict[PartitionKey, Budget],
    key: PartitionKey,
    allocation_id: str,
    gpu_seconds: int,
    refused: str | None,
) -> None:
    """Keep this pass's view of the project's allocations in step with what was reserved (a
    refused reservation means the allocation has no room left)."""
    budget = budgets.get(key)
    if budget is None:
        return
    usable = tuple(
        (a, 0 if refused else left - gpu_seconds) if a == allocation_id else (a, left)
        for a, left in budget.usable
    )
    budgets[key] = replace(budget, usable=usable)


def _is_news(result: PollResult, current: tuple[str, str]) -> bool:
    state, reason = current
    if result.outcome is ProcessOutcome.QUEUED:
        return result.reason != reason
    if result.outcome is ProcessOutcome.RUNNING:
        return state != JobState.RUNNING.value
    return True


class Dispatcher:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        executors: Mapping[ExecutorKind, Executor],
        jobs_dir: Path,
        *,
        batch: int = 500,
        before_launch: Callable[[str, str], None] | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.executors = executors
        self.jobs_dir = jobs_dir
        self.batch = batch
        # Called with (site, allocation id) before a job is handed to a Slurm site, so the
        # allocation's account exists there first.
        self.before_launch = before_launch
        self._partitions = {(s.id, p.id): p for s, p in catalog.partitions()}
        self._cancels_sent: set[str] = set()  # cancels handed over, not repeated each pass

    # -- step 1: what is in use ------------------------------------------------------------
    def _usage(self, session: Session, now: datetime) -> dict[PartitionKey, _PartitionUse]:
        use: dict[PartitionKey, _PartitionUse] = defaultdict(lambda: _PartitionUse(set(), 0, 0, []))
        rows = session.execute(
            select(
                Job.site_id, Job.partition_id, Job.spec, Job.accelerator_ids, Job.started_at
            ).where(Job.state.in_(ACTIVE))
        ).all()
        for site_id, part_id, spec, ids, started_at in rows:
            if site_id is None or part_id is None:
                continue
            res = spec["resources"]
            n = int(res["accelerators_per_node"]) * int(res["nodes"])
            c = int(res["cpus"]) * int(res["nodes"])
            u = use[(site_id, part_id)]
            u.used += n
            u.used_cpus += c
            u.used_ids.update(ids or [])
            start = as_utc(started_at) if started_at else now
            u.releases.append(((start - now).total_seconds() + int(res["walltime"]), n, c))
        return use

    def _loads(
        self, use: Mapping[PartitionKey, _PartitionUse], degraded: Mapping[str, str]
    ) -> dict[PartitionKey, Load]:
        loads = {}
        for key, part in self._partitions.items():
            u = use.get(key)
            healthy = part.executor in self.executors and key[0] not in degraded
            why = (
                f"site degraded: {degraded[key[0]]}"[:300]
                if key[0] in degraded
                else f"no {part.executor.value} executor configured"
            )
            # Only this machine's CPUs are ours to count; a Slurm site counts its own.
            cpus = part.cpus_per_node * part.nodes - (u.used_cpus if u else 0)
            loads[key] = Load(
                free_accelerators=part.total_accelerators - (u.used if u else 0),
                releases=tuple(u.releases) if u else (),
                healthy=healthy,
                health_reason="" if healthy else why,
                transient=key[0] in degraded,
                free_cpus=cpus if part.executor is ExecutorKind.LOCAL else None,
            )
        return loads

    # -- step 2: place and launch ---------------------------------------------------------
    def dispatch_once(self) -> int:
        """Place pending jobs that can start now and hand them to their executors."""
        now = utcnow()
        launched = self._retry_due(now)
        with self.db.read() as session:
            pending = list(
                session.execute(
                    select(Job.id, Job.project_id, Job.spec, Job.reason)
                    .where(Job.state == JobState.PENDING.value)
                    .order_by(Job.created_at, Job.id)
                    .limit(self.batch)
                ).all()
            )
            if not pending:
                return launched
            use = self._usage(session, now)
            budgets = allocations.budgets(session, (p for _, p, _, _ in pending), now)
            degraded = slurm_sites.degraded_sites(session)
            suspended = dict(
                session.execute(
                    select(Project.id, Project.suspended_reason).where(
                        Project.id.in_({p for _, p, _, _ in pending}),
                        Project.suspended_at.is_not(None),
                    )
                ).all()
            )
        loads = self._loads(use, degraded)
        holds: list[tuple[str, str, tuple[Candidate, ...] | None]] = []
        # Placement is pure: jobs asking for the same thing get the same answer until a
        # placement changes the loads (a queue of identical jobs costs one evaluation).
        memo: dict[tuple[str, Demand], Placement] = {}
        for job_id, project_id, raw_spec, current_reason in pending:
            if project_id in suspended:
                reason = f"project suspended by an operator: {suspended[project_id]}"[:2000]
                if reason != current_reason:
                    holds.append((job_id, reason, None))
                continue
            spec = JobSpec.model_validate(raw_spec)
            demand = demand_of(spec)
            budget = budgets.setdefault(project_id, {})
            placement = memo.get((project_id, demand)) or memo.setdefault(
                (project_id, demand), place(demand, self.catalog, loads, budget)
            )
            chosen = placement.chosen
            if chosen is None or (chosen.start_in_s or 0) > 0:
                never = placement.never
                reason = _hold_reason(placement.candidates, never)
                if never or reason != current_reason:
                    holds.append((job_id, reason, placement.candidates if never else None))
                continue
            key = (chosen.site, chosen.partition)
            part = self._partitions[key]
            need = spec.resources.total_accelerators
            u = use[key]
            # Device indices matter where the platform runs the job; a Slurm site binds its own.
            ids = (
                []
                if part.executor is ExecutorKind.SLURM
                else [i for i in range(part.total_accelerators) if i not in u.used_ids][:need]
            )
            assert chosen.allocation_id is not None
            gpu_seconds = need * spec.resources.walltime_s
            placed = self._mark_placed(
                job_id, placement, chosen, part.executor, ids, gpu_seconds, now
            )
            memo.clear()
            if placed is _GONE:
                continue
            refused = placed if isinstance(placed, str) else None
            _spend(budget, key, chosen.allocation_id, gpu_seconds, refused)
            if isinstance(placed, str):
                continue
            cpus = spec.resources.cpus * spec.resources.nodes
            u.used += need
            u.used_cpus += cpus
            u.used_ids.update(ids)
            u.releases.append((float(spec.resources.walltime_s), need, cpus))
            old = loads[key]
            loads[key] = replace(
                old,
                free_accelerators=old.free_accelerators - need,
                releases=tuple(u.releases),
                free_cpus=None if old.free_cpus is None else old.free_cpus - cpus,
            )
            if self._launch(job_id, spec, placed):
                launched += 1
        if holds:
            self._hold(holds)
        return launched

    def _hold(self, holds: list[tuple[str, str, tuple[Candidate, ...] | None]]) -> None:
        """Jobs that cannot start now keep waiting with the reason; jobs no partition can
        ever run fail with it. One transaction for the whole pass."""
        with self.db.write() as session:
            for job_id, reason, never in holds:
                job = session.get(Job, job_id)
                if job is None or job.state != JobState.PENDING.value:
                    continue
                if never is not None:
                    job.placement = {"chosen": None, "candidates": [c.as_dict() for c in never]}
                    transition(session, job, JobState.FAILED, reason)
                else:
                    job.reason = reason

    def _mark_placed(
        self,
        job_id: str,
        placement: Placement,
        chosen: Candidate,
        executor: ExecutorKind,
        ids: list[int],
        gpu_seconds: int,
        now: datetime,
    ) -> _Placed | str:
        """Place the job and reserve its GPU-hours in one transaction; what launching it
        needs, else why not (the reservation is refused when the hours are gone meanwhile)."""
        site_id, part_id = chosen.site, chosen.partition
        assert chosen.allocation_id is not None
        with self.db.write() as session:
            # Locked: on PostgreSQL a second dispatcher (one that lost its lease and has not
            # noticed yet) must see this job placed, not pending, once we commit.
            job = session.get(Job, job_id, with_for_update=True, populate_existing=True)
            if job is None or job.state != JobState.PENDING.value:
                return _GONE  # cancelled or placed meanwhile
            refused = allocations.reserve(session, chosen.allocation_id, job_id, gpu_seconds, now)
            if refused is not None:
                job.reason = f"waiting for an allocation with hours left: {refused}"[:2000]
                return refused
            job.allocation_id = chosen.allocation_id
            job.reserved_gpu_seconds = gpu_seconds
            job.site_id = site_id
            job.partition_id = part_id
            job.executor = executor.value
            job.accelerator_ids = ids
            job.workdir = str(job_workdir(self.jobs_dir, job.id).resolve())
            job.placement = {
                "chosen": {"site": site_id, "partition": part_id},
                "candidates": [c.as_dict() for c in placement.candidates],
            }
            transition(session, job, JobState.PLACED, f"placed on {site_id}/{part_id}")
            audit.append(
                session,
                actor=audit.SYSTEM_ACTOR,
                action="job.placement",
                object_type="job",
                object_id=job.id,
                org_id=job.org_id,
                data={
                    "site": site_id,
                    "partition": part_id,
                    "allocation_id": chosen.allocation_id,
                    "reserved_gpu_seconds": gpu_seconds,
                },
            )
            return _Placed(
                Path(job.workdir),
                executor,
                ids,
                site_id,
                part_id,
                chosen.allocation_id,
                job.launch_attempts or 0,
                now.timestamp(),
            )

    def _launch(
        self, job_id: str, spec: JobSpec, placed: _Placed | None = None, *, adopt: bool = False
    ) -> bool:
        if placed is None:  # a retry or a recovery: read what the placing transaction wrote
            with self.db.read() as session:
                job = session.get(Job, job_id)
                assert job is not None
                placed = _Placed.of(job)
        workdir, kind, ids = placed.workdir, placed.kind, placed.ids
        site, part, allocation_id = placed.site, placed.partition, placed.allocation_id
        attempts, placed_at = placed.attempts, placed.placed_at
        executor = self.executors[kind]
        res = spec.resources
        accelerator = (
            self._partitions[(site, part)].accelerator if (site, part) in self._partitions else ""
        )
        request = LaunchRequest(
            job_id=job_id,
            command=spec.run or "",
            env=dict(spec.env),
            workdir=workdir,
            walltime_s=res.walltime_s,
            accelerator_ids=ids,
            info={
                "site": site,
                "partition": part,
                "account": allocation_id,
                "accelerator": accelerator,
            },
            script=spec.script,
            name=spec.name,
            nodes=res.nodes,
            accelerators_per_node=res.accelerators_per_node,
            cpus=res.cpus,
            memory_gb=res.memory_gb,
        )
        try:
            if kind is ExecutorKind.SLURM and self.before_launch is not None:
                self.before_launch(site, allocation_id)
            # After a crash between launch and its commit the job may already run: adopt it
            # rather than start it twice.
            launched = (
                executor.adopt(job_id, workdir, site=site, since=placed_at - 60) if adopt else None
            ) or executor.launch(request)
        except SiteUnavailable as exc:
            # The site did not answer: the job keeps its place and is tried again later (and
            # looked for first, in case the submission got through before the error).
            self._retry_later(job_id, site, attempts + 1, str(exc))
            return False
        except Exception as exc:  # the executor's own failure becomes the job's reason
            log.exception("launch of %s failed", job_id)
            with self.db.write() as session:
                job = session.get(Job, job_id)
                if job is not None and job.state == JobState.PLACED.value:
                    transition(session, job, JobState.FAILED, f"launch failed: {exc}"[:2000])
            return False
        with self.db.write() as session:
            job = session.get(Job, job_id)
            assert job is not None
            job.external_id = launched.external_id
            if launched.workdir is not None:
                job.workdir = str(launched.workdir)
            if job.state == JobState.PLACED.value:
                job.started_at = datetime.fromtimestamp(launched.started_at, UTC)
                job.next_attempt_at = None
                transition(session, job, JobState.SUBMITTED, f"handed to the {kind.value} executor")
                return True
        # Cancelled between placement and launch: stop what was just started.
        executor.cancel(Tracked(job_id, launched.external_id, workdir))
        return False

    def _retry_later(self, job_id: str, site: str, attempts: int, error: str) -> None:
        now = utcnow()
        due = now + slurm_sites.retry_delay(attempts)
        with self.db.write() as session:
            job = session.get(Job, job_id)
            if job is None or job.state != JobState.PLACED.value:
                return
            job.launch_attempts = attempts
            job.next_attempt_at = due
            job.reason = (
                f"waiting for site {site} to answer (attempt {attempts}, next at "
                f"{due:%H:%M:%S} UTC): {error}"
            )[:2000]
        slurm_sites.record_health(self.db, {site: error}, now)

    def _retry_due(self, now: datetime) -> int:
        """Submissions whose site did not answer, once their next try is due."""
        with self.db.read() as session:
            rows = session.execute(
                select(Job.id, Job.spec).where(
                    Job.state == JobState.PLACED.value,
                    Job.next_attempt_at.is_not(None),
                    Job.next_attempt_at <= now,
                )
            ).all()
        return sum(
            self._launch(job_id, JobSpec.model_validate(spec), adopt=True) for job_id, spec in rows
        )

    # -- step 3: follow what runs ----------------------------------------------------------
    def poll_once(self, kinds: Collection[ExecutorKind] | None = None) -> int:
        """Ask each executor, in one batch, about every job it runs; apply what changed."""
        with self.db.read() as session:
            rows = session.execute(
                select(
                    Job.id,
                    Job.executor,
                    Job.external_id,
                    Job.workdir,
                    Job.cancel_requested,
                    Job.state,
                    Job.reason,
                ).where(Job.state.in_((JobState.SUBMITTED.value, JobState.RUNNING.value)))
            ).all()
        by_kind: dict[ExecutorKind, list[Tracked]] = defaultdict(list)
        known: dict[str, tuple[str, str]] = {}
        for job_id, kind, external_id, workdir, cancel_requested, state, reason in rows:
            if kind is None or external_id is None or workdir is None:
                continue
            if kinds is not None and ExecutorKind(kind) not in kinds:
                continue
            tracked = Tracked(job_id, external_id, Path(workdir))
            executor = self.executors.get(ExecutorKind(kind))
            if executor is None:
                continue
            if cancel_requested and job_id not in self._cancels_sent:
                with contextlib.suppress(SiteUnavailable):  # asked again next pass
                    executor.cancel(tracked)
                    self._cancels_sent.add(job_id)
            by_kind[ExecutorKind(kind)].append(tracked)
            known[job_id] = (state, reason)
        changed = 0
        for kind, batch in by_kind.items():
            # Only what changed is written: a queue of waiting jobs costs no transaction.
            news = [r for r in self.executors[kind].poll(batch) if _is_news(r, known[r.job_id])]
            changed += self.apply(news)
        self._cancels_sent.intersection_update(known)
        return changed

    def apply(self, results: list[PollResult], chunk: int = 2000) -> int:
        """Apply what executors reported, a chunk of jobs per transaction: the jobs' rows are
        loaded at once, nothing is flushed until the end, and the allocations' ledger rows go
        in as one batch (a sync pass may end thousands of Slurm jobs)."""
        changed = 0
        for i in range(0, len(results), chunk):
            part = {r.job_id: r for r in results[i : i + chunk]}
            with self.db.write() as session:
                batch = WriteBatch()
                with session.no_autoflush:
                    # The placement record (every partition's verdict) is the big column,
                    # and not needed here.
                    jobs = session.execute(
                        select(Job).options(defer(Job.placement)).where(Job.id.in_(part))
                    ).scalars()
                    for job in jobs:
                        changed += apply_result(session, job, part[job.id], batch)
                session.flush()  # the jobs' new states first, then the rows that follow them
                batch.flush(session)
        return changed

    def recover(self) -> int:
        """On taking over the executor loop: jobs left ``placed`` by a process that died
        between placement and launch are launched again (or failed, when their executor
        is gone). Jobs already submitted are re-adopted by the next poll."""
        with self.db.read() as session:
            rows = session.execute(
                select(Job.id, Job.spec, Job.executor).where(Job.state == JobState.PLACED.value)
            ).all()
        count = 0
        for job_id, raw_spec, kind in rows:
            if kind is None or ExecutorKind(kind) not in self.executors:
                with self.db.write() as session:
                    job = session.get(Job, job_id)
                    if job is not None and job.state == JobState.PLACED.value:
                        transition(session, job, JobState.FAILED, "executor no longer configured")
                continue
            if self._launch(job_id, JobSpec.model_validate(raw_spec), adopt=True):
                count += 1
        return count
