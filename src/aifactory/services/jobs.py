"""Jobs: submit (idempotent), list, show, cancel, logs. State changes go through
:func:`transition`, the only writer of ``Job.state``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifactory.core.audit_chain import canonical_json
from aifactory.db.tables import Job, JobEvent, Project, table
from aifactory.domain.catalog import Catalog
from aifactory.domain.jobs import JobState, check_transition
from aifactory.domain.jobspec import JobSpec
from aifactory.scheduling.model import Demand
from aifactory.scheduling.placement import static_candidates
from aifactory.services import allocations, audit
from aifactory.services.batch import WriteBatch
from aifactory.services.errors import Conflict, Forbidden, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow
from aifactory.services.tenancy import get_project, may_submit


def demand_of(spec: JobSpec) -> Demand:
    r = spec.resources
    return Demand(
        accelerator=r.accelerator,
        accelerators_per_node=r.accelerators_per_node,
        nodes=r.nodes,
        cpus=r.cpus,
        memory_gb=r.memory_gb,
        walltime_s=r.walltime_s,
        stack=spec.software_stack,
        sites=tuple(spec.constraints.sites),
        countries=tuple(spec.constraints.countries),
        partitions=tuple(spec.constraints.partitions),
        objective=spec.objective,
        simulate=spec.simulate,
        experimental=spec.experimental,
    )


def transition(
    session: Session,
    job: Job,
    target: JobState,
    reason: str = "",
    at: datetime | None = None,
    *,
    used_gpu_seconds: int | None = None,
    batch: WriteBatch | None = None,
) -> None:
    """The one place a job's state is written; an illegal transition raises before any write.
    A job that ends settles its allocation's reservation in the same transaction (with the
    GPU-seconds the site accounted, when it did)."""
    check_transition(JobState(job.state), target)
    at = at or utcnow()
    if target.is_final or target is JobState.PENDING:
        # Final states have no way out, so a reservation is settled exactly once; a job sent
        # back to pending returns its whole reservation and reserves again when re-placed.
        allocations.settle(session, job, at, used_gpu_seconds, batch)
        if target is JobState.PENDING:
            job.allocation_id = None
            job.reserved_gpu_seconds = None
    job.state = target.value
    job.updated_at = at
    job.reason = reason
    event = {"job_id": job.id, "state": target.value, "at": at, "reason": reason}
    if batch is not None:
        batch.add(JobEvent, event)
    else:
        session.add(JobEvent(**event))


def catalog_model(name: str, catalog: Catalog) -> str | None:
    """A catalog model for an accelerator name as a user or Slurm writes it: the model
    itself, or its GRES type (``a100`` -> ``A100``, ``mi250x`` -> ``MI250X-GCD``)."""
    if name in catalog.accelerators:
        return name
    matches = [
        m
        for m in catalog.accelerator_models()
        if name.lower() in (m.lower(), m.lower().split("-")[0])
    ]
    return matches[0] if len(matches) == 1 else None


def normalise(spec: JobSpec, catalog: Catalog) -> JobSpec:
    """The spec with a batch script's GRES type named as the catalog's model."""
    r = spec.resources
    if spec.script is None or r.accelerator == "any" or r.accelerator in catalog.accelerators:
        return spec
    model = catalog_model(r.accelerator, catalog)
    if model is None:
        return spec  # refused by check_against_catalog, naming the known models
    return spec.model_copy(update={"resources": r.model_copy(update={"accelerator": model})})


def check_against_catalog(spec: JobSpec, catalog: Catalog) -> None:
    """Rules that need the catalog: a known accelerator, known sites and partitions, and a
    partition that could ever run the job. Raises Invalid naming the field and the allowed
    values."""
    models = catalog.accelerator_models()
    r = spec.resources
    if r.accelerator != "any" and r.accelerator not in models:
        raise Invalid.one(
            "resources.accelerator",
            f"unknown accelerator {r.accelerator!r}",
            ["any", *models],
        )
    site_ids = [s.id for s in catalog.sites]
    for i, site in enumerate(spec.constraints.sites):
        if site not in site_ids:
            raise Invalid.one(f"constraints.sites[{i}]", f"unknown site {site!r}", site_ids)
    part_ids = sorted({p.id for _, p in catalog.partitions()})
    for i, part in enumerate(spec.constraints.partitions):
        if part not in part_ids:
            raise Invalid.one(
                f"constraints.partitions[{i}]", f"unknown partition {part!r}", part_ids
            )
    candidates = static_candidates(demand_of(spec), catalog)
    if any(c.feasible for c in candidates):
        return
    _, biggest = catalog.largest_partition()
    per_node = catalog.max_accelerators_per_node()
    if r.accelerators_per_node > per_node or r.total_accelerators > biggest.total_accelerators:
        raise Invalid.one(
            "resources",
            f"the job asks for {r.nodes} x {r.accelerators_per_node} accelerators; the largest "
            f"partition is {biggest.name} with {biggest.nodes} nodes x "
            f"{biggest.accelerators_per_node} accelerators per node",
        )
    raise Invalid.one(
        "resources",
        "no partition of the federation can run this job: "
        + "; ".join(f"{c.site}/{c.partition}: {c.reason}" for c in candidates),
    )


def spec_hash(spec: JobSpec) -> str:
    return hashlib.sha256(canonical_json(spec.model_dump(mode="json")).encode()).hexdigest()


@dataclass(frozen=True)
class Submitted:
    job: Job
    created: bool  # False when an Idempotency-Key returned an earlier job


@dataclass(frozen=True)
class Prepared:
    """A submission checked against what the caller may do, ready to be recorded."""

    project_id: str
    org_id: str
    digest: str


def prepare_submission(
    session: Session, principal: Principal, spec: JobSpec, idempotency_key: str | None
) -> Submitted | Prepared:
    """Everything a submission reads (idempotency, the project and the caller's right to
    submit to it), done before the write transaction so that the write lock is held briefly.
    A concurrent duplicate key is caught by the unique constraint at the write."""
    digest = spec_hash(spec)
    if idempotency_key:
        earlier = session.execute(
            select(Job).where(
                Job.user_id == principal.user_id, Job.idempotency_key == idempotency_key
            )
        ).scalar_one_or_none()
        if earlier is not None:
            if earlier.spec_hash != digest:
                raise Conflict(
                    "this Idempotency-Key was used for a different job spec; use a new key"
                )
            return Submitted(earlier, False)
    project = _submittable_project(session, principal, spec.project)
    return Prepared(project.id, project.org_id, digest)


def record_submission(
    session: Session,
    principal: Principal,
    spec: JobSpec,
    prepared: Prepared,
    idempotency_key: str | None,
) -> Job:
    """Insert the job, its first state and its audit event (plain INSERTs: this runs under
    the write lock)."""
    now = utcnow()
    job_id = new_id("job")
    values: dict[str, Any] = {
        "id": job_id,
        "org_id": prepared.org_id,
        "project_id": prepared.project_id,
        "user_id": principal.user_id,
        "name": spec.name,
        "spec": spec.model_dump(mode="json"),
        "spec_hash": prepared.digest,
        "idempotency_key": idempotency_key,
        "state": JobState.PENDING.value,
        "reason": "waiting for placement",
        "created_at": now,
        "updated_at": now,
        "cancel_requested": False,
    }
    # Core table inserts: the ORM's insert paths cost about twice as much per row.
    session.execute(table(Job).insert(), values)
    session.execute(
        table(JobEvent).insert(),
        {"job_id": job_id, "state": JobState.PENDING.value, "at": now, "reason": "submitted"},
    )
    audit.append(
        session,
        actor=principal.user_id,
        action="job.submit",
        object_type="job",
        object_id=job_id,
        org_id=prepared.org_id,
        data={"project_id": prepared.project_id, "name": spec.name, "spec_hash": prepared.digest},
    )
    return Job(**values)


def _submittable_project(session: Session, principal: Principal, project_id: str) -> Project:
    project = get_project(session, principal, project_id)  # 404, as for any unseen object
    if not may_submit(principal, project):
        raise Forbidden("only project members and organisation owners may submit jobs")
    if project.suspended_at is not None:
        raise Conflict(f"project {project.id} is suspended: {project.suspended_reason}")
    return project


def get_job(session: Session, principal: Principal, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None or not principal.can_read_org(job.org_id):
        raise NotFound("job", job_id)
    return job


def history(session: Session, job_id: str) -> list[JobEvent]:
    return list(
        session.execute(
            select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        ).scalars()
    )


@dataclass(frozen=True)
class JobFilter:
    project_id: str | None = None
    org_id: str | None = None
    states: tuple[JobState, ...] = ()
    site_id: str | None = None
    name: str | None = None


def list_jobs(
    session: Session, principal: Principal, filt: JobFilter, *, limit: int, offset: int
) -> tuple[list[Job], int]:
    query = select(Job)
    if not principal.sees_all_tenants:
        query = query.where(Job.org_id.in_(list(principal.orgs)))
    if filt.project_id:
        query = query.where(Job.project_id == filt.project_id)
    if filt.org_id:
        query = query.where(Job.org_id == filt.org_id)
    if filt.states:
        query = query.where(Job.state.in_([s.value for s in filt.states]))
    if filt.site_id:
        query = query.where(Job.site_id == filt.site_id)
    if filt.name:
        query = query.where(Job.name == filt.name)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
    ).scalars()
    return list(rows), total


def cancel(session: Session, principal: Principal, job_id: str) -> Job:
    job = get_job(session, principal, job_id)
    project = session.get(Project, job.project_id)
    assert project is not None
    if job.user_id != principal.user_id and not (
        may_submit(principal, project) or principal.is_admin
    ):
        raise Forbidden("only project members may cancel its jobs")
    state = JobState(job.state)
    if state.is_final:
        raise Conflict(f"job {job.id} is already {state.value}")
    if state in (JobState.PENDING, JobState.PLACED):
        transition(session, job, JobState.CANCELLED, f"cancelled by {principal.email}")
    elif job.cancel_requested:
        return job  # asked before; the executor loop is on it (no second audit event)
    else:
        # A running process is stopped by the executor loop; its final state follows from there.
        job.cancel_requested = True
        job.updated_at = utcnow()
    audit.append(
        session,
        actor=principal.user_id,
        action="job.cancel",
        object_type="job",
        object_id=job.id,
        org_id=job.org_id,
        data={"state": state.value},
    )
    return job


def job_workdir(jobs_dir: Path, job_id: str) -> Path:
    return jobs_dir / job_id
