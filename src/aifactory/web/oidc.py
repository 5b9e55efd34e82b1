"""Log-in through the OpenID Connect provider (``AIF_OIDC_ISSUER``): ``/login/oidc`` sends the
browser there, ``/login/oidc/callback`` takes it back and opens the same portal session as a
password log-in. Whatever goes wrong on the way (a changed or expired state, the provider's
error, an unverified e-mail) is a page saying so, never a 500."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aifactory.api.deps import Rt
from aifactory.services import oidc, sessions
from aifactory.services.runtime import Runtime
from aifactory.web import session as web_session
from aifactory.web.home import safe_next
from aifactory.web.pages import page

router = APIRouter(include_in_schema=False)
PENDING = "aif_oidc"  # the signed cookie of the flow under way
PATH = "/login/oidc"
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")  # OAuth's error codes (RFC 6749, 4.1.2.1)


def _redirect_uri(runtime: Runtime) -> str:
    return runtime.settings.base_url + PATH + "/callback"


def _failed(request: Request, runtime: Runtime, message: str, status: int) -> Response:
    response = page(
        request,
        "oidc_failed.html",
        status,
        title=f"Log-in with {runtime.settings.oidc_name} did not work",
        message=message,
    )
    response.delete_cookie(PENDING, path=PATH)
    return response


@router.get(PATH, response_class=HTMLResponse)
def start(request: Request, runtime: Rt, next: str = "/") -> Response:
    settings = runtime.settings
    if not settings.oidc_enabled:
        return page(
            request,
            "message.html",
            404,
            title="Page not found",
            message="Log-in through an identity provider is not set up on this platform.",
        )
    try:
        url, pending = oidc.begin(settings, _redirect_uri(runtime), safe_next(next))
    except oidc.OidcFailed as exc:
        return _failed(request, runtime, exc.message, exc.status)
    response = RedirectResponse(url, status_code=303)
    # Lax: the provider's redirect back is a top-level GET, which carries it.
    response.set_cookie(
        PENDING,
        oidc.seal(settings, pending),
        max_age=oidc.PENDING_TTL_S,
        httponly=True,
        samesite="lax",
        secure=web_session.secure(runtime),
        path=PATH,
    )
    return response


@router.get(PATH + "/callback", response_class=HTMLResponse)
def callback(
    request: Request,
    runtime: Rt,
    state: str = "",
    code: str = "",
    error: str = "",
    error_description: str = "",
) -> Response:
    settings = runtime.settings
    if not settings.oidc_enabled:
        return _failed(request, runtime, "log-in through a provider is not set up here", 404)
    pending = oidc.unseal(settings, request.cookies.get(PENDING, "")[:2000])
    state_ok = pending is not None and sessions.csrf_ok(pending.state, state[:200])
    if error:
        # Some providers send no state with an error: say the error's code, but their own
        # words only when the state proves the answer is for this browser's log-in.
        words = f"{settings.oidc_name} did not log you in"
        if _ERROR_CODE.fullmatch(error):
            words += f" ({error})"
        if state_ok and error_description:
            words += f": {error_description[:200]}"
        return _failed(request, runtime, words, 401)
    if pending is None or not state_ok or not code:
        return _failed(
            request,
            runtime,
            "this log-in was not started here, or took too long (the state does not match); "
            "start again from the log-in page",
            400,
        )
    try:
        claims = oidc.finish(settings, _redirect_uri(runtime), pending, code[:2000])
        with runtime.db.write() as session:
            outcome = oidc.sign_in(session, claims, allow_signup=settings.signup)
            opened = sessions.open_session(
                session, outcome.user, timedelta(hours=settings.session_hours)
            )
    except oidc.OidcFailed as exc:
        return _failed(request, runtime, exc.message, exc.status)
    except oidc.Refused as exc:
        with runtime.db.write() as session:
            oidc.record_refusal(session, claims, exc.reason)
        return _failed(request, runtime, exc.detail, exc.status)
    response = RedirectResponse(pending.next, status_code=303)
    response.delete_cookie(PENDING, path=PATH)
    web_session.set_session(response, runtime, opened.cookie)
    return response
