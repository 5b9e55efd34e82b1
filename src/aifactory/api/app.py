"""The FastAPI app factory: ``create_app(settings)``; every test builds its own."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from aifactory import __version__, web
from aifactory.api import problems
from aifactory.api.routers import (
    accounts,
    allocations,
    audit,
    auth,
    calls,
    compliance,
    data,
    health,
    jobs,
    models,
    orgs,
    projects,
    proposals,
    reviews,
    sites,
)
from aifactory.domain.catalog import Catalog
from aifactory.services.runtime import Runtime
from aifactory.settings import Settings
from aifactory.web import errors

API_PREFIX = "/api/v1"


def _operation_id(route: APIRoute) -> str:
    # Stable ids: each route names its own (operation_id=...); the function name otherwise.
    return route.operation_id or route.name


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """Build the app on ``runtime`` (or a new one from ``settings``). Background loops start
    with the app when ``settings.run_loops`` is set; the runtime closes with the app when the
    app created it."""
    owns_runtime = runtime is None
    rt = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_loops:
            rt.start_loops()
        try:
            yield
        finally:
            if owns_runtime:
                rt.close()
            else:
                for loop in rt.loops:
                    loop.stop.set()

    app = FastAPI(
        title="aifactory",
        version=__version__,
        description="Operating platform of an EU AI Factory federation.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # FastAPI's loads Swagger UI from a CDN: web.apidocs serves our own copy
        redoc_url=None,
    )
    app.state.runtime = rt
    app.state.settings = settings
    problems.install(app, errors.html_error)
    for module in (
        health,
        sites,
        auth,
        accounts,
        orgs,
        projects,
        jobs,
        calls,
        proposals,
        reviews,
        allocations,
        audit,
        data,
        compliance,
        models,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(sites.slurm_router, prefix=API_PREFIX)
    app.include_router(data.keys_router, prefix=API_PREFIX)
    web.install(app)  # the portal's pages and assets, outside the API
    app.add_middleware(
        problems.BodyLimit,
        max_bytes=settings.max_body_bytes,
        large=(re.compile(data.CHUNK_PATH), data.CHUNK_MAX_BYTES),
    )
    problems.document_problems(
        app, lambda spec: _document_catalog(spec, rt.catalog, sorted(rt.connections))
    )
    return app


def _document_catalog(spec: dict[str, Any], catalog: Catalog, slurm_sites: list[str]) -> None:
    """This deployment's accelerator models and sites, as the enums a job spec may name, and
    its Slurm sites, the only ones reconcile takes."""
    schemas = spec["components"]["schemas"]
    schemas["ReconcileRequest"]["properties"]["site"] = (
        {"anyOf": [{"type": "string", "enum": slurm_sites}, {"type": "null"}]}
        if slurm_sites
        else {"type": "null", "description": "No Slurm site is connected."}
    )
    accelerator = schemas["Resources"]["properties"]["accelerator"]
    accelerator["enum"] = ["any", *catalog.accelerator_models()]
    sites = schemas["Constraints"]["properties"]["sites"]["items"]
    sites["enum"] = [s.id for s in catalog.sites]
    partitions = schemas["Constraints"]["properties"]["partitions"]["items"]
    partitions["enum"] = sorted({p.id for _, p in catalog.partitions()})
    refs = [f"{s.id}/{p.id}" for s, p in catalog.partitions()]
    schemas["CallSpec"]["properties"]["partitions"]["items"]["enum"] = refs
    schemas["ResourceRequest"]["properties"]["partition"]["enum"] = refs
    schemas["AllocationCreate"]["properties"]["partition"]["enum"] = refs
    restrict = schemas["OrgRestrict"]["properties"]
    restrict["sites"]["items"]["enum"] = [s.id for s in catalog.sites]
    restrict["countries"]["items"]["enum"] = sorted({s.country for s in catalog.sites})
