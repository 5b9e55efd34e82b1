"""The reasons a waiting job reads, in one place: stable while nothing changes (no countdown),
so a waiting job is not rewritten every pass."""

from __future__ import annotations

from collections.abc import Sequence

from aifactory.scheduling.model import Budget, Filter, Verdict

NO_ALLOCATION = "the project has no allocation here; apply to an access call (aif calls)"


def shortfall(budget: Budget, need: int, left: dict[str, int]) -> str:
    """Why none of the project's allocations on a partition can take ``need`` GPU-seconds,
    counting what this cycle already promised (``left``)."""
    if not budget.usable:
        return f"{budget.problem}; the job needs {need / 3600:g} GPU-hours"
    best = max(left.get(a, start_left) for a, start_left in budget.usable)
    return f"allocation has {max(best, 0) / 3600:g} GPU-hours left; the job needs {need / 3600:g}"


def hold_reason(verdicts: Sequence[Verdict], never: bool) -> str:
    """Why the job waits, or (``never``) why it fails."""
    if never:
        return ("no partition can run this job: " + summarise(verdicts))[:2000]
    full = [v for v in verdicts if v.feasible]
    if full:
        where = ", ".join(f"{v.site}/{v.partition}" for v in full)
        return f"waiting for capacity on {where}"[:2000]
    retry = [v for v in verdicts if v.retry]
    if any(v.failed is Filter.HEALTH for v in retry):
        return f"waiting for a site to answer: {summarise(retry)}"[:2000]
    return f"waiting for an allocation with hours left: {summarise(retry)}"[:2000]


def summarise(verdicts: Sequence[Verdict]) -> str:
    return "; ".join(f"{v.site}/{v.partition}: {v.reason}" for v in verdicts)
