"""One enum, one transition table: illegal transitions cannot be written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain.jobs import (
    FINAL_STATES,
    TRANSITIONS,
    IllegalTransition,
    JobState,
    check_transition,
)

LEGAL = [
    ("pending", "placed"), ("pending", "cancelled"), ("pending", "failed"),
    ("placed", "submitted"), ("placed", "pending"), ("placed", "cancelled"), ("placed", "failed"),
    ("submitted", "running"), ("submitted", "completed"), ("submitted", "failed"),
    ("submitted", "cancelled"), ("submitted", "timeout"),
    ("running", "completed"), ("running", "failed"), ("running", "cancelled"),
    ("running", "timeout"),
]  # fmt: skip


def test_the_table_is_exactly_the_documented_lifecycle() -> None:
    table = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == set(LEGAL)
    assert set(TRANSITIONS) == set(JobState)


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
def test_final_states_have_no_way_out(state: JobState) -> None:
    assert state.is_final
    for target in JobState:
        with pytest.raises(IllegalTransition, match="final state"):
            check_transition(state, target)


@given(st.sampled_from(list(JobState)), st.sampled_from(list(JobState)))
def test_check_transition_agrees_with_the_table(a: JobState, b: JobState) -> None:
    if (a.value, b.value) in LEGAL:
        check_transition(a, b)
    else:
        with pytest.raises(IllegalTransition) as err:
            check_transition(a, b)
        assert a.value in str(err.value) and b.value in str(err.value)


@given(st.lists(st.sampled_from(list(JobState)), max_size=12))
def test_every_walk_through_the_table_starts_pending_and_stops_at_a_final_state(
    steps: list[JobState],
) -> None:
    state = JobState.PENDING
    for target in steps:
        if target in TRANSITIONS[state]:
            state = target
    # Whatever was attempted, the state is one reachable from pending.
    assert state in _reachable(JobState.PENDING)


def _reachable(start: JobState) -> set[JobState]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_state_is_reachable_and_every_path_can_end() -> None:
    assert _reachable(JobState.PENDING) == set(JobState)
    for state in JobState:
        assert _reachable(state) & FINAL_STATES
