"""Datasets in the portal: mine, with where their residency policy lets them go, and a
dataset's versions with the sites holding a replica. Uploads stay with the CLI and SDK
(chunked, resumable; docs/data.md); the pages show what the API shows."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aifactory.api.deps import Rt
from aifactory.api.routers.data import dataset_view, version_view
from aifactory.services.data import datasets
from aifactory.web.deps import Me
from aifactory.web.pages import page

router = APIRouter(include_in_schema=False)


@router.get("/datasets", response_class=HTMLResponse)
def dataset_list(request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    with runtime.db.read() as session:
        rows = [dataset_view(d) for d in datasets.list_datasets(session, me.principal, None)]
    return page(request, "datasets.html", title="Datasets", me=me, datasets=rows)


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, runtime: Rt, me: Me, dataset_id: str) -> HTMLResponse:
    with runtime.db.read() as session:
        ds = datasets.get(session, me.principal, dataset_id)
        view = dataset_view(ds)
        versions = [
            version_view(session, runtime.data, v)
            for v in datasets.versions(session, me.principal, ds.id)
        ]
    return page(
        request, "dataset.html", title=f"Dataset {view.name}", me=me, ds=view, versions=versions
    )
