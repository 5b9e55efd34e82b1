"""Evaluations (the experimental platforms' purpose): an ended evaluation job of a model
version attaches named metrics to it, with the dataset versions the job read. They go into
the version's documentation (Annex XI, section 2, point 1)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.db.compliance_tables import Evaluation, ModelVersion
from aifactory.db.data_tables import JobDataset
from aifactory.db.tables import Job, Project
from aifactory.domain.jobs import JobState
from aifactory.domain.models import Purpose
from aifactory.services import audit
from aifactory.services.compliance.models import get_version
from aifactory.services.errors import Conflict, FieldProblem, Forbidden, Invalid
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow
from aifactory.services.tenancy import may_submit

MAX_METRICS = 100


def attach(
    session: Session,
    principal: Principal,
    version_id: str,
    job_id: str,
    name: str,
    metrics: Mapping[str, float],
) -> Evaluation:
    version = get_version(session, principal, version_id)
    job = session.get(Job, job_id)
    problems = []
    if job is None or job.org_id != version.org_id or job.model_version_id != version.id:
        problems.append(FieldProblem("job_id", f"no job {job_id!r} that ran for this version"))
    elif job.purpose != Purpose.EVALUATION.value:
        problems.append(FieldProblem("job_id", f"job {job_id} is not an evaluation (purpose)"))
    elif job.state != JobState.COMPLETED.value:
        problems.append(FieldProblem("job_id", f"job {job_id} is {job.state}, not completed"))
    if not name.strip():
        problems.append(FieldProblem("name", "name the evaluation, e.g. the benchmark"))
    if not metrics or len(metrics) > MAX_METRICS:
        problems.append(FieldProblem("metrics", f"1 to {MAX_METRICS} named numbers"))
    for key, value in metrics.items():
        if not key.strip() or len(key) > 100:
            problems.append(
                FieldProblem("metrics", f"a metric name of 1 to 100 characters: {key!r}")
            )
        elif not math.isfinite(value):
            problems.append(FieldProblem(f"metrics.{key}", "a finite number"))
    if problems:
        raise Invalid(problems)
    assert job is not None
    project = session.get(Project, job.project_id)
    assert project is not None
    if not may_submit(principal, project):
        raise Forbidden("only project members and organisation owners attach its evaluations")
    if session.execute(select(Evaluation.id).where(Evaluation.job_id == job.id)).first():
        raise Conflict(f"job {job.id}'s evaluation is attached already")
    refs = sorted(
        session.execute(select(JobDataset.ref).where(JobDataset.job_id == job.id)).scalars()
    )
    row = Evaluation(
        id=new_id("evl"),
        model_version_id=version.id,
        org_id=version.org_id,
        job_id=job.id,
        name=name.strip(),
        metrics={k.strip(): float(v) for k, v in metrics.items()},
        datasets=refs,
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=principal.user_id,
        action="model.evaluation",
        object_type="model_version",
        object_id=version.id,
        org_id=version.org_id,
        data={"job_id": job.id, "name": row.name, "metrics": sorted(row.metrics)},
    )
    return row


def of_version(session: Session, version: ModelVersion) -> list[Evaluation]:
    return list(
        session.execute(
            select(Evaluation)
            .where(Evaluation.model_version_id == version.id)
            .order_by(Evaluation.created_at, Evaluation.id)
        ).scalars()
    )
