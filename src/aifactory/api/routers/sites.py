from __future__ import annotations

from fastapi import APIRouter

from aifactory.api import views
from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas import SitePublic
from aifactory.services.errors import NotFound

router = APIRouter(prefix="/sites", tags=["sites"])


@router.get("", operation_id="list_sites", response_model=list[SitePublic])
def list_sites(runtime: Rt, _caller: Caller) -> list[SitePublic]:
    """The federation catalog: every site and partition; simulated ones say so."""
    return [views.site(s) for s in runtime.catalog.sites]


@router.get("/{site_id}", operation_id="get_site", response_model=SitePublic)
def get_site(site_id: str, runtime: Rt, _caller: Caller) -> SitePublic:
    for s in runtime.catalog.sites:
        if s.id == site_id:
            return views.site(s)
    raise NotFound("site", site_id)
