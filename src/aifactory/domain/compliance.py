"""The compliance case's states: a threshold crossed is open until a compliance officer
closes it with a reason (the Commission notified, or the crossing was a mistake). One enum,
one transition table."""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.OPEN: frozenset({CaseState.CLOSED}),
    CaseState.CLOSED: frozenset(),  # a closed case stays closed; a new threshold is a new case
}


def check_transition(current: CaseState, new: CaseState) -> None:
    if new not in TRANSITIONS[current]:
        raise ValueError(f"a {current.value} case cannot become {new.value}")
