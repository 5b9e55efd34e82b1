"""Preemption through ``cycle``: where a partition allows it, a waiting job of higher priority
names the Playground jobs to stop for it (``Decisions.preemptions``) and reserves the room."""

from __future__ import annotations

import pytest

from aifactory.domain.access import AccessMode
from aifactory.domain.catalog import ExecutorKind
from aifactory.scheduling.model import Action, Active, Decisions
from tests.unit.builders import (
    NOW,
    JobBuilder,
    decide,
    make_job,
    make_partition,
    make_site,
    make_snapshot,
    running,
    state,
)

SITE = make_site("x", make_partition("p", "A100", accelerators_per_node=8, nodes=1))
KEY = ("x", "p")
PG, LS = AccessMode.PLAYGROUND, AccessMode.LARGE_SCALE


def pg(job_id: str, gpus: int = 4, *, ends_in: float = 3600, **kw: object) -> Active:
    """A running Playground job its owner allowed to be preempted (unless ``kw`` says else)."""
    fields: dict[str, object] = {"preemptible": True, "mode": PG, **kw}
    return running(job_id, KEY, gpus, ends_in=ends_in, **fields)  # type: ignore[arg-type]


def stopping(job_id: str, gpus: int = 4) -> Active:
    """A job the service is stopping already (preempted or cancelled): ends any moment now, and
    is marked not preemptible."""
    return running(job_id, KEY, gpus, ends_in=0.0, mode=PG)


def wants(gpus: int) -> JobBuilder:
    """A waiting job: its priority is its size, 1000 x gpus / 8 (0 for the running ones)."""
    return make_job().gpus(gpus)


def _decide(active: list[Active], *jobs: JobBuilder, preemption: bool = True) -> Decisions:
    return decide(make_snapshot(state(SITE, preemption=preemption), jobs=jobs, active=active))


# (case, preemption on?, active, the waiting job, the victims named (() for none))
VICTIMS = [
    ("lowest priority first, only as many as needed", True,
     [pg("pg-10", priority=10), pg("pg-5", priority=5)], wants(4), ("pg-5",)),
    ("equal priority: the most recently started first", True,
     [pg("early", ends_in=100), pg("late", ends_in=3000)], wants(4), ("late",)),
    ("as many as it takes, in that order", True,
     [pg("pg-10", priority=10), pg("pg-5", priority=5)], wants(8), ("pg-5", "pg-10")),
    ("free accelerators count", True, [pg("a"), running("other", KEY, 2)], wants(6), ("a",)),
    ("not preemptible: never a victim", True, [pg("a", preemptible=False), pg("b")], wants(8),
     ()),
    ("not Playground: never a victim", True, [pg("a", mode=LS), pg("b")], wants(8), ()),
    ("no mode known: never a victim", True, [pg("a", mode=None), pg("b")], wants(8), ()),
    ("higher priority: never a victim", True, [pg("a", priority=5000), pg("b")], wants(8), ()),
    ("equal priority: never a victim", True, [pg("a", priority=1000), pg("b")], wants(8), ()),
    ("preemption off: nothing is preempted", False, [pg("a"), pg("b")], wants(4), ()),
    ("being stopped already: no second round of victims", True, [stopping("st"), pg("b")],
     wants(4), ()),
    ("being stopped counts as freed: only the rest is preempted", True,
     [stopping("st"), pg("b", 2), pg("c", 2, ends_in=9000)], wants(6), ("c",)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "on", "active", "job", "victims"), VICTIMS, ids=[r[0] for r in VICTIMS]
)
def test_victims(
    case: str, on: bool, active: list[Active], job: JobBuilder, victims: tuple[str, ...]
) -> None:
    decisions = _decide(active, job, preemption=on)
    d = decisions.of("j1")
    assert d.action is Action.HOLD and d.reserved, d.reason
    if victims:
        (p,) = decisions.preemptions
        assert (p.job_id, p.key, p.victims) == ("j1", KEY, victims)
        assert d.reason == f"preempting Playground jobs on x/p: {', '.join(victims)}"
    else:
        assert decisions.preemptions == ()
        assert "preempting" not in d.reason
    if any(a.id == "st" for a in active) and not victims:
        assert d.reason == "waiting for preempted jobs to stop on x/p"


def test_a_job_that_fits_preempts_nothing() -> None:
    decisions = _decide([pg("a")], wants(4))
    assert decisions.of("j1").action is Action.PLACE
    assert decisions.preemptions == ()


def test_one_preemption_per_partition_per_cycle() -> None:
    decisions = _decide(
        [pg("a"), pg("b")], wants(4).submitted_at(NOW - 10), wants(4).submitted_at(NOW)
    )
    assert [p.job_id for p in decisions.preemptions] == ["j1"]
    second = decisions.of("j2")
    assert second.action is Action.HOLD and not second.reserved
    assert second.reason == "waiting for capacity on x/p"


def test_the_room_made_by_preemption_is_not_backfilled() -> None:
    decisions = _decide(
        [pg("a"), running("other", KEY, 2)],
        wants(6).submitted_at(NOW - 10),
        wants(2).walltime(600).submitted_at(NOW),
    )
    assert decisions.preemptions[0].victims == ("a",)
    # Two accelerators are free now, but the preempting job needs them beside the victim's.
    assert decisions.of("j2").action is Action.HOLD


def test_a_slurm_partition_never_preempts() -> None:
    slurm = make_site(
        "x",
        make_partition("p", "A100", accelerators_per_node=8, nodes=1, executor=ExecutorKind.SLURM),
    )
    snap = make_snapshot(
        state(slurm, preemption=True, window=1),
        jobs=[wants(8)],
        active=[pg("a"), pg("b"), running("queued", KEY, 0, running=False)],
    )
    decisions = decide(snap)
    assert decisions.of("j1").action is Action.HOLD
    assert decisions.preemptions == ()


# -- found by these tests, fixed -------------------------------------------------------------------
def test_no_victim_is_stopped_needlessly() -> None:
    decisions = _decide(
        [pg("small", 1, ends_in=5000), pg("big", 4, ends_in=100), running("other", KEY, 3)],
        wants(4),
    )
    (p,) = decisions.preemptions
    assert p.victims == ("big",)


def test_an_overdue_job_is_not_counted_twice() -> None:
    decisions = _decide(
        [pg("overdue", ends_in=-5), pg("blocking", ends_in=1000, priority=1)], wants(8)
    )
    (p,) = decisions.preemptions
    assert "blocking" in p.victims
