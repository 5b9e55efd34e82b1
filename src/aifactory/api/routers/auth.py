"""Log-in, the caller, API tokens and (for admins) users."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, status

from aifactory.api import views
from aifactory.api.deps import Caller, Rt
from aifactory.api.routers.accounts import client_of, limit
from aifactory.api.schemas import (
    LoginRequest,
    MePublic,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
)
from aifactory.db.tables import ApiToken, User
from aifactory.services import identity
from aifactory.services.errors import Forbidden, Unauthenticated

router = APIRouter(tags=["identity"])


def _created(tok: ApiToken, plain: str) -> TokenCreated:
    return TokenCreated(**views.token(tok).model_dump(), token=plain)


@router.post(
    "/auth/login",
    operation_id="login",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
)
def login(body: LoginRequest, request: Request, runtime: Rt) -> TokenCreated:
    """Exchange e-mail and password for an API token (with health and the sign-up calls, the
    only ones that need none). Both success and failure are audit events; attempts are limited
    per client address and per e-mail."""
    limit(runtime, "login", f"ip:{client_of(request)}", f"email:{body.email.strip().lower()}")
    ttl = timedelta(days=runtime.settings.token_ttl_days)
    try:
        with runtime.db.write() as session:
            tok, plain = identity.login(session, email=body.email, password=body.password, ttl=ttl)
            identity.record_login(session, tok.user_id)
            return _created(tok, plain)
    except Unauthenticated:
        with runtime.db.write() as session:
            identity.record_failed_login(session, body.email)
        raise


@router.get("/users/me", operation_id="get_me", response_model=MePublic)
def me(runtime: Rt, caller: Caller) -> MePublic:
    with runtime.db.read() as session:
        user = session.get(User, caller.user_id)
        assert user is not None
        return MePublic(**views.user(user).model_dump(), organisations=caller.orgs)


@router.post(
    "/users",
    operation_id="create_user",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
)
def create_user(body: UserCreate, runtime: Rt, caller: Caller) -> UserPublic:
    """Admins create accounts (verified at once); anyone may sign up (POST /auth/signup)."""
    if not caller.is_admin:
        raise Forbidden("only platform admins may create users")
    with runtime.db.write() as session:
        user = identity.create_user(
            session,
            email=body.email,
            name=body.name,
            password=body.password,
            roles=frozenset(body.roles),
            actor=caller.user_id,
        )
        return views.user(user)


@router.post(
    "/tokens",
    operation_id="create_token",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
)
def create_token(body: TokenCreate, runtime: Rt, caller: Caller) -> TokenCreated:
    """A new token for the caller; its value is shown in this response only."""
    with runtime.db.write() as session:
        tok, plain = identity.issue_token(
            session,
            user_id=caller.user_id,
            name=body.name,
            ttl=timedelta(days=body.ttl_days),
            actor=caller.user_id,
        )
        return _created(tok, plain)


@router.get("/tokens", operation_id="list_tokens", response_model=list[TokenPublic])
def list_tokens(runtime: Rt, caller: Caller) -> list[TokenPublic]:
    with runtime.db.read() as session:
        return [views.token(t) for t in identity.list_tokens(session, caller)]


@router.delete("/tokens/{token_id}", operation_id="revoke_token", response_model=TokenPublic)
def revoke_token(token_id: str, runtime: Rt, caller: Caller) -> TokenPublic:
    with runtime.db.write() as session:
        return views.token(identity.revoke_token(session, caller, token_id))
