"""The datasets a job reads: resolved at submission (the job's project must own each one or
hold a live grant), turned into the scheduler's ``Residency`` (every dataset's policy must
admit the site), checked against the job's pins (a pin the policies forbid is refused with
403 and an audit event), and put in place before the job starts (a replica staged to its site
if needed, recorded in the transfer log; the plaintext in the job's folder where the platform
runs the job itself).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifactory.db.data_tables import Dataset, DatasetGrant, DatasetVersion, JobDataset
from aifactory.db.engine import Database
from aifactory.db.tables import Job, table
from aifactory.domain.catalog import Catalog, ExecutorKind
from aifactory.domain.data import DatasetRef, ResidencyKind, parse_ref
from aifactory.domain.jobs import FINAL_STATES, JobState
from aifactory.executors.slurm.executor import SlurmExecutor
from aifactory.scheduling.model import DataRule, Residency
from aifactory.services import audit
from aifactory.services.data import replicas
from aifactory.services.data.datasets import Need, get, live_grant, policy_of
from aifactory.services.data.stores import DataPlane
from aifactory.services.errors import Conflict, Invalid, NotFound, Refused
from aifactory.services.identity import Principal
from aifactory.services.ids import utcnow


@dataclass(frozen=True)
class Reads:
    """One dataset version a job reads, as resolved at submission."""

    ref: str  # name@number as the job sees it
    dataset_id: str
    version_id: str


def resolve(
    session: Session, principal: Principal, project_id: str, refs: Sequence[str]
) -> tuple[Reads, ...]:
    """Each ``datasets[i]`` of a spec: a dataset the job's project owns or was granted (and
    the caller can see), and one of its versions; 422 naming the entry otherwise."""
    out: list[Reads] = []
    now = utcnow()
    for i, text in enumerate(refs):
        field = f"datasets[{i}]"
        try:
            ref: DatasetRef = parse_ref(text)
        except ValueError as exc:
            raise Invalid.one(field, str(exc)) from None
        owner = ref.project or project_id
        ds = session.execute(
            select(Dataset).where(Dataset.project_id == owner, Dataset.name == ref.name)
        ).scalar_one_or_none()
        readable = ds is not None and (
            ds.project_id == project_id or live_grant(session, ds.id, [project_id], now)
        )
        if (
            ds is None
            or not readable
            or not (
                principal.can_read_org(ds.org_id)
                or live_grant(session, ds.id, sorted(principal.projects), now)
            )
        ):
            raise Invalid.one(
                field,
                f"no dataset {owner}/{ref.name} that project {project_id} may read "
                "(its own, or granted to it)",
            )
        query = select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
        if ref.version is None:
            number = session.execute(
                select(func.max(DatasetVersion.number)).where(DatasetVersion.dataset_id == ds.id)
            ).scalar_one()
            if number is None:
                raise Invalid.one(field, f"dataset {ref.name} has no version yet")
            query = query.where(DatasetVersion.number == number)
        else:
            query = query.where(DatasetVersion.number == ref.version)
        v = session.execute(query).scalar_one_or_none()
        if v is None:
            raise Invalid.one(field, f"dataset {ref.name} has no version {ref.version}")
        if any(r.version_id == v.id for r in out):
            raise Invalid.one(field, f"{ref.name}@{v.number} is listed twice")
        prefix = f"{ds.project_id}/" if ds.project_id != project_id else ""
        out.append(Reads(f"{prefix}{ds.name}@{v.number}", ds.id, v.id))
    return tuple(out)


def rule_of(ref: str, ds: Dataset) -> DataRule:
    p = policy_of(ds)
    if p.kind is ResidencyKind.COUNTRIES:
        return DataRule(ref, p.describe(ds.home_site), countries=p.countries)
    if p.kind is ResidencyKind.SITES:
        return DataRule(ref, p.describe(ds.home_site), sites=p.sites)
    if p.kind is ResidencyKind.HOME:
        return DataRule(ref, p.describe(ds.home_site), sites=frozenset({ds.home_site}))
    return DataRule(ref, p.describe(ds.home_site))


def residency(rules: Iterable[DataRule]) -> Residency | None:
    """Every rule at once: the countries and sites all of them admit (None: no limit)."""
    rules = tuple(rules)
    if not rules:
        return None
    countries: frozenset[str] | None = None
    sites: frozenset[str] | None = None
    for r in rules:
        if r.countries is not None:
            countries = r.countries if countries is None else countries & r.countries
        if r.sites is not None:
            sites = r.sites if sites is None else sites & r.sites
    return Residency(tuple(r.dataset for r in rules), countries, sites, rules)


def pending_residencies(session: Session) -> dict[str, Residency]:
    """Job id -> its residency, for the pending jobs that read datasets (one query; jobs
    reading the same datasets share one object, which the cycle caches on)."""
    rows = session.execute(
        select(JobDataset.job_id, JobDataset.ref, Dataset)
        .join(Job, Job.id == JobDataset.job_id)
        .join(Dataset, Dataset.id == JobDataset.dataset_id)
        .where(Job.state == JobState.PENDING.value)
        .order_by(JobDataset.job_id, JobDataset.ref)
    ).all()
    by_job: dict[str, list[tuple[str, Dataset]]] = {}
    for job_id, ref, ds in rows:
        by_job.setdefault(job_id, []).append((ref, ds))
    shared: dict[tuple[tuple[str, str], ...], Residency | None] = {}
    out: dict[str, Residency] = {}
    for job_id, items in by_job.items():
        key = tuple((ref, ds.id) for ref, ds in items)
        if key not in shared:
            shared[key] = residency(rule_of(ref, ds) for ref, ds in items)
        res = shared[key]
        if res is not None:
            out[job_id] = res
    return out


def rules_for(session: Session, reads: Sequence[Reads]) -> list[DataRule]:
    out = []
    for r in reads:
        ds = session.get(Dataset, r.dataset_id)
        assert ds is not None
        out.append(rule_of(r.ref, ds))
    return out


def check_pins(
    catalog: Catalog,
    res: Residency | None,
    *,
    principal: Principal,
    org_id: str,
    sites: Sequence[str],
    countries: Sequence[str],
    partitions: Sequence[str],
) -> None:
    """A job pinned (by site, country or partition) only to places its data may not go is
    refused: 403, and the refusal is an audit event."""
    if res is None or not (sites or countries or partitions):
        return
    pinned = [
        s
        for s, p in catalog.partitions()
        if (not sites or s.id in sites)
        and (not countries or s.country in countries)
        and (not partitions or p.id in partitions)
    ]
    if not pinned:
        return  # nothing matches at all: the catalog check says so
    allowed = [s for s in pinned if _admits(res, s.id, s.country)]
    if allowed:
        return
    where = sorted({f"{s.id} ({s.country})" for s in pinned})
    blocking = [
        r
        for r in res.rules
        if not any(
            (r.countries is None or s.country in r.countries)
            and (r.sites is None or s.id in r.sites)
            for s in pinned
        )
    ] or list(res.rules)
    why = "; ".join(f"dataset {r.dataset} may be processed only in {r.rule}" for r in blocking)
    detail = f"the job is pinned to {', '.join(where)}, where its data may not go: {why}"
    raise Refused(
        detail,
        {
            "actor": principal.user_id,
            "action": "job.pin.refused",
            "object_type": "project",
            "object_id": "",
            "org_id": org_id,
            "data": {"pinned": where, "datasets": list(res.datasets), "reason": detail},
        },
    )


def _admits(res: Residency, site: str, country: str) -> bool:
    return (res.countries is None or country in res.countries) and (
        res.sites is None or site in res.sites
    )


def record(session: Session, job_ids: Iterable[str], reads: Sequence[Reads]) -> None:
    rows = [
        {"job_id": j, "version_id": r.version_id, "dataset_id": r.dataset_id, "ref": r.ref}
        for j in job_ids
        for r in reads
    ]
    if rows:
        session.execute(table(JobDataset).insert(), rows)


def revoke(session: Session, principal: Principal, dataset_id: str, grant_id: str) -> DatasetGrant:
    """End a grant; the grantee's jobs reading the dataset that have not started are
    cancelled, saying why (running ones run on)."""
    from aifactory.services.jobs import transition  # services.jobs imports this module

    ds = get(session, principal, dataset_id, Need.OWN)
    g = session.get(DatasetGrant, grant_id)
    if g is None or g.dataset_id != ds.id:
        raise NotFound("grant", grant_id)
    if g.revoked_at is not None:
        raise Conflict(f"grant {g.id} was revoked before")
    g.revoked_at = utcnow()
    g.revoked_by = principal.user_id
    waiting = (
        session.execute(
            select(Job)
            .join(JobDataset, JobDataset.job_id == Job.id)
            .where(
                JobDataset.dataset_id == ds.id,
                Job.project_id == g.project_id,
                Job.state.in_([JobState.PENDING.value, JobState.PLACED.value]),
                Job.external_id.is_(None),
                Job.array_tasks.is_(None),
            )
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for job in waiting:
        transition(
            session,
            job,
            JobState.CANCELLED,
            f"the grant of dataset {ds.name} to project {g.project_id} was revoked",
        )
    audit.append(
        session,
        actor=principal.user_id,
        action="dataset.grant.revoke",
        object_type="dataset",
        object_id=ds.id,
        org_id=ds.org_id,
        data={
            "grant_id": g.id,
            "project_id": g.project_id,
            "jobs_cancelled": sorted(j.id for j in waiting),
        },
    )
    return g


log = logging.getLogger(__name__)
_ENV_WORD = re.compile(r"[^A-Za-z0-9]")


def env_name(ref: str) -> str:
    name = ref.rsplit("/", 1)[-1].split("@", 1)[0]
    return "AIF_DATASET_" + _ENV_WORD.sub("_", name).upper()


class Inputs:
    """Before a job starts: each dataset it reads gets a replica at the job's site (a stage
    the policy admits, recorded with the job as its legal basis), and its plaintext is put
    where the job runs: under ``<workdir>/datasets/<name>/`` for the local executor, in the
    job's folder at a Slurm site (written there, or over SSH to its login node). A digital
    twin runs no code and gets the replica only. ``AIF_DATASET_<NAME>`` names each folder and
    ``AIF_DATASETS`` their parent. When the job ends, the plaintext is removed again."""

    def __init__(self, db: Database, plane: DataPlane, slurm: SlurmExecutor | None = None) -> None:
        self.db = db
        self.plane = plane
        self.slurm = slurm

    def _folder(self, job_id: str, site: str, kind: ExecutorKind, workdir: Path) -> Path | None:
        if kind is ExecutorKind.LOCAL:
            return workdir / "datasets"
        if kind is ExecutorKind.SLURM and self.slurm is not None:
            return self.slurm.inputs_dir(site, workdir, job_id)
        return None

    def prepare(self, job_id: str, site: str, kind: ExecutorKind, workdir: Path) -> dict[str, str]:
        with self.db.read() as session:
            rows = session.execute(
                select(JobDataset.ref, Dataset, DatasetVersion)
                .join(Dataset, Dataset.id == JobDataset.dataset_id)
                .join(DatasetVersion, DatasetVersion.id == JobDataset.version_id)
                .where(JobDataset.job_id == job_id)
                .order_by(JobDataset.ref)
            ).all()
            sites = {v.id: replicas.replica_sites(session, v.id) for _, _, v in rows}
            owner = session.get(Job, job_id)
            actor = owner.user_id if owner is not None else audit.SYSTEM_ACTOR
            session.expunge_all()
        env: dict[str, str] = {}
        parent = self._folder(job_id, site, kind, workdir)
        for ref, ds, v in rows:
            why = replicas.stage_check(self.plane, ds, site)
            if why is not None:  # the scheduler never places it so; a policy changed since
                raise RuntimeError(f"{why}: not staged for job {job_id}")
            src = replicas.source(self.plane, ds, v, sites[v.id], prefer=site)
            if site not in sites[v.id]:
                replicas.copy(self.plane, src, site)
                with self.db.write() as session:
                    replicas.record_stage(
                        session,
                        actor,
                        self.plane,
                        ds,
                        v,
                        src,
                        site,
                        f"input of job {job_id}, placed at {site} under the dataset's policy",
                        job_id=job_id,
                    )
                src = replicas.source(self.plane, ds, v, [site])
            if parent is None:
                continue
            folder = parent / ds.name
            filename = replicas.single_file(list(v.files), v.size)
            if kind is ExecutorKind.LOCAL:
                replicas.materialize(self.plane, src, list(v.files), folder)
            else:
                assert self.slurm is not None
                self.slurm.put_files(
                    site, str(folder), filename, replicas.stream(self.plane, src), v.size
                )
            env[env_name(ref)] = str(folder)
            env["AIF_DATASETS"] = str(parent)
        return env

    def release(self, job_ids: Iterable[str]) -> None:
        """Remove the plaintext of ended jobs' datasets (best effort: a site that does not
        answer keeps it until an operator removes it, and the log says where)."""
        ids = list(job_ids)
        if not ids:
            return
        with self.db.read() as session:
            rows = session.execute(
                select(Job.id, Job.site_id, Job.executor, Job.workdir).where(
                    Job.id.in_(ids),
                    Job.state.in_([s.value for s in FINAL_STATES]),
                    Job.workdir.is_not(None),
                    Job.id.in_(select(JobDataset.job_id)),
                )
            ).all()
        for job_id, site, kind, workdir in rows:
            if kind is None or site is None or workdir is None:
                continue
            folder = self._folder(job_id, site, ExecutorKind(kind), Path(workdir))
            if folder is None:
                continue
            try:
                if ExecutorKind(kind) is ExecutorKind.LOCAL:
                    shutil.rmtree(folder, ignore_errors=True)
                elif self.slurm is not None:
                    self.slurm.remove_files(site, str(folder))
            except Exception:  # the loop goes on; the folder stays, said in the log
                log.exception(
                    "job %s ended; its datasets at %s:%s were not removed", job_id, site, folder
                )
