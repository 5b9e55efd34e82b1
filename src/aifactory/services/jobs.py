"""Jobs: submit (idempotent), list, show, cancel, logs. State changes go through
:func:`transition`, the only writer of ``Job.state``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from aifactory.core.audit_chain import canonical_json
from aifactory.db.tables import Job, JobEvent, Membership, Project, User, table
from aifactory.domain.catalog import Catalog
from aifactory.domain.jobs import FINAL_STATES, JobState, check_transition
from aifactory.domain.jobspec import JobSpec
from aifactory.domain.models import PURPOSE_OF_WORK
from aifactory.domain.sbatch import header_end
from aifactory.domain.stacks import StackNeed, infer_stack
from aifactory.scheduling.model import Demand, Residency
from aifactory.scheduling.placement import static_candidates
from aifactory.services import allocations, arrays, audit, job_mail
from aifactory.services.batch import WriteBatch
from aifactory.services.compliance import models, use_cases
from aifactory.services.data import placement
from aifactory.services.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow
from aifactory.services.tenancy import get_project, may_submit


def stack_need(spec: JobSpec) -> StackNeed:
    """The stack the job needs: the spec's, else what its script or command shows."""
    if spec.software_stack is not None:
        return StackNeed(spec.software_stack)
    if spec.script is not None:
        return infer_stack(spec.script, header_end(spec.script))
    return infer_stack(spec.run or "")


def demand_of(spec: JobSpec) -> Demand:
    r = spec.resources
    stack = stack_need(spec)
    return Demand(
        accelerator=r.accelerator,
        accelerators_per_node=r.accelerators_per_node,
        nodes=r.nodes,
        cpus=r.cpus,
        memory_gb=r.memory_gb,
        walltime_s=r.walltime_s,
        stack=stack.stack,
        sites=tuple(spec.constraints.sites),
        countries=tuple(spec.constraints.countries),
        partitions=tuple(spec.constraints.partitions),
        objective=spec.objective,
        simulate=spec.simulate,
        experimental=spec.experimental,
        exclusive=r.exclusive,
        accelerators_total=r.accelerators,
        cpus_total=r.cpus_total,
        memory_gb_per_cpu=r.memory_gb_per_cpu,
        memory_gb_per_accelerator=r.memory_gb_per_accelerator,
        stack_why=stack.why,
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
    if job.array_job_id is not None:
        arrays.touched(session, job.array_job_id)
    types = job_mail.types_of(job)
    if types:
        mail = job_mail.event_for(types, target, reason, task=job.array_job_id is not None)
        if mail is not None:
            email = session.execute(select(User.email).where(User.id == job.user_id)).scalar()
            job_mail.send(session, job, mail, email or "")


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
    """The spec in the catalog's names: a batch script's GRES type as the catalog's model,
    and its partitions (Slurm names, with a QoS) as the catalog's partition ids."""
    r = spec.resources
    if (
        spec.script is not None
        and r.accelerator != "any"
        and r.accelerator not in catalog.accelerators
    ):
        model = catalog_model(r.accelerator, catalog)
        if model is not None:  # else refused by check_against_catalog, naming the models
            r = r.model_copy(update={"accelerator": model})
            spec = spec.model_copy(update={"resources": r})
    cons = spec.constraints
    if cons.partitions or cons.qos:
        ids = partition_ids(catalog, cons.partitions, cons.qos)
        if ids != cons.partitions:
            spec = spec.model_copy(
                update={"constraints": cons.model_copy(update={"partitions": ids})}
            )
    return spec


def partition_ids(catalog: Catalog, names: list[str], qos: str | None) -> list[str]:
    """The catalog partitions that ``-p names`` with ``-q qos`` select: an entry by its id,
    or by its Slurm partition and QoS (``-p boost_usr_prod -q boost_qos_dbg`` is Leonardo's
    debug entry; ``-p boost_usr_prod`` alone the one without a QoS). Raises Invalid naming
    the field and the allowed values."""
    entries = [p for _, p in catalog.partitions()]
    if not names:
        found = sorted({p.id for p in entries if p.qos == qos})
        if not found:
            known = sorted({p.qos for p in entries if p.qos})
            raise Invalid.one("constraints.qos", f"no partition has the QoS {qos!r}", known)
        return found
    out: list[str] = []
    for i, name in enumerate(names):
        by_id = [p for p in entries if p.id == name and (qos is None or p.qos == qos)]
        by_slurm = [p for p in entries if p.slurm_name == name and p.qos == qos]
        match = by_id or by_slurm
        if not match:
            where = f"constraints.partitions[{i}]"
            if any(p.id == name or p.slurm_name == name for p in entries):
                variants = sorted({p.qos for p in entries if p.slurm_name == name and p.qos})
                raise Invalid.one(
                    "constraints.qos",
                    f"partition {name!r} has no QoS {qos!r}",
                    variants,
                )
            raise Invalid.one(
                where,
                f"unknown partition {name!r}",
                sorted({p.id for p in entries} | {p.slurm_name for p in entries}),
            )
        out.extend(p.id for p in match)
    return sorted(set(out))


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
    asked = (
        f"{r.nodes} x {r.accelerators_per_node}"
        if r.nodes is not None
        else str(r.total_accelerators)
    )
    if (
        r.accelerators_per_node or 0
    ) > per_node or r.total_accelerators > biggest.total_accelerators:
        raise Invalid.one(
            "resources",
            f"the job asks for {asked} accelerators; the largest "
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
    reads: tuple[placement.Reads, ...] = ()  # the dataset versions it reads
    residency: Residency | None = None
    model_version_id: str | None = None  # what it produces (services.compliance.models)


def prepare_submission(
    session: Session,
    principal: Principal,
    spec: JobSpec,
    idempotency_key: str | None,
    catalog: Catalog | None = None,
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
    _check_references(session, principal, spec, project)
    produces = (
        models.resolve_produces(session, principal, project, spec.produces)
        if spec.produces is not None
        else None
    )
    if not spec.datasets:
        return Prepared(project.id, project.org_id, digest, model_version_id=produces)
    reads = placement.resolve(session, principal, project.id, spec.datasets)
    residency = placement.residency(placement.rules_for(session, reads))
    if catalog is not None:
        placement.check_pins(
            catalog,
            residency,
            principal=principal,
            org_id=project.org_id,
            sites=spec.constraints.sites,
            countries=spec.constraints.countries,
            partitions=spec.constraints.partitions,
        )
    return Prepared(project.id, project.org_id, digest, reads, residency, produces)


def _check_references(
    session: Session, principal: Principal, spec: JobSpec, project: Project
) -> None:
    """What a spec names must exist for the caller: the jobs its dependency names (as sbatch
    refuses a dependency on an unknown job), and a mail recipient of its own organisation
    (the platform's mail goes to people of the job's organisation, never to anyone)."""
    dep = spec.dependency_spec
    if dep is not None and dep.job_ids:
        seen = dict(
            session.execute(select(Job.id, Job.org_id).where(Job.id.in_(dep.job_ids))).all()
        )
        for job_id in dep.job_ids:
            org = seen.get(job_id)
            if org is None or not principal.can_read_org(org):
                raise Invalid.one("dependency", f"no job {job_id} that you can see")
    if spec.mail_user and spec.mail_user.lower() != principal.email.lower():
        member = session.execute(
            select(User.id)
            .join(Membership, Membership.user_id == User.id)
            .where(func.lower(User.email) == spec.mail_user.lower())
            .where(Membership.org_id == project.org_id)
        ).first()
        if member is None:
            raise Invalid.one(
                "mail_user",
                f"{spec.mail_user!r} is not a member of the job's organisation; mail goes to "
                "you or a member",
            )


def purpose_of(spec: JobSpec) -> str | None:
    """What the job does to the model it produces: its own word, else from its work type."""
    if spec.purpose is not None:
        return spec.purpose.value
    return PURPOSE_OF_WORK[spec.work].value if spec.produces is not None else None


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
        "model_version_id": prepared.model_version_id,
        "purpose": purpose_of(spec),
        "utilisation": spec.utilisation,
    }
    array = spec.array_spec
    data: dict[str, Any] = {
        "project_id": prepared.project_id,
        "name": spec.name,
        "spec_hash": prepared.digest,
    }
    rows = [values]
    if array is not None:
        values.update(array_tasks=array.size, array_job_id=None, array_index=None)
        values["reason"] = f"{array.size} tasks: {array.size} pending"
        tasks = arrays.task_rows(values, array)
        for task in tasks:
            task["reason"] = "waiting for placement"
        rows += tasks
        data["array"] = {"spec": array.text, "tasks": array.size}
    # Core table inserts: the ORM's insert paths cost about twice as much per row.
    session.execute(table(Job).insert(), rows)
    placement.record(session, [row["id"] for row in rows], prepared.reads)
    if prepared.reads:
        data["datasets"] = [r.ref for r in prepared.reads]
    session.execute(
        table(JobEvent).insert(),
        [
            {"job_id": row["id"], "state": JobState.PENDING.value, "at": now, "reason": "submitted"}
            for row in rows
        ],
    )
    audit.append(
        session,
        actor=principal.user_id,
        action="job.submit",
        object_type="job",
        object_id=job_id,
        org_id=prepared.org_id,
        data=data,
    )
    return Job(**values)


def _submittable_project(session: Session, principal: Principal, project_id: str) -> Project:
    project = get_project(session, principal, project_id)  # 404, as for any unseen object
    if not may_submit(principal, project):
        raise Forbidden("only project members and organisation owners may submit jobs")
    if project.suspended_at is not None:
        raise Conflict(f"project {project.id} is suspended: {project.suspended_reason}")
    blocked = use_cases.blocking_reason(session, project.id)
    if blocked:
        raise Refused(
            blocked,
            {
                "actor": principal.user_id,
                "action": "job.refused",
                "object_type": "project",
                "object_id": project.id,
                "org_id": project.org_id,
                "data": {"rule": "ai_act_art5"},
            },
        )
    return project


def get_job(session: Session, principal: Principal, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None or not principal.can_read_org(job.org_id):
        raise NotFound("job", job_id)
    return job


def array_tasks(session: Session, array_id: str) -> list[tuple[str, str]]:
    """An array's tasks, (id, state) by index."""
    return [
        (task, state)
        for task, state in session.execute(
            select(Job.id, Job.state).where(Job.array_job_id == array_id).order_by(Job.array_index)
        ).all()
    ]


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
    user_id: str | None = None  # who submitted them (a person's own, on their dashboard)


def _job_conditions(principal: Principal, filt: JobFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if not principal.sees_all_tenants:
        conds.append(Job.org_id.in_(list(principal.orgs)))
    if filt.user_id:
        conds.append(Job.user_id == filt.user_id)
    if filt.project_id:
        conds.append(Job.project_id == filt.project_id)
    if filt.org_id:
        conds.append(Job.org_id == filt.org_id)
    if filt.states:
        conds.append(Job.state.in_([s.value for s in filt.states]))
    if filt.site_id:
        conds.append(Job.site_id == filt.site_id)
    if filt.name:
        conds.append(Job.name == filt.name)
    return conds


def recent_jobs(session: Session, principal: Principal, filt: JobFilter, limit: int) -> list[Job]:
    """The newest jobs, without counting them all (what a dashboard shows)."""
    query = select(Job).where(*_job_conditions(principal, filt))
    return list(
        session.execute(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)).scalars()
    )


def live_jobs(session: Session, principal: Principal, user_id: str, limit: int) -> list[Job]:
    """A person's jobs that have not ended, newest first. The ids are found first, by the
    (user_id, state) index, and only then sorted: asked in one query with its ORDER BY and
    LIMIT, SQLite walks all of the person's jobs newest first hoping to stop early, which for
    someone with 100,000 ended jobs and none running is the whole history (docs/benchmarks.md)."""
    live = [s.value for s in JobState if not s.is_final]
    filt = JobFilter(user_id=user_id)
    ids = select(Job.id).where(*_job_conditions(principal, filt), Job.state.in_(live))
    return list(
        session.execute(
            select(Job)
            .where(Job.id.in_(ids))
            .order_by(Job.created_at.desc(), Job.id.desc())
            .limit(limit)
        ).scalars()
    )


def list_jobs(
    session: Session, principal: Principal, filt: JobFilter, *, limit: int, offset: int
) -> tuple[list[Job], int]:
    conds = _job_conditions(principal, filt)
    # Counted on the table itself, not over a subquery of whole rows: an index answers it.
    total = session.execute(select(func.count()).select_from(Job).where(*conds)).scalar_one()
    rows = session.execute(
        select(Job)
        .where(*conds)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
        .offset(offset)
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
    if job.array_tasks is not None:
        return _cancel_array(session, principal, job)
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


def _cancel_array(session: Session, principal: Principal, array: Job) -> Job:
    """Cancel every task of the array that has not ended (``scancel`` of an array)."""
    tasks = session.execute(
        select(Job)
        .where(Job.array_job_id == array.id, Job.state.not_in([s.value for s in FINAL_STATES]))
        .with_for_update()
    ).scalars()
    asked = 0
    for task in tasks:
        state = JobState(task.state)
        if state in (JobState.PENDING, JobState.PLACED):
            transition(session, task, JobState.CANCELLED, f"array cancelled by {principal.email}")
        elif not task.cancel_requested:
            task.cancel_requested = True
            task.updated_at = utcnow()
        asked += 1
    array.cancel_requested = True
    audit.append(
        session,
        actor=principal.user_id,
        action="job.cancel",
        object_type="job",
        object_id=array.id,
        org_id=array.org_id,
        data={"state": array.state, "tasks": asked},
    )
    session.flush()
    arrays.refresh(session, array.id)
    return array


def job_workdir(jobs_dir: Path, job_id: str) -> Path:
    return jobs_dir / job_id
