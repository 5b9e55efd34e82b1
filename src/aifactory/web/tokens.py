"""My API tokens: the list (never a secret: only its first characters), a create form whose
answer shows the new token once (in that page only: not in a URL, not stored, not cached),
and a revoke button per token, after which the API refuses it at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aifactory.api.deps import Rt
from aifactory.api.schemas import TokenCreate
from aifactory.db.tables import ApiToken
from aifactory.services import identity, sessions
from aifactory.services.ids import as_utc, utcnow
from aifactory.web.deps import Me, check_csrf
from aifactory.web.pages import form_of, page, parsed, see_other

router = APIRouter(include_in_schema=False)


def state_of(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if as_utc(token.expires_at) <= utcnow() else "active"


def _tokens_page(
    request: Request, runtime: Rt, me: sessions.Current, status: int = 200, **kw: Any
) -> HTMLResponse:
    with runtime.db.read() as session:
        tokens = identity.list_tokens(session, me.principal)
        response = page(
            request,
            "tokens.html",
            status,
            title="API tokens",
            me=me,
            tokens=[(t, state_of(t)) for t in reversed(tokens)],
            form=kw.get("form", {"name": "", "ttl_days": "90"}),
            errors=kw.get("errors", {}),
            created=kw.get("created"),
        )
    # The page that shows a new token's value must not stay in any cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    return _tokens_page(request, runtime, me)


@router.post("/tokens", response_class=HTMLResponse)
async def create_token(request: Request, runtime: Rt, me: Me) -> Response:
    form = await form_of(request)
    check_csrf(me, form)
    kept = {"name": form.get("name", "").strip()[:100], "ttl_days": form.get("ttl_days", "")}
    days = kept["ttl_days"].strip()[:6]
    # The API's schema takes a JSON number, never text: a form's field is text.
    ttl = int(days) if days.isdigit() else 0
    body = parsed(TokenCreate, {"name": kept["name"], "ttl_days": ttl})
    if isinstance(body, dict):
        return _tokens_page(request, runtime, me, 422, form=kept, errors=body)
    with runtime.db.write() as session:
        token, plain = identity.issue_token(
            session,
            user_id=me.principal.user_id,
            name=body.name,
            ttl=timedelta(days=body.ttl_days),
            actor=me.principal.user_id,
        )
        created = {"name": token.name, "value": plain, "expires_at": as_utc(token.expires_at)}
    # Not a redirect: the value exists only in this answer.
    return _tokens_page(request, runtime, me, created=created)


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
async def revoke_token(token_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    form = await form_of(request)
    check_csrf(me, form)
    with runtime.db.write() as session:  # another user's token: the 404 page
        identity.revoke_token(session, me.principal, token_id[:64])
    return see_other("/tokens")
