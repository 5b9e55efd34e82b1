"""Slurm sites as the platform wants them: accounts and limits from allocations, health.

The desired state comes from the database (organisations -> projects -> allocations on the
site's partitions); :mod:`aifactory.executors.slurm.accounts` compares it with what
``sacctmgr`` reports and plans only the difference.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aifactory.db.engine import Database
from aifactory.db.tables import Allocation, Job, LedgerEntry, Organisation, Project, SiteHealth
from aifactory.domain.access import LedgerKind
from aifactory.domain.catalog import Catalog
from aifactory.domain.jobs import JobState
from aifactory.executors.slurm import accounts
from aifactory.executors.slurm.cli import CliClient
from aifactory.executors.slurm.client import SiteUnavailable, SlurmRefused
from aifactory.executors.slurm.connection import SiteConnection
from aifactory.services import audit
from aifactory.services.ids import as_utc, utcnow

log = logging.getLogger(__name__)

OK = "ok"
DEGRADED = "degraded"


@dataclass
class Reconciled:
    site: str
    cluster: str
    commands: list[str]
    applied: bool
    error: str = ""
    accounts: frozenset[str] = frozenset()  # every account the platform wants on the site


def desired_state(
    session: Session, catalog: Catalog, conn: SiteConnection, now: datetime
) -> accounts.Desired:
    site = catalog.site(conn.site)
    partitions = [p.id for p in site.partitions]
    allocs = list(
        session.execute(
            select(Allocation).where(
                Allocation.site_id == conn.site, Allocation.partition_id.in_(partitions)
            )
        ).scalars()
    )
    granted = dict(
        session.execute(
            select(LedgerEntry.allocation_id, func.sum(LedgerEntry.gpu_seconds))
            .where(
                LedgerEntry.allocation_id.in_([a.id for a in allocs]),
                LedgerEntry.kind.in_((LedgerKind.GRANT.value, LedgerKind.ADJUSTMENT.value)),
            )
            .group_by(LedgerEntry.allocation_id)
        ).all()
    )
    projects = {
        p.id: p
        for p in session.execute(
            select(Project).where(Project.id.in_({a.project_id for a in allocs}))
        ).scalars()
    }
    orgs = {
        o.id: o
        for o in session.execute(
            select(Organisation).where(Organisation.id.in_({a.org_id for a in allocs}))
        ).scalars()
    }
    out: list[accounts.DesiredAccount] = []
    for org in orgs.values():
        # Texts as the platform has them; the planner turns them into what sacctmgr stores.
        out.append(accounts.DesiredAccount(org.id, conn.account, org.name, org.name))
    for proj in projects.values():
        out.append(
            accounts.DesiredAccount(
                proj.id,
                proj.org_id,
                proj.name,
                orgs[proj.org_id].name,
                submit_blocked=proj.suspended_at is not None,
            )
        )
    users = set()
    for a in allocs:
        # Slurm keeps its own usage, so the limit is everything ever granted; an allocation
        # outside its period refuses new submissions.
        live = as_utc(a.starts_at) <= now < as_utc(a.ends_at)
        out.append(
            accounts.DesiredAccount(
                a.id,
                a.project_id,
                f"allocation on {a.partition_id}",
                orgs[a.org_id].name,
                gpu_minutes=max(0, int(granted.get(a.id) or 0)) // 60,
                submit_blocked=not live,
            )
        )
        users.add((a.id, conn.submit_user))
    return accounts.Desired(
        cluster=conn.cluster,
        root=conn.account,
        root_description="aifactory platform accounts",
        accounts=tuple(out),
        users=frozenset(users),
    )


def plan_site(
    db: Database, catalog: Catalog, conn: SiteConnection, now: datetime | None = None
) -> tuple[accounts.Desired, list[list[str]]]:
    """What sacctmgr would have to run on the site to match the platform (reads only)."""
    with db.read() as session:
        desired = desired_state(session, catalog, conn, now or utcnow())
    cli = CliClient(conn)
    assocs = accounts.parse_associations(cli.run(accounts.show_assoc_argv(conn.cluster)))
    known = accounts.parse_accounts(cli.run(accounts.show_accounts_argv()))
    return desired, accounts.plan(desired, assocs, known)


def reconcile(
    db: Database,
    catalog: Catalog,
    conn: SiteConnection,
    *,
    dry_run: bool = False,
    actor: str = audit.SYSTEM_ACTOR,
) -> Reconciled:
    """Bring the site's accounts and limits to the desired state; only the difference runs."""
    try:
        desired, steps = plan_site(db, catalog, conn)
    except (SiteUnavailable, SlurmRefused, ValueError) as exc:
        return Reconciled(conn.site, conn.cluster, [], False, str(exc))
    lines = [accounts.command_line(argv) for argv in steps]
    names = frozenset(a.name for a in desired.accounts)
    if dry_run or not steps:
        return Reconciled(conn.site, conn.cluster, lines, False, accounts=names)
    cli = CliClient(conn)
    done: list[str] = []
    error = ""
    for argv, line in zip(steps, lines, strict=True):
        try:
            cli.run(argv)
        except (SiteUnavailable, SlurmRefused) as exc:
            error = f"{line}: {exc}"
            break
        done.append(line)
    with db.write() as session:
        audit.append(
            session,
            actor=actor,
            action="slurm.reconcile",
            object_type="site",
            object_id=conn.site,
            data={"cluster": conn.cluster, "commands": done, "error": error},
        )
    log.info(
        "site %s: %d sacctmgr commands run%s", conn.site, len(done), f"; {error}" if error else ""
    )
    return Reconciled(conn.site, conn.cluster, done, True, error, accounts=names)


# -- health ------------------------------------------------------------------------------
def degraded_sites(session: Session) -> dict[str, str]:
    rows = session.execute(
        select(SiteHealth.site_id, SiteHealth.error).where(SiteHealth.state == DEGRADED)
    ).all()
    return {site: error for site, error in rows}


def health_of(session: Session) -> dict[str, SiteHealth]:
    return {h.site_id: h for h in session.execute(select(SiteHealth)).scalars()}


def record_health(db: Database, results: Mapping[str, str | None], now: datetime) -> list[str]:
    """Store what each site answered; returns the sites that answer again after being
    degraded (their accounts are reconciled and their waiting submissions retried)."""
    recovered = []
    with db.write() as session:
        known = health_of(session)
        for site, error in results.items():
            row = known.get(site)
            state = OK if error is None else DEGRADED
            if row is None:
                row = SiteHealth(
                    site_id=site,
                    state=state,
                    error=error or "",
                    since=now,
                    checked_at=now,
                    failures=0,
                )
                session.add(row)
            elif row.state != state:
                if state == OK:
                    recovered.append(site)
                audit.append(
                    session,
                    actor=audit.SYSTEM_ACTOR,
                    action=f"site.{state}",
                    object_type="site",
                    object_id=site,
                    data={"error": error or "", "was": row.state},
                )
                row.state, row.since = state, now
            row.error = (error or "")[:2000]
            row.checked_at = now
            row.failures = 0 if error is None else row.failures + 1
        if recovered:
            # Submissions that waited for these sites are due now.
            session.execute(
                update(Job)
                .where(Job.state == JobState.PLACED.value, Job.site_id.in_(recovered))
                .values(next_attempt_at=now)
            )
    return recovered


def retry_delay(attempts: int) -> timedelta:
    """Backoff for a submission whose site does not answer: 2, 4, 8 ... up to 300 s."""
    return timedelta(seconds=min(300, 2 ** max(1, min(attempts, 9))))


@dataclass
class AccountCache:
    """Allocation accounts known to exist per site, so a launch reconciles only when it
    draws on an allocation the site has not seen yet."""

    known: dict[str, set[str]] = field(default_factory=dict)

    def ensure(
        self, db: Database, catalog: Catalog, conn: SiteConnection, allocation_id: str
    ) -> None:
        if allocation_id in self.known.get(conn.site, set()):
            return
        result = reconcile(db, catalog, conn)
        if result.error:
            raise SiteUnavailable(f"accounts of {conn.site} not reconciled: {result.error}")
        self.known[conn.site] = set(result.accounts)

    def forget(self, sites: Sequence[str]) -> None:
        for site in sites:
            self.known.pop(site, None)
