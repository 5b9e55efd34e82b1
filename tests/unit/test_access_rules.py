"""Access calls without a database: the proposal and review state machines, the allocation
filter of placement, decision due dates on the working-day calendar, and call rules."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from aifactory.catalog.access_modes import call_rules
from aifactory.db.tables import Call
from aifactory.domain.access import (
    PROPOSAL_TRANSITIONS,
    REVIEW_TRANSITIONS,
    AccessMode,
    IllegalTransition,
    ProposalState,
    ReviewState,
    check_proposal_transition,
    check_review_transition,
)
from aifactory.domain.access_forms import CallSpec
from aifactory.scheduling.cycle import cycle
from aifactory.scheduling.model import Action, Budget, Filter
from aifactory.services.calls import decision_due, default_cutoffs
from tests.unit.builders import (
    NOW,
    make_catalog,
    make_job,
    make_partition,
    make_site,
    make_snapshot,
)

P = ProposalState

# Every edge a proposal may take, and nothing else (the table is the single source).
PROPOSAL_EDGES = {
    (P.DRAFT, P.SUBMITTED),
    (P.DRAFT, P.WITHDRAWN),
    (P.SUBMITTED, P.ELIGIBILITY),
    (P.ELIGIBILITY, P.TECHNICAL_REVIEW),
    (P.TECHNICAL_REVIEW, P.PEER_REVIEW),
    (P.TECHNICAL_REVIEW, P.ACCEPTED),
    (P.TECHNICAL_REVIEW, P.REJECTED),
    (P.TECHNICAL_REVIEW, P.WITHDRAWN),
    (P.PEER_REVIEW, P.ACCEPTED),
    (P.PEER_REVIEW, P.REJECTED),
    (P.PEER_REVIEW, P.WITHDRAWN),
}


@pytest.mark.parametrize("current", list(P))
@pytest.mark.parametrize("target", list(P))
def test_proposal_transitions_are_exactly_the_table(current: P, target: P) -> None:
    if (current, target) in PROPOSAL_EDGES:
        check_proposal_transition(current, target)
    else:
        with pytest.raises(IllegalTransition, match=f"from {current.value} to {target.value}"):
            check_proposal_transition(current, target)


def test_decided_and_withdrawn_are_final_and_everything_else_can_end() -> None:
    for state in P:
        assert (PROPOSAL_TRANSITIONS[state] == frozenset()) == state.is_final
    # Every state reaches a final one.
    for state in P:
        seen, frontier = {state}, [state]
        while frontier:
            for nxt in PROPOSAL_TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert any(s.is_final for s in seen), state


@given(st.lists(st.sampled_from(list(P)), max_size=12))
def test_a_random_walk_only_moves_along_the_table(steps: list[P]) -> None:
    state = P.DRAFT
    for target in steps:
        try:
            check_proposal_transition(state, target)
        except IllegalTransition:
            assert target not in PROPOSAL_TRANSITIONS[state]
            continue
        assert (state, target) in PROPOSAL_EDGES
        state = target


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        (ReviewState.REQUESTED, ReviewState.SUBMITTED, True),
        (ReviewState.REQUESTED, ReviewState.CANCELLED, True),
        (ReviewState.SUBMITTED, ReviewState.SUBMITTED, False),  # a review is given once
        (ReviewState.SUBMITTED, ReviewState.CANCELLED, False),
        (ReviewState.CANCELLED, ReviewState.SUBMITTED, False),
    ],
)
def test_review_transitions(current: ReviewState, target: ReviewState, ok: bool) -> None:
    assert (target in REVIEW_TRANSITIONS[current]) == ok
    if ok:
        check_review_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_review_transition(current, target)


# -- placement: an allocation with room ---------------------------------------------------------
SITE = make_site("fi", make_partition("a100", "A100"))
KEY = ("fi", "a100")
HOUR = 3600

# (case, the project's budgets, job, placed?, allocation chosen, words in the verdict's reason)
BUDGETS = [
    ("no allocation at all", {}, make_job(), False, None, "no allocation here"),
    ("room for it", {KEY: Budget((("alc-1", 2 * HOUR),))}, make_job(), True, "alc-1", ""),
    ("exactly enough", {KEY: Budget((("alc-1", HOUR),))}, make_job(), True, "alc-1", ""),
    ("one second short", {KEY: Budget((("alc-1", HOUR - 1),))}, make_job(), False, None,
     "GPU-hours left; the job needs 1"),
    ("walltime x GPUs", {KEY: Budget((("alc-1", 3 * HOUR),))}, make_job().gpus(4), False, None,
     "allocation has 3 GPU-hours left; the job needs 4"),
    ("soonest-ending first", {KEY: Budget((("alc-old", HOUR), ("alc-new", 9 * HOUR)))},
     make_job(), True, "alc-old", ""),
    ("next one when the first is short", {KEY: Budget((("alc-old", 10), ("alc-new", HOUR)))},
     make_job(), True, "alc-new", ""),
    ("exhausted, with the reason", {KEY: Budget((), "allocation alc-1 is exhausted")},
     make_job(), False, None, "allocation alc-1 is exhausted; the job needs 1 GPU-hours"),
    ("no GPUs still needs a live allocation", {KEY: Budget((("alc-1", 0),))},
     make_job().gpus(0), False, None, "0 GPU-hours left"),
    ("no GPUs on a live allocation", {KEY: Budget((("alc-1", 1),))}, make_job().gpus(0), True,
     "alc-1", ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "budgets", "job", "placed", "allocation", "words"),
    BUDGETS,
    ids=[b[0] for b in BUDGETS],
)
def test_placement_needs_an_allocation_with_room_for_walltime_times_gpus(  # type: ignore[no-untyped-def]
    case: str, budgets, job, placed: bool, allocation: str | None, words: str
) -> None:
    snap = make_snapshot(SITE, jobs=[job], budgets={"p1": budgets}, check_budgets=True)
    decision = cycle(snap, NOW).of("j1")
    (verdict,) = decision.verdicts
    assert (decision.action is Action.PLACE) == placed, verdict
    assert verdict.allocation_id == allocation
    assert words in verdict.reason, verdict.reason
    if placed:
        assert decision.chosen == verdict
    else:
        # Hours may come (a grant, a settlement): the job waits, it is not failed.
        assert verdict.failed is Filter.ALLOCATION and verdict.retry
        assert decision.action is Action.HOLD
        assert decision.reason.startswith("waiting for an allocation with hours left: fi/a100: ")


def test_a_cycle_counts_what_it_promised_to_the_projects_earlier_jobs() -> None:
    budgets = {"p1": {KEY: Budget((("alc-old", HOUR), ("alc-new", 90 * 60)))}}
    jobs = [make_job().submitted_at(NOW - 30 + i).pending(f"j{i}") for i in range(3)]
    snap = make_snapshot(SITE, jobs=jobs, budgets=budgets, check_budgets=True)
    decisions = cycle(snap, NOW)
    assert [decisions.of(j.id).action for j in jobs] == [Action.PLACE, Action.PLACE, Action.HOLD]
    assert [decisions.of(j.id).verdicts[0].allocation_id for j in jobs] == [
        "alc-old",
        "alc-new",
        None,
    ]
    assert decisions.of("j2").verdicts[0].reason == (
        "allocation has 0.5 GPU-hours left; the job needs 1"
    )


def test_another_projects_allocation_is_not_drawn_on() -> None:
    budgets = {"p-rich": {KEY: Budget((("alc-rich", 100 * HOUR),))}}
    job = make_job().project("p-poor")
    snap = make_snapshot(SITE, jobs=[job], budgets=budgets, check_budgets=True)
    assert cycle(snap, NOW).of("j1").action is Action.HOLD


def test_without_budgets_allocations_are_not_considered() -> None:
    snap = make_snapshot(SITE, jobs=[make_job()], check_budgets=False)
    decision = cycle(snap, NOW).of("j1")
    assert decision.action is Action.PLACE
    assert decision.chosen is not None and decision.chosen.allocation_id is None


# -- decision due dates ----------------------------------------------------------------------
def _call(mode: AccessMode, cutoffs: list[str], **rules: object) -> Call:
    return Call(
        code="2026XX01",
        mode=mode.value,
        partitions=["local/local"],
        cutoffs=cutoffs,
        rules=call_rules(mode, dict(rules)).model_dump(mode="json"),
    )


LOCAL = make_catalog(make_site("local", make_partition("local", "A100"), country="LU"))

# (case, call, submitted on, cut-off, due)
DUE = [
    # Playground: 2 working days after submission.
    ("weekday", _call(AccessMode.PLAYGROUND, []), date(2026, 11, 24), None, date(2026, 11, 26)),
    ("across a weekend", _call(AccessMode.PLAYGROUND, []), date(2026, 11, 27), None,
     date(2026, 12, 1)),
    # Luxembourg: 25 and 26 December are public holidays (a Friday and a Saturday in 2026).
    ("across Christmas", _call(AccessMode.PLAYGROUND, []), date(2026, 12, 23), None,
     date(2026, 12, 28)),
    ("extra site closure", _call(AccessMode.PLAYGROUND, [],
     calendar={"extra_closed": ["2026-11-30"]}), date(2026, 11, 27), None, date(2026, 12, 2)),
    # Finland also keeps Christmas Eve (Thursday 24 December 2026).
    ("another country's calendar", _call(AccessMode.PLAYGROUND, [],
     calendar={"country": "FI"}), date(2026, 12, 23), None, date(2026, 12, 29)),
    # Fast Lane: 4 working days.
    ("fast lane", _call(AccessMode.FAST_LANE, []), date(2026, 11, 27), None, date(2026, 12, 3)),
    # Large Scale: 10 working days after the next cut-off.
    ("large scale after its cut-off", _call(AccessMode.LARGE_SCALE, ["2026-12-01", "2026-12-15"]),
     date(2026, 11, 27), date(2026, 12, 1), date(2026, 12, 15)),
    ("cut-off day itself", _call(AccessMode.LARGE_SCALE, ["2026-12-01", "2026-12-15"]),
     date(2026, 12, 1), date(2026, 12, 1), date(2026, 12, 15)),
    ("over Christmas", _call(AccessMode.LARGE_SCALE, ["2026-12-15"]), date(2026, 12, 2),
     date(2026, 12, 15), date(2026, 12, 30)),
    # AI for Science: one month after the cut-off.
    ("ai for science", _call(AccessMode.AI_FOR_SCIENCE, ["2027-01-31"]), date(2026, 12, 10),
     date(2027, 1, 31), date(2027, 2, 28)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "call", "submitted", "cutoff", "due"), DUE, ids=[d[0] for d in DUE]
)
def test_decision_due_dates(
    case: str, call: Call, submitted: date, cutoff: date | None, due: date
) -> None:
    assert decision_due(call, LOCAL, submitted) == (cutoff, due)


def test_default_cutoffs() -> None:
    large = default_cutoffs(AccessMode.LARGE_SCALE, date(2026, 11, 27))
    assert large[:3] == [date(2026, 12, 1), date(2026, 12, 15), date(2027, 1, 1)]
    assert len(large) == 24  # two a month for a year
    science = default_cutoffs(AccessMode.AI_FOR_SCIENCE, date(2026, 11, 27))
    assert science[:2] == [date(2027, 1, 1), date(2027, 3, 1)]  # every two months
    assert default_cutoffs(AccessMode.PLAYGROUND, date(2026, 11, 27)) == []


# -- call rules --------------------------------------------------------------------------------
def test_the_defaults_reproduce_the_four_modes() -> None:
    pg, fl, ls, ai = (call_rules(m) for m in AccessMode)
    assert (pg.technical_check.value, pg.peer_reviews, pg.operator_decision) == (
        "automatic",
        0,
        False,
    )
    assert (pg.durations_months, pg.decision_working_days, pg.max_partitions) == ([1, 2, 3], 2, 1)
    assert (fl.max_gpu_hours, fl.decision_working_days, fl.technical_check.value) == (
        50_000,
        4,
        "reviewer",
    )
    assert (ls.min_gpu_hours, ls.peer_reviews, ls.decision_working_days) == (50_001, 2, 10)
    assert (ls.durations_months, ls.decision_from.value) == ([3, 6, 12], "cutoff")
    assert (ai.decision_months, ai.inference_share_max, ai.durations_months) == (1, 0.10, [6])


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"peer_reviews": 1}, "a single peer review is no panel"),
        ({"max_gpu_hours": 10, "min_gpu_hours": 20}, "max_gpu_hours must not be below"),
        ({"decision_months": 1}, "exactly one of decision_working_days and decision_months"),
        ({"operator_decision": False}, "peer-reviewed calls need operator_decision"),
        (
            {"calendar": {"extra_closed": ["2026-12-01"], "extra_open": ["2026-12-01"]}},
            "in both extra_closed and extra_open",
        ),
    ],
)
def test_inconsistent_rules_are_refused(overrides: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        call_rules(AccessMode.LARGE_SCALE, overrides)


def test_a_call_file_refuses_unknown_rules_and_numbers_for_dates() -> None:
    base = {"title": "Call", "mode": "playground", "partitions": ["local/local"]}
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CallSpec.model_validate({**base, "rules": {"max_gpu_hour": 5}})
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        CallSpec.model_validate({**base, "opens_on": 20261201})
    with pytest.raises(ValidationError, match="must not be before opens_on"):
        CallSpec.model_validate({**base, "opens_on": "2026-12-02", "closes_on": "2026-12-01"})
