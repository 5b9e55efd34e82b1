"""Queue order through ``cycle``: with one free slot, the job of the higher priority gets it.
Priority = age + fair share (Snapshot.accounts) + size + the access mode's QoS (Snapshot.modes),
and the decision carries the priority and its factors."""

from __future__ import annotations

import pytest

from aifactory.domain.access import AccessMode
from aifactory.scheduling.model import Action, Active, PendingJob
from aifactory.scheduling.priority import Account, Weights, priority
from tests.unit.builders import (
    NOW,
    decide,
    make_job,
    make_partition,
    make_site,
    make_snapshot,
    running,
)

DAY = 86400.0
# Two accelerators in all: the rows keep one busy so that exactly one slot is free.
SITE = make_site("fi", make_partition("a100", "A100", accelerators_per_node=2, nodes=1))
KEY = ("fi", "a100")
ONE_BUSY = [running("busy", KEY, 1, ends_in=10 * 3600)]
HEAVY, LIGHT = Account("o1", "heavy", 100, 5e6), Account("o1", "light", 100, 0)
ORG_HEAVY, ORG_LIGHT = Account("o-big", "p-big", 100, 5e6), Account("o-new", "p-new", 100, 0)


def job(job_id: str, project: str = "p1", org: str = "o1", waited_s: float = 0.0) -> PendingJob:
    return make_job().project(project, org).submitted_at(NOW - waited_s).pending(job_id)


# (case, jobs (the loser listed first), active, snapshot fields, winner, the factor that decided)
ORDER = [
    ("age: the older job", [job("a-new"), job("b-old", waited_s=3 * DAY)], ONE_BUSY, {},
     "b-old", "age"),
    ("fair share: less usage beats an older job",
     [job("a-heavy", "heavy", waited_s=DAY), job("b-light", "light")], ONE_BUSY,
     {"accounts": (HEAVY, LIGHT)}, "b-light", "fairshare"),
    ("fair share: organisations first",
     [job("a-big", "p-big", "o-big", waited_s=DAY), job("b-new", "p-new", "o-new")], ONE_BUSY,
     {"accounts": (ORG_HEAVY, ORG_LIGHT)}, "b-new", "fairshare"),
    ("a project without an account has no fair share",
     [job("a-unknown", "ghost"), job("b-light", "light")], ONE_BUSY,
     {"accounts": (HEAVY, LIGHT)}, "b-light", "fairshare"),
    ("qos: Large Scale over Playground", [job("a-pg", "pg", waited_s=DAY), job("b-ls", "ls")],
     ONE_BUSY, {"modes": {"pg": AccessMode.PLAYGROUND, "ls": AccessMode.LARGE_SCALE}}, "b-ls",
     "qos"),
    ("qos: Fast Lane over Playground", [job("a-pg", "pg"), job("b-fl", "fl")], ONE_BUSY,
     {"modes": {"pg": AccessMode.PLAYGROUND, "fl": AccessMode.FAST_LANE}}, "b-fl", "qos"),
    ("size: the bigger job",
     [job("a-small", waited_s=3600),
      make_job().gpus(2).pending("b-big")], [], {}, "b-big", "size"),
    ("equal priority: the earlier submission", [job("a-later"), job("b-earlier", waited_s=1)],
     ONE_BUSY, {}, "b-earlier", None),
    ("equal priority and time: the id", [job("b"), job("a")], ONE_BUSY, {}, "a", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "jobs", "active", "fields", "winner", "factor"), ORDER, ids=[r[0] for r in ORDER]
)
def test_the_higher_priority_gets_the_free_slot(  # type: ignore[no-untyped-def]
    case: str,
    jobs: list[PendingJob],
    active: list[Active],
    fields,
    winner: str,
    factor: str | None,
) -> None:
    decisions = decide(make_snapshot(SITE, jobs=jobs, active=active, **fields))
    (loser,) = (j.id for j in jobs if j.id != winner)
    won, lost = decisions.of(winner), decisions.of(loser)
    assert won.action is Action.PLACE, won.reason
    assert lost.action is Action.HOLD, lost.reason
    assert [d.job_id for d in decisions.decisions] == [winner, loser], "queue order"
    assert won.factors is not None and lost.factors is not None
    if factor is None:
        assert won.priority == lost.priority
    else:
        assert won.priority > lost.priority
        assert getattr(won.factors, factor) > getattr(lost.factors, factor)
    for d in (won, lost):
        assert d.priority == priority(d.factors, Weights()), "the documented weighted sum"


def test_factors_are_filled_from_the_snapshot() -> None:
    snap = make_snapshot(
        SITE,
        jobs=[make_job().project("light").gpus(1).submitted_at(NOW - 3.5 * DAY).pending("j")],
        accounts=(HEAVY, LIGHT),
        modes={"light": AccessMode.FAST_LANE},
    )
    d = decide(snap).of("j")
    assert d.factors is not None
    assert d.factors.age == pytest.approx(0.5)  # half of the 7-day cap
    assert d.factors.fairshare == 1.0  # the best-placed of two projects
    assert d.factors.size == 0.5  # 1 of the largest partition's 2 accelerators
    assert d.factors.qos == 0.5  # Fast Lane
    assert d.priority == round(1000 * 0.5 + 10_000 * 1.0 + 1000 * 0.5 + 2000 * 0.5)
    assert d.placement_record()["priority"] == d.priority


def test_age_is_capped_and_never_negative() -> None:
    snap = make_snapshot(
        SITE,
        jobs=[
            make_job().submitted_at(NOW - 30 * DAY).pending("ancient"),
            make_job().submitted_at(NOW + 60).pending("clock-skew"),
        ],
    )
    decisions = decide(snap)
    assert decisions.of("ancient").factors.age == 1.0  # type: ignore[union-attr]
    assert decisions.of("clock-skew").factors.age == 0.0  # type: ignore[union-attr]
