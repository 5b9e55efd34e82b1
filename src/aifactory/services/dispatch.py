"""The dispatch and executor loops as reconcilers: read desired and actual state, act on the
difference; safe to run twice and to crash at any line ("compute, then act")."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import defer

from aifactory.db.engine import Database
from aifactory.db.tables import Job
from aifactory.domain.catalog import Catalog, ExecutorKind
from aifactory.domain.execution import (
    Executor,
    PollResult,
    ProcessOutcome,
    SiteUnavailable,
    Tracked,
)
from aifactory.domain.jobs import JobState
from aifactory.domain.jobspec import JobSpec
from aifactory.scheduling.cycle import cycle
from aifactory.scheduling.model import Action, Config, Decision, Preemption
from aifactory.services import allocations, audit, slurm_sites, snapshot
from aifactory.services.batch import WriteBatch
from aifactory.services.ids import as_utc, utcnow
from aifactory.services.job_results import apply_result
from aifactory.services.jobs import job_workdir, transition
from aifactory.services.launching import Placed, launch_request
from aifactory.services.snapshot import Policy, SpecCache

log = logging.getLogger(__name__)


def _placed(job: Job) -> Placed:
    assert job.workdir and job.executor
    return Placed(
        Path(job.workdir),
        ExecutorKind(job.executor),
        list(job.accelerator_ids or []),
        job.site_id or "",
        job.partition_id or "",
        job.allocation_id or "",
        job.launch_attempts or 0,
        as_utc(job.updated_at).timestamp(),
        job.resolved,
        job.array_job_id,
        job.array_index,
    )


_GONE = "no longer pending"


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
        policy: Policy | None = None,
        batch: int | None = None,
        before_launch: Callable[[str, str], None] | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.executors = executors
        self.jobs_dir = jobs_dir
        self.policy = policy or Policy()
        self.batch = batch  # at most this many pending jobs per cycle (oldest first); None: all
        # Called with (site, allocation id) before a job is handed to a Slurm site, so the
        # allocation's account exists there first.
        self.before_launch = before_launch
        # Called with (job, site, executor kind, workdir) before a job is launched: puts the
        # datasets it reads in place and returns the variables naming them.
        self.prepare_inputs: Callable[[str, str, ExecutorKind, Path], dict[str, str]] | None = None
        # ... and with the jobs that just ended, to take their datasets away again.
        self.release_inputs: Callable[[list[str]], None] | None = None
        self.specs = SpecCache()
        self._partitions = {(s.id, p.id): p for s, p in catalog.partitions()}
        self._cancels_sent: set[str] = set()  # cancels handed over, not repeated each pass

    # -- one scheduling cycle: snapshot, decide, act ----------------------------------------
    def dispatch_once(self) -> int:
        """Run one cycle over the pending jobs and act on its decisions: hand placed jobs to
        their executors, keep the others waiting with the reason, fail the ones no partition
        can ever run, stop the victims of preemption."""
        now = utcnow()
        launched = self._retry_due(now)
        with self.db.read() as session:
            snap, reasons, in_use = snapshot.build(
                session, self.catalog, self.executors, self.specs, self.policy, now, self.batch
            )
        if not snap.pending:
            self.specs.forget(a.id for a in snap.active)
            return launched
        decisions = cycle(snap, now.timestamp(), Config(weights=self.policy.weights))
        holds = [
            d
            for d in decisions.decisions
            if d.action in (Action.FAIL, Action.CANCEL)
            or (d.action is Action.HOLD and d.reason != reasons.get(d.job_id))
        ]
        if decisions.preemptions:
            self._preempt(decisions.preemptions)
        for d in decisions.placed:
            assert d.chosen is not None
            key = d.chosen.key
            part = self._partitions[key]
            parsed = self.specs.cached(d.job_id)
            assert d.need is not None
            # Device indices matter where the platform runs the job; a Slurm site binds its own.
            used = in_use.setdefault(key, set())
            ids = (
                []
                if part.executor is ExecutorKind.SLURM
                else [i for i in range(part.total_accelerators) if i not in used][
                    : d.need.accelerators
                ]
            )
            placed = self._mark_placed(d, part.executor, ids, d.need.gpu_seconds, now)
            if isinstance(placed, str):
                continue  # gone meanwhile, or the allocation's hours went to another process
            used.update(ids)
            if self._launch(d.job_id, parsed.spec, placed):
                launched += 1
        if holds:
            self._hold(holds)
        self.specs.forget([j.id for j in snap.pending] + [a.id for a in snap.active])
        return launched

    def _hold(self, holds: list[Decision]) -> None:
        """Jobs that cannot start now keep waiting with the reason (and every partition's
        verdict); jobs no partition can ever run fail with it. One transaction for the pass."""
        with self.db.write() as session:
            for i in range(0, len(holds), 2000):
                chunk = {d.job_id: d for d in holds[i : i + 2000]}
                jobs = session.execute(select(Job).where(Job.id.in_(chunk))).scalars()
                for job in jobs:
                    if job.state != JobState.PENDING.value:
                        continue
                    d = chunk[job.id]
                    job.placement = d.placement_record()
                    if d.action is Action.FAIL:
                        transition(session, job, JobState.FAILED, d.reason)
                    elif d.action is Action.CANCEL:
                        transition(session, job, JobState.CANCELLED, d.reason)
                    else:
                        job.reason = d.reason

    def _preempt(self, preemptions: tuple[Preemption, ...]) -> None:
        """Victims are stopped through the executor loop (as a cancel), each with an audit
        event naming the job it makes room for."""
        with self.db.write() as session:
            for p in preemptions:
                for victim_id in p.victims:
                    victim = session.get(Job, victim_id)
                    if victim is None or JobState(victim.state).is_final:
                        continue
                    if victim.cancel_requested:
                        continue
                    victim.cancel_requested = True
                    victim.reason = (
                        f"preempted by job {p.job_id} (higher priority) on {p.key[0]}/{p.key[1]}"
                    )
                    victim.updated_at = utcnow()
                    audit.append(
                        session,
                        actor=audit.SYSTEM_ACTOR,
                        action="job.preempted",
                        object_type="job",
                        object_id=victim.id,
                        org_id=victim.org_id,
                        data={"by": p.job_id, "site": p.key[0], "partition": p.key[1]},
                    )

    def _mark_placed(
        self,
        decision: Decision,
        executor: ExecutorKind,
        ids: list[int],
        gpu_seconds: int,
        now: datetime,
    ) -> Placed | str:
        """Place the job and reserve its GPU-hours in one transaction; what launching it
        needs, else why not (the reservation is refused when the hours are gone meanwhile)."""
        chosen = decision.chosen
        assert chosen is not None
        site_id, part_id = chosen.site, chosen.partition
        job_id = decision.job_id
        with self.db.write() as session:
            # Locked: on PostgreSQL a second dispatcher (one that lost its lease and has not
            # noticed yet) must see this job placed, not pending, once we commit.
            job = session.get(Job, job_id, with_for_update=True, populate_existing=True)
            if job is None or job.state != JobState.PENDING.value:
                return _GONE  # cancelled or placed meanwhile
            if chosen.allocation_id is not None:
                refused = allocations.reserve(
                    session, chosen.allocation_id, job_id, gpu_seconds, now
                )
                if refused is not None:
                    job.reason = f"waiting for an allocation with hours left: {refused}"[:2000]
                    return refused
                job.allocation_id = chosen.allocation_id
                job.reserved_gpu_seconds = gpu_seconds
            job.site_id = site_id
            job.partition_id = part_id
            job.executor = executor.value
            job.accelerator_ids = ids
            job.resolved = decision.need.as_dict() if decision.need is not None else None
            job.workdir = str(job_workdir(self.jobs_dir, job.id).resolve())
            job.placement = decision.placement_record()
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
            return Placed(
                Path(job.workdir),
                executor,
                ids,
                site_id,
                part_id,
                chosen.allocation_id or "",
                job.launch_attempts or 0,
                now.timestamp(),
                job.resolved,
                job.array_job_id,
                job.array_index,
            )

    def _launch(
        self, job_id: str, spec: JobSpec, placed: Placed | None = None, *, adopt: bool = False
    ) -> bool:
        if placed is None:  # a retry or a recovery: read what the placing transaction wrote
            with self.db.read() as session:
                job = session.get(Job, job_id)
                assert job is not None
                placed = _placed(job)
        workdir, kind = placed.workdir, placed.kind
        site, allocation_id = placed.site, placed.allocation_id
        attempts, placed_at = placed.attempts, placed.placed_at
        executor = self.executors[kind]
        request = launch_request(
            job_id, spec, placed, self._partitions.get((site, placed.partition))
        )
        try:
            if kind is ExecutorKind.SLURM and self.before_launch is not None:
                self.before_launch(site, allocation_id)
            if spec.datasets and self.prepare_inputs is not None:
                self._say(job_id, f"staging {', '.join(spec.datasets)} to {site}")
                env = self.prepare_inputs(job_id, site, kind, workdir)
                request = replace(request, platform_env={**request.platform_env, **env})
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
            job.logs = dict(launched.logs) or None
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
                ).where(
                    Job.state.in_((JobState.SUBMITTED.value, JobState.RUNNING.value)),
                    Job.array_tasks.is_(None),
                )
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
            if self.release_inputs is not None:
                self.release_inputs(list(part))
        return changed

    def _say(self, job_id: str, reason: str) -> None:
        """A placed job's reason while it waits for its launch (staging its datasets)."""
        with self.db.write() as session:
            job = session.get(Job, job_id)
            if job is not None and job.state == JobState.PLACED.value:
                job.reason = reason[:2000]
                job.updated_at = utcnow()

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
