"""The pages account mails link to: ``/verify-email?token=…`` verifies the address;
``/reset-password`` asks for a reset link, and with ``?token=…`` sets a new password. A
form keeps what the user typed (never a password) and shows each field's error beside it.

The reset form carries its single-use token, which an attacker does not have: a forged
submission cannot change a password (the portal's own forms get CSRF tokens with sessions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from aifactory.api.deps import Rt
from aifactory.api.routers.accounts import client_of, limit
from aifactory.services import accounts
from aifactory.services.errors import Invalid, TooManyRequests

router = APIRouter(include_in_schema=False)
M = TypeVar("M", bound=BaseModel)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def duration(seconds: int) -> str:
    """3725 -> "1h 2m": a wait or a time limit as people say it."""
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60 % 60, seconds // 3600 % 24, seconds // 86400
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes and not days else []
    return " ".join(parts) or "0s"


templates.env.filters["duration"] = duration
_MAX_FORM = 8192


def message_of(error: Any) -> str:
    """One pydantic error as the API words it (without pydantic's "Value error, ")."""
    return str(error["msg"]).removeprefix("Value error, ")


def errors_of(exc: ValidationError) -> dict[str, str]:
    """A schema's errors by top-level field (the first of each), "form" for the whole."""
    out: dict[str, str] = {}
    for e in exc.errors():
        out.setdefault(str(e["loc"][0]) if e["loc"] else "form", message_of(e))
    return out


def parsed(model: type[M], data: dict[str, Any]) -> M | dict[str, str]:
    """The form as the API's schema, or its errors by field."""
    try:
        return model(**data)
    except ValidationError as exc:
        return errors_of(exc)


def see_other(path: str) -> RedirectResponse:
    """Post/redirect/get: after a form that worked, the page to look at."""
    return RedirectResponse(path, status_code=303)


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


async def form_of(request: Request, max_bytes: int = _MAX_FORM) -> dict[str, str]:
    """The form's fields (the first of each name); a body over ``max_bytes`` is cut there."""
    body = (await request.body())[:max_bytes].decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


@router.get("/verify-email", response_class=HTMLResponse)
def verify_email(request: Request, runtime: Rt, token: str = "") -> HTMLResponse:
    try:
        with runtime.db.write() as session:
            user = accounts.verify_email(session, token[:200])
            email = user.email
    except Invalid as exc:
        return page(
            request,
            "message.html",
            400,
            title="This link does not work",
            message=exc.problems[0].message + ". Log in to have a new one sent, or sign up again.",
        )
    return page(
        request,
        "message.html",
        title="E-mail verified",
        message=f"{email} is verified. You can log in now.",
        back="/login",
        back_text="Log in",
    )


def _reset_form(request: Request, status: int = 200, **kw: Any) -> HTMLResponse:
    context = {
        "token": "",
        "email": "",
        "errors": {},
        "min_length": accounts.MIN_PASSWORD,
        "welcome": False,
    }
    context.update(kw)
    # An invitation's link comes here too (?welcome=1): the person has no password yet.
    title = "Choose your password" if context["welcome"] else "Reset your password"
    return page(request, "reset.html", status, title=title, **context)


@router.get("/reset-password", response_class=HTMLResponse)
def reset_form(request: Request, token: str = "", welcome: str = "") -> HTMLResponse:
    return _reset_form(request, token=token[:200], welcome=welcome == "1")


@router.post("/reset-password", response_class=HTMLResponse)
async def reset_submit(request: Request, runtime: Rt) -> HTMLResponse:
    form = await form_of(request)
    token = form.get("token", "")[:200]
    if not token:
        email = form.get("email", "").strip()[:254]
        if "@" not in email:
            return _reset_form(
                request,
                422,
                email=email,
                errors={"email": "give the e-mail address of your account"},
            )
        try:
            limit(runtime, "reset", f"ip:{client_of(request)}", f"email:{email.lower()}")
        except TooManyRequests as exc:
            return _reset_form(request, 429, email=email, errors={"email": exc.detail})
        with runtime.db.write() as session:
            accounts.request_password_reset(
                session, email=email, base_url=runtime.settings.base_url
            )
        return page(
            request,
            "message.html",
            title="Check your mail",
            message="If the address has an account, a reset link is on its way.",
        )
    password, confirm = form.get("password", ""), form.get("confirm", "")
    welcome = form.get("welcome") == "1"
    if len(password) < accounts.MIN_PASSWORD:
        return _reset_form(
            request,
            422,
            token=token,
            welcome=welcome,
            errors={"password": f"at least {accounts.MIN_PASSWORD} characters"},
        )
    if password != confirm:
        return _reset_form(
            request,
            422,
            token=token,
            welcome=welcome,
            errors={"confirm": "the two passwords differ"},
        )
    try:
        with runtime.db.write() as session:
            user = accounts.reset_password(session, token=token, password=password)
            email = user.email
    except Invalid as exc:
        return _reset_form(
            request, 400, token=token, welcome=welcome, errors={"token": exc.problems[0].message}
        )
    if welcome:
        return page(
            request,
            "message.html",
            title="Password set",
            message=f"{email} has its password. Log in with it.",
        )
    return page(
        request,
        "message.html",
        title="Password changed",
        message=f"The password of {email} is changed; every API token it had is "
        "revoked. Log in with the new one.",
    )
