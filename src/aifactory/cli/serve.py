"""``aif serve``: migrate, make the first admin, check the catalog, run the API with uvicorn.

Once the platform is prepared, the command replaces itself (``exec``, the same process id)
with ``uvicorn --factory aifactory.api.asgi:app_factory``: each server process builds the app
from the same ``AIF_*`` environment and carries none of the command line's modules.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from aifactory.catalog.validate import CatalogError
from aifactory.cli import output as o
from aifactory.cli.admin import report_admin
from aifactory.services import bootstrap
from aifactory.services.runtime import Runtime
from aifactory.settings import Settings, load_settings

FACTORY = "aifactory.api.asgi:app_factory"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def settings_from(host: str | None, port: int | None) -> Settings:
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        o.fail(f"invalid settings: {problems}", 2)


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Default: AIF_HOST or 127.0.0.1.")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Default: AIF_PORT or 8000.")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=256)] = 1,
) -> None:
    """Run the platform on this machine: API, dispatcher and executors."""
    settings = settings_from(host, port)
    bootstrap.prepare(settings)
    try:
        runtime = Runtime(settings)  # loads and checks the catalog
    except CatalogError as exc:
        o.fail(f"catalog: {exc}", 2)
    try:
        report_admin(bootstrap.init_admin(runtime.db, settings))
        opened = bootstrap.open_default_calls(runtime.db, settings, runtime.catalog)
        if opened:
            o.out(f"Opened {opened} access calls on this machine: aif calls")
    finally:
        runtime.close()
    if workers > 1 and settings.effective_database_url.startswith("sqlite"):
        o.warn(
            f"{workers} workers share one SQLite database, which serialises writes; "
            "use PostgreSQL (AIF_DATABASE_URL) to scale out"
        )
    # The server rebuilds settings from the environment; carry what the options changed.
    os.environ["AIF_HOST"] = settings.host
    os.environ["AIF_PORT"] = str(settings.port)
    argv = [sys.executable, "-m", "uvicorn", "--factory", FACTORY]
    argv += ["--host", settings.host, "--port", str(settings.port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)
