"""Database rows and catalog objects to response models."""

from __future__ import annotations

from aifactory.api import schemas as s
from aifactory.db.tables import ApiToken, Job, JobEvent, Organisation, Project, User
from aifactory.domain.catalog import ExecutorKind, Partition, Site
from aifactory.domain.identity import PlatformRole
from aifactory.services.ids import as_utc


def user(u: User) -> s.UserPublic:
    return s.UserPublic(
        id=u.id,
        email=u.email,
        name=u.name,
        roles=[PlatformRole(r) for r in u.platform_roles],
        created_at=as_utc(u.created_at),
    )


def token(t: ApiToken) -> s.TokenPublic:
    return s.TokenPublic(
        id=t.id,
        name=t.name,
        prefix=t.prefix,
        created_at=as_utc(t.created_at),
        expires_at=as_utc(t.expires_at),
        revoked_at=as_utc(t.revoked_at) if t.revoked_at else None,
    )


def org(o: Organisation) -> s.OrgPublic:
    return s.OrgPublic.model_validate(
        {
            **{c: getattr(o, c) for c in ("id", "name", "kind", "country", "registration_id")},
            "created_at": as_utc(o.created_at),
        }
    )


def project(p: Project) -> s.ProjectPublic:
    return s.ProjectPublic(
        id=p.id,
        org_id=p.org_id,
        name=p.name,
        description=p.description,
        created_at=as_utc(p.created_at),
    )


def _job_fields(j: Job) -> dict[str, object]:
    return {
        "id": j.id,
        "name": j.name,
        "org_id": j.org_id,
        "project_id": j.project_id,
        "user_id": j.user_id,
        "state": j.state,
        "reason": j.reason,
        "site": j.site_id,
        "partition": j.partition_id,
        "executor": j.executor,
        "simulated": j.executor == ExecutorKind.SIMULATED.value,
        "exit_code": j.exit_code,
        "created_at": as_utc(j.created_at),
        "updated_at": as_utc(j.updated_at),
        "started_at": as_utc(j.started_at) if j.started_at else None,
        "ended_at": as_utc(j.ended_at) if j.ended_at else None,
    }


def job(j: Job) -> s.JobPublic:
    return s.JobPublic.model_validate(_job_fields(j))


def job_detail(j: Job, events: list[JobEvent]) -> s.JobDetail:
    return s.JobDetail.model_validate(
        {
            **_job_fields(j),
            "spec": j.spec,
            "accelerator_ids": list(j.accelerator_ids or []),
            "history": [{"state": e.state, "at": as_utc(e.at), "reason": e.reason} for e in events],
            "placement": j.placement,
        }
    )


def partition(p: Partition) -> s.PartitionPublic:
    return s.PartitionPublic(
        id=p.id,
        name=p.name,
        accelerator=p.accelerator,
        accelerators_per_node=p.accelerators_per_node,
        nodes=p.nodes,
        total_accelerators=p.total_accelerators,
        cpus_per_node=p.cpus_per_node,
        memory_gb_per_node=p.memory_gb_per_node,
        peak_bf16_tflops=p.peak_bf16_tflops,
        power_w=p.power_w,
        max_walltime_s=p.max_walltime_s,
        software_stacks=sorted(x.value for x in p.software_stacks),
        pue=p.pue,
        grid_gco2e_per_kwh=p.grid_gco2e_per_kwh,
        executor=p.executor.value,
        simulated=p.executor is ExecutorKind.SIMULATED,
    )


def site(x: Site) -> s.SitePublic:
    return s.SitePublic(
        id=x.id,
        name=x.name,
        city=x.city,
        country=x.country,
        operator=x.operator,
        status=x.status.value,
        available_from=x.available_from.isoformat() if x.available_from else None,
        experimental=x.experimental,
        budget_eur=x.budget_eur,
        partitions=[partition(p) for p in x.partitions],
    )
