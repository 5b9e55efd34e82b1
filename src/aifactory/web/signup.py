"""The sign-up page: the same rules and answers as ``POST /api/v1/auth/signup`` (the account
works once its e-mail is verified; a taken address gets the same answer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from aifactory.api.deps import Rt
from aifactory.api.routers.accounts import SENT, SignUp, client_of, limit
from aifactory.services import accounts, sessions
from aifactory.services.errors import TooManyRequests
from aifactory.web import session as web_session
from aifactory.web.pages import errors_of, form_of, page

router = APIRouter(include_in_schema=False)
CSRF_COOKIE = "aif_signup_csrf"


def _form(request: Request, runtime: Rt, status: int = 200, **kw: Any) -> HTMLResponse:
    csrf = web_session.new_login_csrf()
    response = page(
        request,
        "signup.html",
        status,
        title="Sign up",
        csrf=csrf,
        form=kw.get("form", {"name": "", "email": ""}),
        errors=kw.get("errors", {}),
        min_length=accounts.MIN_PASSWORD,
    )
    web_session.set_login_csrf(response, runtime, csrf, name=CSRF_COOKIE, path="/signup")
    return response


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request, runtime: Rt) -> Response:
    if not runtime.settings.signup:
        return page(
            request,
            "message.html",
            403,
            title="Sign-up is closed",
            message="Ask an operator of this platform for an account.",
        )
    return _form(request, runtime)


@router.post("/signup", response_class=HTMLResponse)
async def signup_submit(request: Request, runtime: Rt) -> Response:
    if not runtime.settings.signup:
        return page(
            request,
            "message.html",
            403,
            title="Sign-up is closed",
            message="Ask an operator of this platform for an account.",
        )
    raw = await form_of(request)
    kept = {"name": raw.get("name", "")[:100], "email": raw.get("email", "")[:254]}
    if not sessions.csrf_ok(request.cookies.get(CSRF_COOKIE, ""), raw.get("csrf", "")):
        return _form(
            request, runtime, 403, form=kept, errors={"form": "the form had expired; send it again"}
        )
    try:
        body = SignUp(name=kept["name"], email=kept["email"], password=raw.get("password", ""))
    except ValidationError as exc:
        errors = errors_of(exc)
        return _form(request, runtime, 422, form=kept, errors=errors)
    try:
        limit(runtime, "signup", f"ip:{client_of(request)}")
    except TooManyRequests as exc:
        return _form(request, runtime, 429, form=kept, errors={"form": exc.detail})
    with runtime.db.write() as session:
        accounts.sign_up(
            session,
            email=body.email,
            name=body.name,
            password=body.password,
            base_url=runtime.settings.base_url,
        )
    return page(
        request,
        "message.html",
        title="Check your mail",
        message=f"Almost there: {SENT}. Open it to finish signing up.",
    )
