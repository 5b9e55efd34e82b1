"""The Slurm loop: follow jobs at every Slurm site, keep site health, keep accounts in step.

One pass: one squeue (and one sacct for jobs that left the queue) per cluster; record which
sites answered; a site that answers again after being degraded has its accounts reconciled
and its waiting submissions retried; every site's accounts are reconciled now and then
(allocations granted, adjusted or ended since).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from aifactory.db.engine import Database
from aifactory.domain.catalog import Catalog, ExecutorKind
from aifactory.executors.slurm.connection import SiteConnection
from aifactory.executors.slurm.executor import SlurmExecutor
from aifactory.services import slurm_sites
from aifactory.services.ids import utcnow

log = logging.getLogger(__name__)


class SlurmSync:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        connections: Mapping[str, SiteConnection],
        executor: SlurmExecutor,
        poll: Callable[[set[ExecutorKind]], int],
        *,
        reconcile_interval_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.connections = dict(connections)
        self.executor = executor
        self._poll = poll
        self.reconcile_interval_s = reconcile_interval_s
        self._clock = clock
        self._last_reconcile: dict[str, float] = {}
        self.accounts = slurm_sites.AccountCache()

    def ensure_account(self, site: str, allocation_id: str) -> None:
        """Before a launch: the allocation's account exists at the site."""
        self.accounts.ensure(self.db, self.catalog, self.connections[site], allocation_id)

    def reconcile(self, site: str) -> slurm_sites.Reconciled:
        result = slurm_sites.reconcile(self.db, self.catalog, self.connections[site])
        if not result.error:
            self._last_reconcile[site] = self._clock()
            self.accounts.known[site] = set(result.accounts)
        return result

    def step(self) -> int:
        changed = self._poll({ExecutorKind.SLURM})
        answers = self.executor.health()
        recovered = slurm_sites.record_health(self.db, answers, utcnow())
        self.accounts.forget(recovered)
        now = self._clock()
        for site, error in answers.items():
            if error is not None:
                continue
            due = now - self._last_reconcile.get(site, float("-inf")) >= self.reconcile_interval_s
            if site in recovered or due:
                result = self.reconcile(site)
                if result.error:
                    log.warning("site %s: reconcile failed: %s", site, result.error)
        return changed
