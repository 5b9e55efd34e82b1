"""One scheduling cycle: ``cycle(snapshot, now) -> decisions``. Pure: the same snapshot and
``now`` give the same decisions; nothing here reads a clock, a database or a site.

The cycle, step by step (after Kueue's scheduler):

1. **Timelines.** Each partition's free accelerators now and when the active jobs on it end.
2. **Order.** Fair Tree over organisation -> project gives each project its fair-share factor;
   each pending job gets a multifactor priority (age, fair share, size, access-mode QoS) and the
   queue is sorted by it (then by submission time and id).
3. **Filter.** For each job in order, every partition goes through the hard filters (computed
   once per job shape), then site health and the project's allocations on it, counting what
   this cycle has already promised to the project's earlier jobs.
4. **Score.** Every partition left gets its terms (estimated start from its timeline, runtime
   scaled by accelerator speed, energy and carbon) and a score for the job's objective.
5. **Decide.** The best partition takes the job now if it can: on a partition the platform runs,
   if it fits and does not delay the partition's reservation (EASY backfill); on a Slurm site,
   if the in-flight window has room (Slurm orders within it; a Slurm partition whose window is
   full is passed over for the next best). Otherwise the job waits; the first job waiting for
   a partition the platform runs reserves it (the shadow), or, where preemption is on, names
   the Playground jobs to stop for it. A job no partition can ever run fails with every
   partition's reason.
"""

from __future__ import annotations

import bisect
import gc
from collections import defaultdict
from collections.abc import Mapping, Sequence

from aifactory.domain.catalog import ExecutorKind
from aifactory.domain.dependencies import Status, evaluate
from aifactory.scheduling import filters, reasons
from aifactory.scheduling.fit import Need
from aifactory.scheduling.model import (
    Action,
    Active,
    Config,
    Decision,
    Decisions,
    Demand,
    Filter,
    OrgRule,
    PartitionKey,
    PartitionState,
    PendingJob,
    Preemption,
    Residency,
    Snapshot,
    Terms,
    Verdict,
)
from aifactory.scheduling.preemption import victims as find_victims
from aifactory.scheduling.priority import Factors, fair_tree
from aifactory.scheduling.score import rank, terms
from aifactory.scheduling.timeline import Timeline

Shape = tuple[Demand, Residency | None, OrgRule | None]


def _timelines(
    snap: Snapshot, by_key: Mapping[PartitionKey, list[Active]]
) -> dict[PartitionKey, Timeline]:
    out = {}
    for ps in snap.partitions:
        part = ps.partition
        active = by_key.get(ps.key, [])
        used = sum(a.accelerators for a in active)
        # Only the CPUs of partitions the platform runs on this machine are its to count.
        cpus = (
            part.cpus_per_node * part.nodes - sum(a.cpus for a in active)
            if part.executor is ExecutorKind.LOCAL
            else None
        )
        tl = Timeline(
            part.total_accelerators,
            part.total_accelerators - used,
            cpus,
            [(a.ends_in_s, a.accelerators, a.cpus) for a in active],
        )
        tl.in_flight = sum(1 for a in active if not a.running)
        out[ps.key] = tl
    return out


_Row = tuple[int, float, int, str, float, tuple[float, float, float], PendingJob]


def _order(snap: Snapshot, now: float, config: Config) -> list[_Row]:
    """The pending jobs in queue order: (-priority, submitted, array index, id, age factor,
    (fair share, size, QoS factors), job), highest priority first."""
    w = config.weights
    fair = fair_tree(snap.accounts)
    max_gpus = max((ps.partition.total_accelerators for ps in snap.partitions), default=0)
    qos_of = {p: w.qos_by_mode.get(m, 0.0) for p, m in snap.modes.items()}
    cap = w.max_age_s
    rows = []
    # (project, size) -> ((fair share, size, QoS), their weighted sum): age alone is per job.
    partial: dict[tuple[str, int], tuple[tuple[float, float, float], float]] = {}
    for job in snap.pending:
        # Inlined factors()/priority() of scheduling.priority: this loop runs once per job.
        waited = now - job.submitted_at
        age = (min(1.0, waited / cap) if waited > 0 else 0.0) if cap > 0 else 1.0
        pk = (job.project, job.demand.accelerators)
        known = partial.get(pk)
        if known is None:
            fs = fair.get(job.project, 0.0)
            size = min(1.0, pk[1] / max_gpus) if max_gpus > 0 else 0.0
            qos = qos_of.get(job.project, 0.0)
            known = partial[pk] = ((fs, size, qos), w.fairshare * fs + w.size * size + w.qos * qos)
        prio = round(w.age * age + known[1])
        # Sorted as plain tuples (ids are unique, so the job itself is never compared).
        rows.append((-prio, job.submitted_at, job.index, job.id, age, known[0], job))
    rows.sort()
    return rows


Passing = list[tuple[PartitionState, PartitionKey, Need]]


def _static(
    shape: Shape, partitions: Sequence[PartitionState]
) -> tuple[tuple[Verdict | PartitionKey, ...], Passing]:
    """Per partition (in order) its failed-filter verdict, or its key where it passes; and the
    partitions that pass, with the job's need on each."""
    demand, residency, rule = shape
    layer: list[Verdict | PartitionKey] = []
    passing = []
    for ps in partitions:
        failed = filters.check(demand, ps.site, ps.partition, residency, rule)
        if isinstance(failed, Need):
            layer.append(ps.key)
            passing.append((ps, ps.key, failed))
        else:
            layer.append(
                Verdict(
                    ps.site.id, ps.partition.id, ps.partition.executor, False, failed[1], failed[0]
                )
            )
    return tuple(layer), passing


class _Cycle:
    def __init__(self, snap: Snapshot, config: Config, now: float) -> None:
        self.snap = snap
        self.config = config
        self.now = now
        # array -> tasks placed and not ended, counting this cycle's placements
        self.in_array = {a: active for a, (_, active) in snap.throttles.items()}
        self.active_by_key: dict[PartitionKey, list[Active]] = defaultdict(list)
        for a in snap.active:
            self.active_by_key[a.key].append(a)
        self.timelines = _timelines(snap, self.active_by_key)
        self.by_key = {ps.key: ps for ps in snap.partitions}
        # Shape -> (its number, its static verdict layer, the partitions that pass).
        self.static: dict[Shape, tuple[int, tuple[Verdict | PartitionKey, ...], Passing]] = {}
        self.static_by_id: dict[
            tuple[int, int, int], tuple[int, tuple[Verdict | PartitionKey, ...], Passing]
        ] = {}
        self.left: dict[str, int] = {}  # allocation -> GPU-seconds left after this cycle's promises
        # Per partition, bumped whenever its timeline changes: outcomes scored on it go stale.
        self.pver = {ps.key: 0 for ps in snap.partitions}
        self.taken: set[str] = set()  # victims already chosen this cycle
        self.preemptions: list[Preemption] = []
        self.sick = {ps.key: self._health(ps) for ps in snap.partitions}
        self.no_alloc = {ps.key: self._no_allocation(ps.key) for ps in snap.partitions}
        self.nowhere: dict[tuple[int, tuple[PartitionKey, ...]], tuple[Action, str]] = {}
        self.outcomes: dict[
            tuple[int, tuple[PartitionKey, ...]],
            tuple[tuple[int, ...], tuple[list[tuple[Terms, int]], tuple[Verdict, ...], str]],
        ] = {}

    def _health(self, ps: PartitionState) -> Verdict | None:
        if ps.healthy:
            return None
        return Verdict(
            ps.site.id,
            ps.partition.id,
            ps.partition.executor,
            False,
            f"unhealthy: {ps.health_reason}",
            Filter.HEALTH,
            retry=ps.transient,
        )

    def _score(
        self, d: Demand, options: list[PartitionState], needs: list[Need]
    ) -> list[tuple[Terms, int]] | None:
        """The options ranked best first (index into ``options``); None where a partition can
        never hold the job (more than it has in all)."""
        slowest = min(ps.partition.peak_bf16_tflops for ps in options)
        opts = []
        for ps, n in zip(options, needs, strict=True):
            start = self.timelines[ps.key].start_estimate(
                n.accelerators, n.cpus_total, n.walltime_s
            )
            if start is None:
                return None
            part = ps.partition
            opts.append(
                (
                    terms(d, n, part, start, slowest),
                    part.executor is not ExecutorKind.SIMULATED,
                    ps.site.id,
                    part.id,
                )
            )
        return rank(d.objective, opts, self.config.balanced_time_weight)

    def _can_take(self, ps: PartitionState, n: Need) -> bool:
        tl = self.timelines[ps.key]
        if ps.window is not None:  # a Slurm site: hand over while the window has room
            return tl.in_flight < ps.window
        return tl.can_start_now(n.accelerators, n.cpus_total, n.walltime_s)

    def _take(self, ps: PartitionState, n: Need, start_s: float) -> None:
        tl = self.timelines[ps.key]
        if ps.window is not None:
            tl.in_flight += 1
            if start_s > 0:
                # Queued in Slurm, which decides when it starts; for the estimates of the jobs
                # after it, it holds its accelerators from now until its estimated end.
                tl.start(n.accelerators, n.cpus_total, start_s + n.walltime_s)
                self.pver[ps.key] += 1
                return
        tl.start(n.accelerators, n.cpus_total, float(n.walltime_s))
        self.pver[ps.key] += 1

    def _preempt(self, job: PendingJob, prio: int, ps: PartitionState, n: Need) -> str | None:
        """Where preemption is on and the partition has no reservation yet: the job reserves
        it from now, and the Playground jobs to stop for it are named. Accelerators of jobs
        already being stopped (ending at 0) count as free: no second round of victims.
        Returns the hold reason, or None when preemption cannot make room."""
        tl = self.timelines[ps.key]
        if tl.reservation is not None:
            return None
        need, need_cpus = n.accelerators, n.cpus_total
        where = f"{ps.site.id}/{ps.partition.id}"
        if tl.earliest(need, need_cpus) == 0.0:
            chosen: tuple[Active, ...] = ()  # what is being stopped already makes room
        else:
            found = find_victims(
                self.active_by_key.get(ps.key, ()),
                free=tl.free + sum(a for t, a, _ in tl.releases if t <= 0),
                free_cpus=None
                if tl.free_cpus is None
                else tl.free_cpus + sum(c for t, _, c in tl.releases if t <= 0),
                need=need,
                need_cpus=need_cpus,
                priority=prio,
                taken=self.taken,
            )
            if found is None:
                return None
            chosen = found
        for v in chosen:
            self.taken.add(v.id)
            tl.releases.remove((v.ends_in_s, v.accelerators, v.cpus))
            bisect.insort(tl.releases, (0.0, v.accelerators, v.cpus))
        tl.reserve(job.id, 0.0, need, need_cpus, float(n.walltime_s))
        self.pver[ps.key] += 1
        if not chosen:
            return f"waiting for preempted jobs to stop on {where}"
        self.preemptions.append(Preemption(job.id, ps.key, tuple(v.id for v in chosen)))
        return f"preempting Playground jobs on {where}: {', '.join(v.id for v in chosen)}"[:2000]

    def _no_allocation(self, key: PartitionKey) -> Verdict:
        ps = self.by_key[key]
        return Verdict(
            key[0],
            key[1],
            ps.partition.executor,
            False,
            reasons.NO_ALLOCATION,
            Filter.ALLOCATION,
            retry=True,
        )

    def _outcome(
        self,
        d: Demand,
        shape_no: int,
        options: list[PartitionState],
        needs: list[Need],
        okeys: tuple[PartitionKey, ...],
    ) -> tuple[list[tuple[Terms, int]], tuple[Verdict, ...], str]:
        """The options ranked, their verdicts as a waiting job reads them, and the reason it
        waits; the same for every job of this shape with these options until the version
        changes."""
        key = (shape_no, okeys)
        versions = tuple([self.pver[k] for k in okeys])
        hit = self.outcomes.get(key)
        if hit is not None and hit[0] == versions:
            return hit[1]
        ranked = self._score(d, options, needs) or []
        scored = []
        for rank_no, (t, i) in enumerate(ranked):
            ps = options[i]
            reason = (
                "best score; waiting for capacity"
                if rank_no == 0
                else f"feasible, score {t.score:.3f} (best {ranked[0][0].score:.3f})"
            )
            scored.append(
                Verdict(ps.site.id, ps.partition.id, ps.partition.executor, True, reason, terms=t)
            )
        where = ", ".join(f"{ps.site.id}/{ps.partition.id}" for ps in options)
        out = (
            ranked,
            tuple(scored),
            f"waiting for capacity on {where}"[:2000],
        )
        self.outcomes[key] = (versions, out)
        return out

    def _gate(self, job: PendingJob) -> tuple[Action, str] | None:
        """Step 0: what keeps a job from being considered at all (a suspended project, a
        dependency not met, its array's throttle)."""
        snap = self.snap
        if job.project in snap.suspended:
            return Action.HOLD, f"project suspended by an operator: {snap.suspended[job.project]}"
        if job.after is not None:
            status, why = evaluate(job.after, snap.refs, self.now, job.index)
            if status is Status.WAIT:
                return Action.HOLD, f"waiting for its dependency: {why}"
            if status is Status.NEVER:
                reason = f"dependency can never be satisfied (DependencyNeverSatisfied): {why}"
                return (Action.CANCEL if job.cancel_never_satisfied else Action.HOLD), reason
        if job.array is not None and job.array in snap.throttles:
            limit = snap.throttles[job.array][0]
            if self.in_array.get(job.array, 0) >= limit:
                return (
                    Action.HOLD,
                    f"array {job.array} runs at most {limit} tasks at once (%{limit}); "
                    f"{self.in_array.get(job.array, 0)} are placed or running",
                )
        return None

    def decide(self, prio: int, factors: Factors, job: PendingJob) -> Decision:
        snap = self.snap
        gate = self._gate(job)
        if gate is not None:
            action, reason = gate
            return Decision(job.id, action, reason[:2000], (), priority=prio, factors=factors)
        d = job.demand
        rule = snap.org_rules.get(job.org) if snap.org_rules else None
        # By identity first (jobs share Demand objects; hashing one walks all its fields), then
        # by value, so equal shapes built apart still share their static verdicts.
        ident = (id(d), id(job.residency), id(rule))
        static = self.static_by_id.get(ident)
        if static is None:
            shape_v: Shape = (d, job.residency, rule)
            static = self.static.get(shape_v)
            if static is None:
                static = self.static[shape_v] = (
                    len(self.static),
                    *_static(shape_v, snap.partitions),
                )
            self.static_by_id[ident] = static
        shape_no, layer, passing = static
        # Health and allocations, per partition that passed the static filters.
        late: list[Verdict] = []
        options: list[PartitionState] = []
        needs: list[Need] = []
        okeys: list[PartitionKey] = []
        allocs: list[str | None] = []
        check = snap.check_budgets
        budgets = snap.budgets.get(job.project, {}) if check else {}
        left = self.left
        shared = True  # every late verdict is one of the cycle's shared ones
        sick_of, no_alloc = self.sick, self.no_alloc
        for ps, key, n in passing:
            sick = sick_of[key]
            if sick is not None:
                late.append(sick)
                continue
            alloc_id = None
            if check:
                budget = budgets.get(key)
                if budget is None:
                    late.append(no_alloc[key])
                    continue
                need = n.gpu_seconds
                for a, start_left in budget.usable:
                    room = left.get(a, start_left)
                    if room >= need and room > 0:
                        alloc_id = a
                        break
                else:
                    shared = False
                    problem = reasons.shortfall(budget, need, left)
                    late.append(
                        Verdict(
                            key[0],
                            key[1],
                            ps.partition.executor,
                            False,
                            problem,
                            Filter.ALLOCATION,
                            retry=True,
                        )
                    )
                    continue
            options.append(ps)
            needs.append(n)
            okeys.append(key)
            allocs.append(alloc_id)
        if not options:
            # Shared verdicts only (no allocation here, an unhealthy site): the same reason for
            # every job of this shape, worked out once.
            nk = (shape_no, tuple(v.key for v in late)) if shared else None
            known = self.nowhere.get(nk) if nk else None
            if known is None:
                verdicts = _merge(layer, late)
                never = not any(v.retry for v in verdicts)
                known = (
                    Action.FAIL if never else Action.HOLD,
                    reasons.hold_reason(verdicts, never),
                )
                if nk:
                    self.nowhere[nk] = known
            return Decision(
                job.id, known[0], known[1], layer, tuple(late), priority=prio, factors=factors
            )
        ranked, scored, waiting = self._outcome(d, shape_no, options, needs, tuple(okeys))
        if not ranked:  # cannot happen past the fit filter; kept as a clear hold
            return Decision(
                job.id, Action.HOLD, waiting, layer, tuple(late), scored, None, prio, factors
            )
        # The best partition, skipping Slurm partitions whose in-flight window is full: that
        # site's queue already holds enough of the federation's jobs to work through.
        pick: tuple[Terms, int] | None = ranked[0]
        first = options[ranked[0][1]]
        if first.window is not None and self.timelines[first.key].in_flight >= first.window:
            pick = next(
                (
                    (t, i)
                    for t, i in ranked
                    if options[i].window is None
                    or self.timelines[options[i].key].in_flight < (options[i].window or 0)
                ),
                None,
            )
        if pick is None:
            full = ", ".join(f"{ps.site.id}/{ps.partition.id}" for ps in options)
            reason = f"waiting for room in the in-flight window of {full}"[:2000]
            return Decision(
                job.id, Action.HOLD, reason, layer, tuple(late), scored, scored[0], prio, factors
            )
        best_t, best_i = pick
        best_ps, best_n = options[best_i], needs[best_i]
        if self._can_take(best_ps, best_n):
            self._take(best_ps, best_n, best_t.start_s)
            if job.array is not None:
                self.in_array[job.array] = self.in_array.get(job.array, 0) + 1
            alloc_id = allocs[best_i]
            if alloc_id is not None:
                left[alloc_id] = (
                    left.get(alloc_id, dict(budgets[best_ps.key].usable)[alloc_id])
                    - best_n.gpu_seconds
                )
            chosen = Verdict(
                best_ps.site.id,
                best_ps.partition.id,
                best_ps.partition.executor,
                True,
                "chosen: can start now"
                if best_t.start_s == 0
                else f"chosen: handed to Slurm, estimated start in {best_t.start_s:.0f} s",
                allocation_id=alloc_id,
                terms=best_t,
            )
            return Decision(
                job.id,
                Action.PLACE,
                f"placed on {chosen.site}/{chosen.partition}",
                layer,
                tuple(late),
                scored,
                chosen,
                prio,
                factors,
                need=best_n,
            )
        # It waits. The first job to wait for a partition the platform runs reserves it (or,
        # where preemption is on, names the Playground jobs to stop for it).
        reason, reserved = waiting, False
        tl = self.timelines[best_ps.key]
        if best_ps.window is None and tl.reservation is None:
            preempting = self._preempt(job, prio, best_ps, best_n) if best_ps.preemption else None
            if preempting is not None:
                reason = preempting
            else:
                tl.reserve(
                    job.id,
                    best_t.start_s,
                    best_n.accelerators,
                    best_n.cpus_total,
                    float(best_n.walltime_s),
                )
                self.pver[best_ps.key] += 1
                where = f"{best_ps.site.id}/{best_ps.partition.id}"
                reason = f"{waiting} (reserved: the next job to start on {where})"[:2000]
            reserved = True
        return Decision(
            job.id,
            Action.HOLD,
            reason,
            layer,
            tuple(late),
            scored,
            scored[0]
            if best_i == ranked[0][1]
            else next(v for v in scored if v.key == best_ps.key),
            prio,
            factors,
            reserved,
        )


def _merge(layer: tuple[Verdict | PartitionKey, ...], late: list[Verdict]) -> tuple[Verdict, ...]:
    by_key = {v.key: v for v in late}
    return tuple(v if isinstance(v, Verdict) else by_key[v] for v in layer)


def cycle(snapshot: Snapshot, now: float, config: Config | None = None) -> Decisions:
    """Decide, for every pending job of the snapshot, where it goes now or why it waits."""
    # The cycle makes one small object per job and frees none: the collector would only walk
    # the snapshot again and again (a third of the time at 100,000 jobs). Paused, not skipped.
    collecting = gc.isenabled()
    gc.disable()
    try:
        c = _Cycle(snapshot, config or Config(), now)
        # tuple.__new__: a named tuple's own constructor is Python code, this is not.
        make = tuple.__new__
        decisions = tuple(
            c.decide(-neg, make(Factors, (age, *fsq)), job)
            for neg, _, _, _, age, fsq, job in _order(snapshot, now, c.config)
        )
        return Decisions(decisions, tuple(c.preemptions))
    finally:
        if collecting:
            gc.enable()
