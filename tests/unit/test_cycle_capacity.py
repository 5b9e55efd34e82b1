"""Capacity through ``cycle``: EASY backfill on partitions the platform runs (window None) and
the in-flight window on Slurm partitions."""

from __future__ import annotations

import pytest

from aifactory.domain.catalog import ExecutorKind
from aifactory.scheduling.model import Action, Active, PendingJob
from tests.unit.builders import (
    NOW,
    decide,
    make_job,
    make_partition,
    make_site,
    make_snapshot,
    running,
    state,
)

SITE = make_site("fi", make_partition("p", "A100", accelerators_per_node=8, nodes=1))
KEY = ("fi", "p")
HOUR = 3600


def job(job_id: str, gpus: int, walltime: int = HOUR, order: int = 0) -> PendingJob:
    """Jobs are queued in ``order`` (earlier submission first)."""
    return make_job().gpus(gpus).walltime(walltime).submitted_at(NOW - 100 + order).pending(job_id)


# -- EASY backfill ---------------------------------------------------------------------------
# 8 accelerators. The head waits for the running jobs to end (the shadow time); a later job may
# start now only if it ends by then or fits in what the head leaves free ("extra").
SIX_UNTIL_1000 = [running("r6", KEY, 6, ends_in=1000)]
FOUR_UNTIL_1000 = [running("r4", KEY, 4, ends_in=1000)]
P, H, R = Action.PLACE, Action.HOLD, "reserved"

# (case, active, jobs in queue order, {job: PLACE / HOLD / "reserved" (a HOLD that reserves)})
BACKFILL = [
    ("a head that must wait reserves", SIX_UNTIL_1000, [job("head", 4)], {"head": R}),
    ("a short later job ending before the shadow starts now", SIX_UNTIL_1000,
     [job("head", 8), job("short", 2, walltime=900, order=1)], {"head": R, "short": P}),
    ("ending exactly at the shadow time is soon enough", SIX_UNTIL_1000,
     [job("head", 8), job("short", 2, walltime=1000, order=1)], {"head": R, "short": P}),
    ("a later long job that would delay the head waits", SIX_UNTIL_1000,
     [job("head", 8), job("long", 2, walltime=1001, order=1)], {"head": R, "long": H}),
    ("a later long job in the spare accelerators starts now", SIX_UNTIL_1000,
     [job("head", 4), job("long", 2, walltime=5 * HOUR, order=1)], {"head": R, "long": P}),
    ("the spare room is used up: the next long one waits, a short one still fits",
     FOUR_UNTIL_1000,
     [job("head", 6), job("long-a", 2, 5 * HOUR, 1), job("long-b", 2, 5 * HOUR, 2),
      job("short", 2, 900, 3)],
     {"head": R, "long-a": P, "long-b": H, "short": P}),
    ("one reservation per partition", SIX_UNTIL_1000,
     [job("head", 8), job("second", 8, order=1), job("third", 4, order=2)],
     {"head": R, "second": H, "third": H}),
    ("no reservation: whatever fits starts now", SIX_UNTIL_1000,
     [job("a", 1), job("b", 1, order=1), job("c", 1, order=2)], {"a": P, "b": P, "c": R}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "active", "jobs", "expected"), BACKFILL, ids=[r[0] for r in BACKFILL]
)
def test_easy_backfill(
    case: str, active: list[Active], jobs: list[PendingJob], expected: dict[str, object]
) -> None:
    decisions = decide(make_snapshot(SITE, jobs=jobs, active=active))
    assert [d.job_id for d in decisions.decisions] == [j.id for j in jobs], "queue order"
    for job_id, outcome in expected.items():
        d = decisions.of(job_id)
        assert d.action is (Action.HOLD if outcome == R else outcome), (job_id, d.reason)
        assert d.reserved is (outcome == R), (job_id, d.reason)
        if outcome == R:
            assert d.reason.endswith("(reserved: the next job to start on fi/p)"), d.reason
        elif outcome == H:
            assert d.reason == "waiting for capacity on fi/p"
        else:
            assert d.reason == "placed on fi/p"
            assert d.chosen is not None and d.chosen.terms is not None
            assert d.chosen.terms.start_s == 0.0
            assert d.chosen.reason == "chosen: can start now"
    assert sum(d.reserved for d in decisions.decisions) <= 1


def test_the_reserved_job_and_the_one_behind_it_are_told_when_they_start() -> None:
    decisions = decide(
        make_snapshot(
            SITE,
            jobs=[job("head", 8), job("long", 2, walltime=2000, order=1)],
            active=SIX_UNTIL_1000,
        )
    )
    head, behind = decisions.of("head").chosen, decisions.of("long").chosen
    assert head is not None and head.terms is not None and head.terms.start_s == 1000.0
    # It cannot run beside the head: it starts when the head's walltime ends.
    assert behind is not None and behind.terms is not None
    assert behind.terms.start_s == 1000.0 + HOUR


def test_backfill_counts_cpus_on_local_partitions() -> None:
    """A job without accelerators still needs the CPUs the platform tracks for this machine."""
    small = make_site("fi", make_partition("p", "A100", accelerators_per_node=8, nodes=1))
    active = [running("cpu-hog", KEY, 0, cpus=62, ends_in=600)]
    jobs = [
        make_job().gpus(0).cpus(4).pending("needs-4"),
        make_job().gpus(0).cpus(2).submitted_at(NOW + 1).pending("needs-2"),
        make_job().gpus(0).cpus(1).submitted_at(NOW + 2).pending("needs-1"),
    ]
    decisions = decide(make_snapshot(small, jobs=jobs, active=active))
    first, second = decisions.of("needs-4"), decisions.of("needs-2")
    assert first.action is Action.HOLD and first.reserved
    assert first.chosen is not None and first.chosen.terms is not None
    assert first.chosen.terms.start_s == 600.0
    # 2 CPUs are free now; a 1-hour job still holds them at the shadow time, where the head
    # leaves 60 of 64: it fits beside it. Then no CPU is free, accelerators or not.
    assert second.action is Action.PLACE
    assert decisions.of("needs-1").action is Action.HOLD


# -- the Slurm window -------------------------------------------------------------------------
SLURM = make_site(
    "lumi",
    make_partition(
        "g", "MI250X-GCD", accelerators_per_node=8, nodes=1, executor=ExecutorKind.SLURM
    ),
)
SKEY = ("lumi", "g")


def queued(job_id: str) -> Active:
    return running(job_id, SKEY, 1, running=False)


def rocm(n: int) -> list[PendingJob]:
    return [make_job().stack("rocm").submitted_at(NOW - 100 + i).pending(f"s{i}") for i in range(n)]


# (case, window, active, pending jobs, how many are handed over)
WINDOW = [
    ("empty window: hands over up to its size", 2, [], 4, 2),
    ("jobs queued in Slurm count against it", 2, [queued("q1")], 4, 1),
    ("running jobs do not", 2, [running("r1", SKEY, 1), running("r2", SKEY, 1)], 4, 2),
    ("a full partition still gets up to the window", 2,
     [running("all", SKEY, 8, ends_in=1000)], 4, 2),
    ("a full window: everything waits", 2, [queued("q1"), queued("q2")], 3, 0),
    ("more in flight than the window: nothing more", 2, [queued(f"q{i}") for i in range(3)], 3,
     0),
    ("a window of one", 1, [], 3, 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "window", "active", "n", "handed"), WINDOW, ids=[r[0] for r in WINDOW]
)
def test_slurm_window(case: str, window: int, active: list[Active], n: int, handed: int) -> None:
    jobs = rocm(n)
    decisions = decide(make_snapshot(state(SLURM, window=window), jobs=jobs, active=active))
    actions = [decisions.of(j.id).action for j in jobs]
    assert actions == [Action.PLACE] * handed + [Action.HOLD] * (n - handed), "in queue order"
    for d in decisions.decisions:
        assert not d.reserved, "Slurm orders its own queue: no reservation"
        if d.action is Action.HOLD:
            assert d.reason == "waiting for room in the in-flight window of lumi/g"


def test_a_full_slurm_partition_hands_over_with_the_estimated_start() -> None:
    snap = make_snapshot(
        state(SLURM, window=4), jobs=rocm(2), active=[running("all", SKEY, 8, ends_in=1000)]
    )
    for d in decide(snap).placed:
        assert d.chosen is not None
        assert d.chosen.reason == "chosen: handed to Slurm, estimated start in 1000 s"


# A full window is passed over for the next best partition. The Slurm partition has the faster
# accelerators, so a fastest job prefers it while its window has room.
FAST_SLURM = make_site(
    "lumi",
    make_partition("g", "H100", accelerators_per_node=8, nodes=1, executor=ExecutorKind.SLURM),
)
LOCAL = make_site("fi", make_partition("p", "A100", accelerators_per_node=8, nodes=1))
FULL_WINDOW = [queued("q1")]

# (case, partitions, active, job's decision: (action, site chosen or waited for, reason))
PASSED_OVER = [
    ("window has room: the best partition", [state(FAST_SLURM, window=2), LOCAL], FULL_WINDOW,
     (Action.PLACE, "lumi", "placed on lumi/g")),
    ("window full: the next best", [state(FAST_SLURM, window=1), LOCAL], FULL_WINDOW,
     (Action.PLACE, "fi", "placed on fi/p")),
    ("window full and the next best busy: wait there", [state(FAST_SLURM, window=1), LOCAL],
     [*FULL_WINDOW, running("all", KEY, 8, ends_in=600)],
     (Action.HOLD, "fi", "waiting for capacity on lumi/g, fi/p (reserved: the next job to "
      "start on fi/p)")),
    ("every window full: wait for room", [state(FAST_SLURM, window=1)], FULL_WINDOW,
     (Action.HOLD, "lumi", "waiting for room in the in-flight window of lumi/g")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "where", "active", "expected"), PASSED_OVER, ids=[r[0] for r in PASSED_OVER]
)
def test_a_full_slurm_window_is_passed_over(  # type: ignore[no-untyped-def]
    case: str, where, active: list[Active], expected: tuple[Action, str, str]
) -> None:
    action, site, reason = expected
    snap = make_snapshot(*where, jobs=[make_job().fastest()], active=active)
    d = decide(snap).of("j1")
    assert (d.action, d.reason) == (action, reason)
    assert d.chosen is not None and d.chosen.site == site


def test_jobs_queued_in_slurm_push_back_the_estimates_of_the_jobs_after_them() -> None:
    jobs = [
        make_job().stack("rocm").gpus(8).submitted_at(NOW - 100 + i).pending(f"s{i}")
        for i in range(2)
    ]
    snap = make_snapshot(
        state(SLURM, window=4), jobs=jobs, active=[running("all", SKEY, 8, ends_in=1000)]
    )
    decisions = decide(snap)
    starts = [decisions.of(j.id).chosen.terms.start_s for j in jobs]  # type: ignore[union-attr]
    # The first starts when the running job ends; the second after the first's walltime too.
    assert starts == [1000.0, 1000.0 + 3600]
