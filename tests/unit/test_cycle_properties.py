"""Invariants of ``cycle`` on random small federations (2-4 partitions: local, simulated and
Slurm with a window), random running jobs, random pending jobs (many of one project) and random
budgets:

- no decision ever breaks a hard filter;
- accelerators are never over-committed (nor a local partition's CPUs, nor a Slurm window);
- GPU-hours promised never exceed an allocation's balance, however many jobs draw on it;
- the same snapshot gives the same decisions, in whatever order the jobs are listed;
- a job no partition can ever run fails with every partition's reason; a job that waits has
  something to wait for.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.domain.access import AccessMode
from aifactory.domain.catalog import ExecutorKind, SiteStatus, SoftwareStack
from aifactory.domain.jobs import Objective
from aifactory.scheduling.model import (
    Action,
    Active,
    Budget,
    Decision,
    Decisions,
    Filter,
    OrgRule,
    PartitionKey,
    PartitionState,
    PendingJob,
    Snapshot,
)
from aifactory.scheduling.priority import Account, Weights, priority
from tests.unit.builders import (
    HOUR,
    NOW,
    decide,
    make_job,
    make_partition,
    make_site,
    planned,
    running,
)

EXAMPLES = settings(max_examples=100)
PROJECTS = {"p-a": "o-1", "p-b": "o-1", "p-c": "o-2"}
STATIC_FILTERS = {
    Filter.SITE,
    Filter.PARTITION,
    Filter.COUNTRY,
    Filter.OPERATIONAL,
    Filter.SIMULATED,
    Filter.EXPERIMENTAL,
    Filter.ACCELERATOR,
    Filter.STACK,
    Filter.FIT,
    Filter.WALLTIME,
    Filter.RESIDENCY,
    Filter.ORGANISATION,
}


@st.composite
def partition_states(draw: st.DrawFn, i: int, crowded: bool = False) -> PartitionState:
    executor = draw(st.sampled_from(list(ExecutorKind)))
    model = draw(st.sampled_from(["A100", "H100", "MI250X-GCD"]))
    stacks = draw(
        st.sampled_from(
            [None, frozenset({SoftwareStack.CUDA, SoftwareStack.ROCM})]  # None: the model's
        )
    )
    extra = {} if stacks is None else {"software_stacks": stacks}
    part = make_partition(
        "p",
        model,
        accelerators_per_node=draw(st.integers(2, 8)),
        nodes=draw(st.integers(1, 3)),
        cpus_per_node=draw(st.sampled_from([16, 64])),
        memory_gb_per_node=draw(st.sampled_from([128, 512])),
        max_walltime_s=draw(st.sampled_from([2 * HOUR, 24 * HOUR, 48 * HOUR])),
        grid_gco2e_per_kwh=draw(st.sampled_from([20.0, 100.0, 400.0])),
        executor=executor,
        **extra,
    )
    site = make_site(
        f"s{i}",
        part,
        country=draw(st.sampled_from(["FI", "ES", "DE"])),
        experimental=draw(st.integers(0, 3)) == 0,
    )
    if not crowded and draw(st.integers(0, 11)) == 0:
        site = planned(site)
    health = "ok" if crowded else draw(st.sampled_from(["ok"] * 8 + ["transient", "missing"]))
    window = draw(st.integers(0, 8 if crowded else 3)) if executor is ExecutorKind.SLURM else None
    return PartitionState(
        site,
        part,
        healthy=health == "ok",
        health_reason={"ok": "", "transient": "site degraded", "missing": "not configured"}[health],
        transient=health == "transient",
        window=window,
        preemption=window is None and draw(st.booleans()),
    )


@st.composite
def actives_on(
    draw: st.DrawFn, ps: PartitionState, prefix: str, crowded: bool = False
) -> list[Active]:
    """Jobs on one partition that fit it together."""
    part = ps.partition
    free, free_cpus = part.total_accelerators, part.cpus_per_node * part.nodes
    out = []
    for k in range(draw(st.integers(0, 1 if crowded else 3))):
        gpus = draw(st.integers(free // 2, free))  # busy partitions: jobs compete
        cpus = draw(st.integers(0, min(8, free_cpus)))
        free, free_cpus = free - gpus, free_cpus - cpus
        kind = draw(st.sampled_from(["running", "running", "stopping", "overdue", "queued"]))
        queued = kind == "queued" and part.executor is ExecutorKind.SLURM
        out.append(
            running(
                f"{prefix}-a{k}",
                ps.key,
                gpus,
                cpus=cpus,
                ends_in={"stopping": 0.0, "overdue": -60.0}.get(
                    kind, draw(st.sampled_from([300.0, 1800.0, 3600.0, 36000.0]))
                ),
                running=not queued,
                preemptible=kind != "stopping" and draw(st.integers(0, 2)) > 0,
                mode=draw(
                    st.sampled_from([AccessMode.PLAYGROUND] * 3 + [AccessMode.LARGE_SCALE, None])
                ),
                priority=draw(st.sampled_from([0, 0, 500, 5000])),
            )
        )
    return out


TWISTS = ["none"] * 6 + [
    "experimental",
    "sites",
    "countries",
    "residency",
    "model",
    "stack",
    "wide",
    "nodes",
    "cpus",
    "memory",
    "long",
]


@st.composite
def pending_jobs(draw: st.DrawFn, sites: list[str], crowded: bool = False) -> list[PendingJob]:
    """Modest jobs (most fit somewhere, so they compete for capacity), each with at most one
    twist that narrows where it may run."""
    jobs = []
    for n in range(draw(st.integers(4, 12) if crowded else st.integers(1, 10))):
        project = "p-a" if crowded else draw(st.sampled_from(["p-a", "p-a", "p-a", "p-b", "p-c"]))
        b = make_job().project(project, PROJECTS[project]).stack("any")
        b.gpus(draw(st.integers(0, 4))).cpus(draw(st.sampled_from([1, 2, 8])))
        b.memory(draw(st.sampled_from([4, 64])))
        b.walltime(draw(st.sampled_from([600, HOUR, HOUR, 4 * HOUR])))
        {
            Objective.FASTEST: b.fastest,
            Objective.GREENEST: b.greenest,
            Objective.BALANCED: b.balanced,
        }[draw(st.sampled_from(list(Objective)))]()
        if draw(st.integers(0, 2)) > 0:
            b.simulate()
        twist = draw(st.sampled_from(TWISTS))
        if twist == "experimental":
            b.experimental()
        elif twist == "sites":
            b.only_sites(*draw(st.lists(st.sampled_from(sites), min_size=1, max_size=2)))
        elif twist == "countries":
            b.only_countries(draw(st.sampled_from(["FI", "ES", "DE"])))
        elif twist == "residency":
            b.residency("ds", countries=draw(st.sets(st.sampled_from(["FI", "ES", "DE"]))))
        elif twist == "model":
            b.needs(draw(st.sampled_from(["A100", "H100", "MI250X-GCD"])))
        elif twist == "stack":
            b.stack(draw(st.sampled_from(["cuda", "rocm"])))
        elif twist == "wide":
            b.gpus(draw(st.integers(5, 8)))
        elif twist == "nodes":
            b.gpus(draw(st.integers(1, 4)), 2)
        elif twist == "cpus":
            b.cpus(64)
        elif twist == "memory":
            b.memory(256)
        elif twist == "long":
            b.walltime(30 * HOUR)
        b.submitted_at(NOW - draw(st.sampled_from([0, 60, 3600, 86400, 30 * 86400])))
        if draw(st.booleans()):
            b.preemptible()
        jobs.append(b.pending(f"job{n}"))
    return jobs


@st.composite
def budgets_for(
    draw: st.DrawFn, keys: list[PartitionKey], crowded: bool = False
) -> dict[str, dict[PartitionKey, Budget]]:
    """Per project and partition: none, live allocations (crowded: always, and tight), or an
    exhausted one."""
    kinds = ["live"] if crowded else ["none", "live", "live", "exhausted"]
    amounts = [1800, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR]
    if not crowded:
        amounts += [0, 20 * HOUR, 100 * HOUR]
    out: dict[str, dict[PartitionKey, Budget]] = {}
    for project in PROJECTS:
        mine = {}
        for key in keys:
            kind = draw(st.sampled_from(kinds))
            if kind == "exhausted":
                mine[key] = Budget((), f"allocation {project}-{key[0]}-x is exhausted")
            elif kind == "live":
                drawn = draw(st.lists(st.sampled_from(amounts), min_size=1, max_size=2))
                mine[key] = Budget(
                    tuple((f"{project}-{key[0]}-{i}", g) for i, g in enumerate(drawn))
                )
        out[project] = mine
    return out


@st.composite
def snapshots(draw: st.DrawFn, crowded: bool = False) -> Snapshot:
    """A random federation; ``crowded``: healthy partitions, few running jobs, many jobs of one
    project and tight allocations, always checked."""
    n = draw(st.integers(1, 3) if crowded else st.integers(2, 4))
    states = [draw(partition_states(i, crowded)) for i in range(n)]
    active = [a for ps in states for a in draw(actives_on(ps, ps.site.id, crowded))]
    keys = [ps.key for ps in states]
    return Snapshot(
        tuple(states),
        tuple(draw(pending_jobs([k[0] for k in keys], crowded))),
        tuple(active),
        budgets=draw(budgets_for(keys, crowded)),
        accounts=tuple(
            Account(org, p, 100, draw(st.sampled_from([0.0, 1e4, 1e6])))
            for p, org in PROJECTS.items()
        ),
        modes={
            p: draw(st.sampled_from([AccessMode.PLAYGROUND, AccessMode.LARGE_SCALE]))
            for p in PROJECTS
        },
        suspended={"p-c": "audit"} if draw(st.integers(0, 4)) == 0 else {},
        org_rules={"o-2": OrgRule("review", countries=frozenset({"FI"}))}
        if draw(st.booleans())
        else {},
        check_budgets=crowded or draw(st.booleans()),
    )


ANY_SNAPSHOT = st.one_of(snapshots(), snapshots(crowded=True))


def _jobs(snap: Snapshot) -> dict[str, PendingJob]:
    return {j.id: j for j in snap.pending}


def _broken(snap: Snapshot, job: PendingJob, ps: PartitionState) -> list[str]:
    """The hard rules the partition breaks for the job, restated here from the issue (not
    read from ``filters``): the oracle of these properties."""
    d, site, part = job.demand, ps.site, ps.partition
    res, rule = job.residency, snap.org_rules.get(job.org)
    checks = {
        "site": not d.sites or site.id in d.sites,
        "partition": not d.partitions or part.id in d.partitions,
        "country": not d.countries or site.country in d.countries,
        "operational": site.status is SiteStatus.OPERATIONAL,
        "simulated": d.simulate or part.executor is not ExecutorKind.SIMULATED,
        "experimental": site.experimental or not d.experimental,
        "accelerator": d.accelerator in ("any", part.accelerator),
        "stack": d.stack.value == "any" or d.stack.value in {s.value for s in part.software_stacks},
        "fit": d.nodes <= part.nodes
        and d.accelerators_per_node <= part.accelerators_per_node
        and d.cpus <= part.cpus_per_node
        and d.memory_gb <= part.memory_gb_per_node,
        "walltime": d.walltime_s <= part.max_walltime_s,
        "residency": res is None
        or (
            (res.sites is None or site.id in res.sites)
            and (res.countries is None or site.country in res.countries)
        ),
        "organisation": rule is None
        or (
            (rule.sites is None or site.id in rule.sites)
            and (rule.countries is None or site.country in rule.countries)
        ),
    }
    return [name for name, ok in checks.items() if not ok]


@EXAMPLES
@given(ANY_SNAPSHOT)
def test_no_decision_ever_breaks_a_hard_filter(snap: Snapshot) -> None:
    decisions = decide(snap)
    jobs, states = _jobs(snap), {ps.key: ps for ps in snap.partitions}
    assert sorted(d.job_id for d in decisions.decisions) == sorted(jobs)
    for d in decisions.decisions:
        job = jobs[d.job_id]
        assert d.factors is not None and d.priority == priority(d.factors, Weights())
        if job.project in snap.suspended:
            assert d.action is Action.HOLD and d.verdicts == ()
            continue
        assert [v.key for v in d.verdicts] == [ps.key for ps in snap.partitions]
        for v in d.verdicts:
            ps = states[v.key]
            broken = _broken(snap, job, ps)
            if v.failed in STATIC_FILTERS:
                assert broken and broken[0] == v.failed.value, (v, broken)
            else:
                assert not broken, (v, broken)
            if v.feasible:
                assert ps.healthy and v.failed is None and v.terms is not None
                if snap.check_budgets:
                    assert snap.budgets[job.project][v.key].usable, "a live allocation here"
        if d.action is Action.PLACE:
            assert d.chosen is not None and d.chosen in d.verdicts and d.chosen.feasible
            if snap.check_budgets:
                budget = snap.budgets[job.project][d.chosen.key]
                assert d.chosen.allocation_id in dict(budget.usable), "drawn on this project's"


def _placed_on(snap: Snapshot, decisions: Decisions) -> dict[PartitionKey, list[PendingJob]]:
    jobs = _jobs(snap)
    out: dict[PartitionKey, list[PendingJob]] = defaultdict(list)
    for d in decisions.placed:
        assert d.chosen is not None
        out[d.chosen.key].append(jobs[d.job_id])
    return out


@EXAMPLES
@given(ANY_SNAPSHOT)
def test_accelerators_are_never_over_committed(snap: Snapshot) -> None:
    placed = _placed_on(snap, decide(snap))
    for ps in snap.partitions:
        active = [a for a in snap.active if a.key == ps.key]
        new = placed.get(ps.key, [])
        part = ps.partition
        if ps.window is None:
            used = sum(a.accelerators for a in active) + sum(j.demand.accelerators for j in new)
            assert used <= part.total_accelerators, ps.key
            if part.executor is ExecutorKind.LOCAL:
                cpus = sum(a.cpus for a in active) + sum(
                    j.demand.cpus * j.demand.nodes for j in new
                )
                assert cpus <= part.cpus_per_node * part.nodes, ps.key
        else:
            in_flight = sum(1 for a in active if not a.running)
            assert len(new) <= max(0, ps.window - in_flight), ps.key


@EXAMPLES
@given(ANY_SNAPSHOT)
def test_promised_gpu_hours_never_exceed_an_allocations_balance(snap: Snapshot) -> None:
    decisions = decide(snap)
    jobs = _jobs(snap)
    promised: dict[str, int] = defaultdict(int)
    for d in decisions.placed:
        assert d.chosen is not None
        if snap.check_budgets:
            assert d.chosen.allocation_id is not None, "a placement draws on an allocation"
        if d.chosen.allocation_id is not None:
            demand = jobs[d.job_id].demand  # fixed figures on shared nodes: the same anywhere
            assert demand.walltime_s is not None
            asked = demand.accelerators * demand.walltime_s
            assert d.need is not None and d.need.gpu_seconds == asked
            promised[d.chosen.allocation_id] += asked
    balance = {
        alloc: left
        for per_project in snap.budgets.values()
        for budget in per_project.values()
        for alloc, left in budget.usable
    }
    for alloc, total in promised.items():
        assert total <= balance[alloc], alloc


@EXAMPLES
@given(ANY_SNAPSHOT, st.data())
def test_the_same_snapshot_gives_the_same_decisions(snap: Snapshot, data: st.DataObject) -> None:
    first = decide(snap)
    assert decide(snap) == first
    shuffled = Snapshot(
        snap.partitions,
        tuple(data.draw(st.permutations(snap.pending))),
        snap.active,
        snap.budgets,
        snap.accounts,
        snap.modes,
        snap.suspended,
        snap.org_rules,
        snap.check_budgets,
    )
    again = decide(shuffled)
    by_job: dict[str, Decision] = {d.job_id: d for d in first.decisions}
    assert {d.job_id: d for d in again.decisions} == by_job
    assert [d.job_id for d in again.decisions] == [d.job_id for d in first.decisions], "order"
    assert again.preemptions == first.preemptions


@EXAMPLES
@given(ANY_SNAPSHOT)
def test_a_job_that_can_never_run_fails_with_every_reason_and_a_waiting_one_can(
    snap: Snapshot,
) -> None:
    jobs = _jobs(snap)
    for d in decide(snap).decisions:
        job = jobs[d.job_id]
        if job.project in snap.suspended:
            continue
        never = all(
            _broken(snap, job, ps) or (not ps.healthy and not ps.transient)
            for ps in snap.partitions
        )
        assert (d.action is Action.FAIL) == never, d
        if d.action is Action.FAIL:
            assert d.reason.startswith("no partition can run this job: ")
            for v in d.verdicts:
                assert not v.feasible and not v.retry
                assert f"{v.site}/{v.partition}: {v.reason}" in d.reason
        elif d.action is Action.HOLD:
            assert any(v.feasible or v.retry for v in d.verdicts), "something to wait for"
