"""The web portal: server-rendered pages (Jinja2) over the same services the API uses,
readable without JavaScript, with every asset served by the platform itself (``static/``).

``install(app)`` mounts the pages and the assets; each capability's pages live in their own
module beside the others, with ``router``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    # Imported here: the pages import the API's dependencies, which import nothing of web/.
    from aifactory.web import (
        apidocs,
        apply,
        audit,
        calls,
        compliance,
        composer,
        datasets,
        home,
        jobs,
        oidc,
        orgs,
        pages,
        proposals,
        reviews,
        signup,
        sites,
        tokens,
    )

    # composer before jobs: /jobs/new is not a job id.
    for module in (
        pages,
        home,
        signup,
        oidc,
        apidocs,
        composer,
        jobs,
        datasets,
        sites,
        calls,
        apply,
        proposals,
        reviews,
        orgs,
        tokens,
        audit,
        compliance,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
