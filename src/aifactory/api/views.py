"""Database rows and catalog objects to response models."""

from __future__ import annotations

from aifactory.api import schemas as s
from aifactory.compliance.compute import JobCompute
from aifactory.db.tables import (
    ApiToken,
    Job,
    JobEvent,
    Organisation,
    Project,
    SiteHealth,
    UsageRecord,
    User,
)
from aifactory.domain.catalog import ExecutorKind, Partition, Site
from aifactory.domain.identity import PlatformRole
from aifactory.domain.sbatch import ScriptError, read_script
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
    """The organisation, with the operators' restriction in force on it, if any."""
    restriction = (
        None
        if o.restricted_at is None
        else s.OrgRestrictionPublic(
            sites=list(o.allowed_sites or []),
            countries=list(o.allowed_countries or []),
            reason=o.restriction_reason or "",
            restricted_at=as_utc(o.restricted_at),
        )
    )
    return s.OrgPublic.model_validate(
        {
            **{c: getattr(o, c) for c in ("id", "name", "kind", "country", "registration_id")},
            "created_at": as_utc(o.created_at),
            "restriction": restriction,
        }
    )


def project(p: Project) -> s.ProjectPublic:
    return s.ProjectPublic(
        id=p.id,
        org_id=p.org_id,
        name=p.name,
        description=p.description,
        created_at=as_utc(p.created_at),
        suspended_at=as_utc(p.suspended_at) if p.suspended_at else None,
        suspended_reason=p.suspended_reason,
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
        "warnings": script_warnings(j.spec.get("script")),
        "array_job_id": j.array_job_id,
        "array_index": j.array_index,
        "array_tasks": j.array_tasks,
    }


def script_warnings(script: object) -> list[str]:
    """#SBATCH directives the platform does not read, each with what happens to it."""
    if not isinstance(script, str):
        return []
    try:
        notes = read_script(script).notes
    except ScriptError:
        return []
    return [n.text() for n in notes]


def job(j: Job) -> s.JobPublic:
    return s.JobPublic.model_validate(_job_fields(j))


def job_detail(
    j: Job,
    events: list[JobEvent],
    tasks: list[tuple[str, str]] | None = None,
    energy: JobCompute | None = None,
) -> s.JobDetail:
    """The job; for an array, ``tasks`` are its tasks' (id, state) by index."""
    array = None
    if j.array_tasks is not None:
        spec = j.spec.get("array") or ""
        states: dict[str, int] = {}
        for _, state in tasks or []:
            states[state] = states.get(state, 0) + 1
        throttle = spec.partition("%")[2]
        array = s.ArrayPublic(
            spec=spec,
            tasks=j.array_tasks,
            throttle=int(throttle) if throttle.isdigit() else None,
            states=states,
            task_ids=[t for t, _ in (tasks or [])[:1000]],
        )
    return s.JobDetail.model_validate(
        {
            **_job_fields(j),
            "spec": j.spec,
            "accelerator_ids": list(j.accelerator_ids or []),
            "history": [{"state": e.state, "at": as_utc(e.at), "reason": e.reason} for e in events],
            "placement": j.placement,
            "external_id": j.external_id,
            "node_list": j.node_list,
            "alloc_tres": j.alloc_tres,
            "resolved": j.resolved,
            "logs": j.logs,
            "array": array,
            "energy": None
            if energy is None
            else {
                "gpu_hours": energy.gpu_seconds / 3600,
                "flop": energy.flop,
                "utilisation": energy.utilisation,
                "measured": energy.measured,
                "kwh": energy.kwh,
                "kg_co2e": energy.kg_co2e,
            },
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
        max_nodes_per_job=p.job_max_nodes,
        min_nodes_per_job=p.min_nodes_per_job,
        default_walltime_s=p.job_default_walltime_s,
        shared=p.shared,
        slurm_partition=p.slurm_name,
        qos=p.qos,
        draws_on=p.allocation_partition,
    )


def site(x: Site, health: SiteHealth | None = None) -> s.SitePublic:
    return s.SitePublic(
        health=s.SiteHealthPublic(
            state=health.state,
            error=health.error,
            since=as_utc(health.since),
            checked_at=as_utc(health.checked_at),
        )
        if health is not None
        else None,
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


def project_usage(project_id: str, records: list[UsageRecord]) -> s.ProjectUsage:
    by_partition: dict[str, int] = {}
    for r in records:
        key = f"{r.site_id}/{r.partition_id}"
        by_partition[key] = by_partition.get(key, 0) + r.gpu_seconds
    total = sum(r.gpu_seconds for r in records)
    return s.ProjectUsage(
        project_id=project_id,
        gpu_seconds=total,
        gpu_hours=round(total / 3600, 4),
        by_partition=by_partition,
        records=[
            s.UsageRecordPublic(
                job_id=r.job_id,
                site=r.site_id,
                partition=r.partition_id,
                allocation_id=r.allocation_id,
                source=r.source,
                external_id=r.external_id,
                gpus=r.gpus,
                elapsed_s=r.elapsed_s,
                gpu_seconds=r.gpu_seconds,
                alloc_tres=r.alloc_tres,
                started_at=as_utc(r.started_at) if r.started_at else None,
                ended_at=as_utc(r.ended_at) if r.ended_at else None,
            )
            for r in records
        ],
    )
