"""Victims for preemption, computed on the snapshot before anything is stopped.

Only on partitions that allow it (off by default), only Playground jobs whose owners allowed
it (``preemptible``), only jobs of lower priority than the one waiting, and only when stopping
them actually lets the waiting job start. Lowest priority first, then the one with the most
walltime left (whose accelerators would stay busy longest), then the id; and no more than the
job needs: a victim whose stop turns out unnecessary is spared. Jobs already past their
walltime or being stopped count as free and are never victims.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from aifactory.domain.access import AccessMode
from aifactory.scheduling.model import Active


def victims(
    active: Iterable[Active],
    *,
    free: int,
    free_cpus: int | None,
    need: int,
    need_cpus: int,
    priority: int,
    taken: Collection[str] = (),
) -> tuple[Active, ...] | None:
    """The fewest jobs (in the order above) whose accelerators let the job start now; None
    when even all of them would not."""
    eligible = sorted(
        (
            a
            for a in active
            if a.running
            and a.preemptible
            and a.mode is AccessMode.PLAYGROUND
            and a.priority < priority
            and a.ends_in_s > 0
            and a.id not in taken
        ),
        key=lambda a: (a.priority, -a.ends_in_s, a.id),
    )
    chosen: list[Active] = []
    for a in eligible:
        if free >= need and (free_cpus is None or free_cpus >= need_cpus):
            break
        chosen.append(a)
        free += a.accelerators
        free_cpus = None if free_cpus is None else free_cpus + a.cpus
    if not (free >= need and (free_cpus is None or free_cpus >= need_cpus)) or not chosen:
        return None
    # Spare, last chosen first, any victim the job still fits without.
    for a in reversed(list(chosen)):
        rest_free = free - a.accelerators
        rest_cpus = None if free_cpus is None else free_cpus - a.cpus
        if rest_free >= need and (rest_cpus is None or rest_cpus >= need_cpus):
            chosen.remove(a)
            free, free_cpus = rest_free, rest_cpus
    return tuple(chosen)
