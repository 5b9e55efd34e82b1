from __future__ import annotations

from fastapi import APIRouter

from aifactory.api import views
from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas import ReconcileRequest, ReconcileResult, SitePublic
from aifactory.services import slurm_sites
from aifactory.services.errors import Forbidden, Invalid, NotFound

router = APIRouter(prefix="/sites", tags=["sites"])
slurm_router = APIRouter(prefix="/slurm", tags=["sites"])


@router.get("", operation_id="list_sites", response_model=list[SitePublic])
def list_sites(runtime: Rt, _caller: Caller) -> list[SitePublic]:
    """The federation catalog: every site and partition, simulated ones saying so, and
    whether each Slurm site answers."""
    with runtime.db.read() as session:
        health = slurm_sites.health_of(session)
    return [views.site(s, health.get(s.id)) for s in runtime.catalog.sites]


@router.get("/{site_id}", operation_id="get_site", response_model=SitePublic)
def get_site(site_id: str, runtime: Rt, _caller: Caller) -> SitePublic:
    for s in runtime.catalog.sites:
        if s.id == site_id:
            with runtime.db.read() as session:
                health = slurm_sites.health_of(session).get(s.id)
            return views.site(s, health)
    raise NotFound("site", site_id)


@slurm_router.post(
    "/reconcile", operation_id="reconcile_slurm_accounts", response_model=list[ReconcileResult]
)
def reconcile(body: ReconcileRequest, runtime: Rt, caller: Caller) -> list[ReconcileResult]:
    """Bring each Slurm site's accounts and limits (GrpTRESMins from allocations,
    GrpSubmitJobs=0 for suspended projects) in line with the platform; with ``dry_run``, only
    list the sacctmgr commands that would run. Operators only."""
    if not caller.is_operator:
        raise Forbidden("only operators reconcile Slurm accounts")
    connected = sorted(runtime.connections)
    if body.site is not None and body.site not in connected:
        raise Invalid.one("site", f"{body.site!r} is not a connected Slurm site", connected)
    out = []
    for site in [body.site] if body.site else connected:
        result = slurm_sites.reconcile(
            runtime.db,
            runtime.catalog,
            runtime.connections[site],
            dry_run=body.dry_run,
            actor=caller.user_id,
        )
        out.append(
            ReconcileResult(
                site=result.site,
                cluster=result.cluster,
                commands=result.commands,
                applied=result.applied,
                error=result.error,
            )
        )
    return out
