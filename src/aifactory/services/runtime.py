"""The platform assembled from settings: database, catalog, executors and background loops.

Built by ``create_app`` and by the CLI; never a module global.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from aifactory.catalog.loader import load_catalog
from aifactory.core.ratelimit import RateLimit
from aifactory.db.engine import Database
from aifactory.domain.catalog import Catalog, ExecutorKind
from aifactory.domain.execution import Executor
from aifactory.executors.local import LocalExecutor
from aifactory.executors.simulated import SimulatedExecutor
from aifactory.executors.slurm.connection import SiteConnection, load_connections
from aifactory.executors.slurm.executor import SlurmExecutor
from aifactory.notify.mail import Mailer, SmtpMailer
from aifactory.scheduling.priority import DEFAULT_QOS, Weights
from aifactory.services import arrays, notifications, obligations
from aifactory.services.compliance import cases, ledger
from aifactory.services.data.placement import Inputs
from aifactory.services.data.stores import DataPlane, load_store_configs
from aifactory.services.dispatch import Dispatcher
from aifactory.services.dry_run import DryRuns
from aifactory.services.leadership import Lease, make_lease
from aifactory.services.slurm_sync import SlurmSync
from aifactory.services.snapshot import Policy
from aifactory.settings import Mode, Settings

log = logging.getLogger(__name__)


def mailer_from(settings: Settings) -> Mailer | None:
    """SMTP when configured; otherwise mail waits in the outbox."""
    if not settings.smtp_host:
        return None
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_sender,
        username=settings.smtp_username or None,
        password=settings.smtp_password.get_secret_value() or None,
        starttls=settings.smtp_starttls,
    )


@dataclass
class Loop:
    """One background loop; it runs its step only while it holds its lease."""

    name: str
    lease: Lease
    step: Callable[[], object]
    on_acquire: Callable[[], object] | None
    interval_s: float
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    leading: bool = False

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                if self.leading and not self.lease.still_held():
                    log.warning("loop %s lost its lease", self.name)
                    self.leading = False
                if not self.leading and self.lease.try_acquire():
                    self.leading = True
                    log.info("loop %s: this process leads", self.name)
                    if self.on_acquire:
                        self.on_acquire()
                if self.leading:
                    self.step()
            except Exception:  # a failing pass must not end the loop; the next pass retries
                log.exception("loop %s: pass failed", self.name)
            self.stop.wait(self.interval_s)
        if self.leading:
            self.lease.release()
            self.leading = False


def with_slurm(catalog: Catalog, connections: Mapping[str, SiteConnection]) -> Catalog:
    """Every partition of a connected site is a real Slurm partition."""
    sites = tuple(
        replace(
            s,
            partitions=tuple(replace(p, executor=ExecutorKind.SLURM) for p in s.partitions),
        )
        if s.id in connections
        else s
        for s in catalog.sites
    )
    return replace(catalog, sites=sites)


def policy_of(settings: Settings, catalog: Catalog) -> Policy:
    """The scheduling policy the settings describe; unknown partitions are refused by name."""
    known = {f"{s.id}/{p.id}" for s, p in catalog.partitions()}
    for item in settings.preemption:
        if item not in known:
            raise ValueError(
                f"preemption: no partition {item!r}; known: {', '.join(sorted(known))}"
            )
    qos = dict(DEFAULT_QOS)
    qos.update(settings.qos_weights)
    return Policy(
        slurm_window=settings.slurm_window,
        preemption=frozenset(
            (site, part) for site, _, part in (x.partition("/") for x in settings.preemption)
        ),
        half_life_s=settings.fairshare_half_life_s,
        weights=Weights(qos_by_mode=qos),
    )


class Runtime:
    def __init__(self, settings: Settings, catalog: Catalog | None = None) -> None:
        self.settings = settings
        catalog = catalog or load_catalog(settings.catalog, local_slots=settings.local_slots)
        self.connections: dict[str, SiteConnection] = (
            load_connections(settings.slurm_sites, {s.id for s in catalog.sites})
            if settings.slurm_sites
            else {}
        )
        self.catalog = with_slurm(catalog, self.connections)
        self.db = Database(settings.effective_database_url, pool_size=settings.db_pool_size)
        # An array's own row follows its tasks, in the transaction that moved them.
        self.db.before_commit.append(arrays.refresh_touched)
        self.executors: dict[ExecutorKind, Executor] = {
            ExecutorKind.LOCAL: LocalExecutor(grace_s=settings.kill_grace_s),
            ExecutorKind.SIMULATED: SimulatedExecutor(),
        }
        self.slurm: SlurmSync | None = None
        self.dispatcher = Dispatcher(
            self.db,
            self.catalog,
            self.executors,
            settings.jobs_dir,
            policy=policy_of(settings, self.catalog),
        )
        if self.connections:
            executor = SlurmExecutor(self.connections)
            self.executors[ExecutorKind.SLURM] = executor
            self.slurm = SlurmSync(
                self.db,
                self.catalog,
                self.connections,
                executor,
                self.dispatcher.poll_once,
                reconcile_interval_s=settings.slurm_reconcile_interval_s,
            )
            self.dispatcher.before_launch = self.slurm.ensure_account
        self.data = DataPlane(
            catalog=self.catalog,
            root=settings.data_dir / "storage",
            configs=(
                load_store_configs(settings.data_stores, {s.id for s in self.catalog.sites})
                if settings.data_stores
                else {}
            ),
            chunk_bytes=settings.data_chunk_bytes,
            key_file=settings.master_key_file or settings.data_dir / "master-keys",
            keys_env=settings.master_keys.get_secret_value(),
            create_key_file=settings.mode is Mode.DEVELOPMENT,
        )
        slurm = self.executors.get(ExecutorKind.SLURM)
        inputs = Inputs(self.db, self.data, slurm if isinstance(slurm, SlurmExecutor) else None)
        self.dispatcher.prepare_inputs = inputs.prepare
        self.dispatcher.release_inputs = inputs.release
        # Per process (several API processes each count their own): see docs/identity.md.
        self.limits = {
            "signup": RateLimit(settings.signups_per_hour, 3600),
            "login": RateLimit(settings.logins_per_5min, 300),
            "reset": RateLimit(settings.signups_per_hour, 3600),
        }
        self.dry_runs = DryRuns(self.db, self.catalog, self.dispatcher.policy)
        self.mailer: Mailer | None = mailer_from(settings)
        self.loops: list[Loop] = []

    def start_loops(self) -> None:
        lock_dir = self.settings.data_dir / "locks"
        interval = self.settings.loop_interval_s
        self.loops = [
            # Recovery of half-launched jobs belongs to the loop that launches: a new dispatch
            # leader finishes what the previous one left between placement and launch.
            Loop(
                "dispatch",
                make_lease(self.db, lock_dir, "dispatch"),
                self.dispatcher.dispatch_once,
                self.dispatcher.recover,
                interval,
            ),
            Loop(
                "executor",
                make_lease(self.db, lock_dir, "executor"),
                lambda: self.dispatcher.poll_once({ExecutorKind.LOCAL, ExecutorKind.SIMULATED}),
                None,
                interval,
            ),
            Loop(
                "deadlines",
                make_lease(self.db, lock_dir, "deadlines"),
                self._deadlines,
                None,
                self.settings.deadline_interval_s,
            ),
        ]
        if self.slurm is not None:
            self.loops.append(
                Loop(
                    "slurm",
                    make_lease(self.db, lock_dir, "slurm"),
                    self.slurm.step,
                    None,
                    self.settings.slurm_sync_interval_s,
                )
            )
        mailer = self.mailer
        if mailer is not None:
            self.loops.append(
                Loop(
                    "mail",
                    make_lease(self.db, lock_dir, "mail"),
                    lambda: notifications.deliver_once(self.db, mailer),
                    None,
                    max(interval, 1.0),
                )
            )
        for loop in self.loops:
            loop.thread = threading.Thread(target=loop.run, name=f"aif-{loop.name}", daemon=True)
            loop.thread.start()

    def _deadlines(self) -> None:
        obligations.run_once(self.db)
        cases.run_once(self.db, self.catalog, ledger.rules_of(self.settings))
        with self.db.write() as session:  # the safety net under the arrays' own rows
            arrays.reconcile(session)

    def close(self) -> None:
        for loop in self.loops:
            loop.stop.set()
        for loop in self.loops:
            if loop.thread:
                loop.thread.join(timeout=10)
        self.db.dispose()
