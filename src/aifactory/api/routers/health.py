from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from aifactory import __version__
from aifactory.api.deps import Rt
from aifactory.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", operation_id="health", response_model=Health)
def health(runtime: Rt) -> Health:
    """Liveness and database reachability; the only endpoint that needs no token."""
    with runtime.db.read() as session:
        session.execute(text("SELECT 1"))
    leads = sorted(loop.name for loop in runtime.loops if loop.leading)
    return Health(status="ok", database=runtime.db.dialect, version=__version__, leads=leads)
