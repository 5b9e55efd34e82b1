"""What could ever run a job: the hard filters alone, without load or allocations.

Used when a job is submitted, to refuse at once a job no partition of the federation can run
(the cycle would fail it anyway); the cycle itself (``scheduling.cycle``) places jobs.
"""

from __future__ import annotations

from aifactory.domain.catalog import Catalog
from aifactory.scheduling.filters import first_failed
from aifactory.scheduling.model import Demand, Verdict


def static_candidates(demand: Demand, catalog: Catalog) -> list[Verdict]:
    out = []
    for site, part in catalog.partitions():
        failed = first_failed(demand, site, part)
        out.append(
            Verdict(
                site.id,
                part.id,
                part.executor,
                failed is None,
                failed[1] if failed else "passes filters",
                failed[0] if failed else None,
            )
        )
    return out
