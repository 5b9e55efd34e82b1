"""The portal's session cookie and CSRF checks.

``aif_session``: HttpOnly, SameSite=Lax, Secure outside development, for the session's
absolute lifetime. Every form carries a CSRF token: the session's own once logged in; before
(the log-in form), a random one also set as a short-lived cookie (double submit)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import Request
from fastapi.responses import Response

from aifactory.services import sessions
from aifactory.services.runtime import Runtime
from aifactory.settings import Mode

COOKIE = "aif_session"
LOGIN_CSRF = "aif_login_csrf"


def secure(runtime: Runtime) -> bool:
    return runtime.settings.mode is not Mode.DEVELOPMENT


def set_session(response: Response, runtime: Runtime, cookie: str) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=runtime.settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=secure(runtime),
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_login_csrf(
    response: Response, runtime: Runtime, token: str, name: str = LOGIN_CSRF, path: str = "/login"
) -> None:
    """The double-submit token of a form shown before any session (log-in, sign-up)."""
    response.set_cookie(
        name,
        token,
        max_age=1800,
        httponly=True,
        samesite="lax",
        secure=secure(runtime),
        path=path,
    )


def current(request: Request, runtime: Runtime) -> sessions.Current | None:
    cookie = request.cookies.get(COOKIE, "")
    if not cookie or len(cookie) > 200:
        return None
    with runtime.db.write() as session:  # write: last_seen_at moves on
        return sessions.current(
            session, cookie, timedelta(minutes=runtime.settings.session_idle_minutes)
        )
