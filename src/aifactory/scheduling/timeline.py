"""A partition's capacity over the coming hours, as one cycle sees and changes it.

Free accelerators (and CPUs, where the platform tracks them) now, when the jobs on it end
(their walltime: a job never runs longer), and at most one reservation: EASY backfill's
"shadow" for the first job that must wait here. A later job may start now only if it ends
before the shadow time or fits in what the reserved job leaves free (``extra``), so it never
delays the reserved one.

Mutable, but only inside one ``cycle`` call: the cycle builds fresh timelines from its
snapshot every time.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass


@dataclass
class Reservation:
    job_id: str
    start_s: float  # the shadow time
    accelerators: int
    cpus: int
    walltime_s: float
    extra: int  # accelerators free at the shadow time beyond the reserved job's
    extra_cpus: int | None


class Timeline:
    def __init__(
        self, total: int, free: int, free_cpus: int | None, releases: list[tuple[float, int, int]]
    ) -> None:
        self.total = total
        self.free = free
        self.free_cpus = free_cpus
        self.releases = sorted(releases)  # (seconds from now, accelerators, cpus)
        self.reservation: Reservation | None = None
        self.in_flight = 0
        self._memo: dict[tuple[int, int], float | None] = {}

    def changed(self) -> None:
        """Forget cached answers after the releases or the reservation changed."""
        self._memo.clear()

    def _fits(self, free: int, cpus: int | None, need: int, need_cpus: int) -> bool:
        return free >= need and (cpus is None or cpus >= need_cpus)

    def earliest(self, need: int, need_cpus: int) -> float | None:
        """Seconds until ``need`` accelerators (and CPUs) are free, from the releases alone;
        None if not even every release frees enough."""
        key = (need, need_cpus)
        if key in self._memo:
            return self._memo[key]
        free, cpus = self.free, self.free_cpus
        when: float | None = None
        if self._fits(free, cpus, need, need_cpus):
            when = 0.0
        else:
            for t, acc, c in self.releases:
                free += acc
                cpus = None if cpus is None else cpus + c
                if self._fits(free, cpus, need, need_cpus):
                    when = max(t, 0.0)
                    break
        self._memo[key] = when
        return when

    def _free_at(self, t: float) -> tuple[int, int | None]:
        free, cpus = self.free, self.free_cpus
        for when, acc, c in self.releases:
            if when > t:
                break
            free += acc
            cpus = None if cpus is None else cpus + c
        return free, cpus

    def start_estimate(self, need: int, need_cpus: int, walltime_s: float) -> float | None:
        """When the job could start here, honouring the reservation."""
        t1 = self.earliest(need, need_cpus)
        r = self.reservation
        if r is None or t1 is None:
            return t1
        if t1 + walltime_s <= r.start_s:
            return t1  # ends before the reserved job starts
        if need <= r.extra and (r.extra_cpus is None or need_cpus <= r.extra_cpus):
            return t1  # free only grows after t1, so the room beside the reserved job holds
        # Must wait for room beside the reserved job, or for it to end.
        both = self.earliest(need + r.accelerators, need_cpus + r.cpus)
        after = max(t1, r.start_s + r.walltime_s)
        return after if both is None else max(min(both, after), r.start_s)

    def can_start_now(self, need: int, need_cpus: int, walltime_s: float) -> bool:
        if not self._fits(self.free, self.free_cpus, need, need_cpus):
            return False
        r = self.reservation
        if r is None or walltime_s <= r.start_s:
            return True
        return need <= r.extra and (r.extra_cpus is None or need_cpus <= r.extra_cpus)

    def start(self, need: int, need_cpus: int, walltime_s: float) -> None:
        """A job starts now: its accelerators are taken until its walltime ends."""
        self.free -= need
        if self.free_cpus is not None:
            self.free_cpus -= need_cpus
        bisect.insort(self.releases, (walltime_s, need, need_cpus))
        r = self.reservation
        if r is not None and walltime_s > r.start_s:
            r.extra -= need  # still running at the shadow time: uses the spare room
            if r.extra_cpus is not None:
                r.extra_cpus -= need_cpus
        self.changed()

    def reserve(
        self, job_id: str, start_s: float, need: int, need_cpus: int, walltime_s: float
    ) -> None:
        free, cpus = self._free_at(start_s)
        self.reservation = Reservation(
            job_id,
            start_s,
            need,
            need_cpus,
            walltime_s,
            free - need,
            None if cpus is None else cpus - need_cpus,
        )
        self.changed()
