"""Dependencies as ``Annotated`` aliases: ``Rt`` (the runtime) and ``Caller`` (the principal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aifactory.services.errors import Unauthenticated
from aifactory.services.identity import Principal, authenticate
from aifactory.services.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="An API token: `aif token create`.")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


Rt = Annotated[Runtime, Depends(get_runtime)]


def get_caller(
    runtime: Rt,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("an API token is required (Authorization: Bearer <token>)")
    with runtime.db.read() as session:
        return authenticate(session, credentials.credentials)


Caller = Annotated[Principal, Depends(get_caller)]
