"""Log-in, log-out and the dashboard (my organisations, projects and recent jobs)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aifactory.api.deps import Rt
from aifactory.api.routers.accounts import client_of, limit
from aifactory.services import allocations, burn, identity, jobs, sessions, tenancy
from aifactory.services.errors import Forbidden, TooManyRequests, Unauthenticated
from aifactory.services.ids import utcnow
from aifactory.web import session as web_session
from aifactory.web.pages import form_of, page

router = APIRouter(include_in_schema=False)
MAX_ALLOCATIONS = 20  # the newest; a project's page lists all of its own
MAX_CHARTS = 4
MAX_JOBS = 20


def safe_next(target: str) -> str:
    """Where to go after logging in: a path of this portal only (never another host)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target[:500]
    return "/"


def _login_page(request: Request, runtime: Rt, status: int = 200, **kw: str) -> HTMLResponse:
    csrf = web_session.new_login_csrf()
    response = page(
        request,
        "login.html",
        status,
        title="Log in",
        email=kw.get("email", ""),
        error=kw.get("error", ""),
        next=safe_next(kw.get("next", "/")),
        csrf=csrf,
        oidc_name=runtime.settings.oidc_name if runtime.settings.oidc_enabled else "",
    )
    web_session.set_login_csrf(response, runtime, csrf)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, runtime: Rt, next: str = "/") -> Response:
    if web_session.current(request, runtime) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, runtime, next=next)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, runtime: Rt) -> Response:
    form = await form_of(request)
    email = form.get("email", "").strip()[:254]
    target = safe_next(form.get("next", "/"))
    expected = request.cookies.get(web_session.LOGIN_CSRF, "")
    if not sessions.csrf_ok(expected, form.get("csrf", "")):
        return _login_page(
            request,
            runtime,
            403,
            email=email,
            next=target,
            error="the form had expired; log in again",
        )
    try:
        limit(runtime, "login", f"ip:{client_of(request)}", f"email:{email.lower()}")
        with runtime.db.write() as session:
            user = identity.check_password(session, email=email, password=form.get("password", ""))
            opened = sessions.open_session(
                session, user, timedelta(hours=runtime.settings.session_hours)
            )
    except (Unauthenticated, Forbidden, TooManyRequests) as exc:
        if isinstance(exc, Unauthenticated):
            with runtime.db.write() as session:
                identity.record_failed_login(session, email)
        status = 429 if isinstance(exc, TooManyRequests) else 401
        return _login_page(request, runtime, status, email=email, next=target, error=exc.detail)
    response = RedirectResponse(target, status_code=303)
    web_session.set_session(response, runtime, opened.cookie)
    response.delete_cookie(web_session.LOGIN_CSRF, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, runtime: Rt) -> Response:
    me = web_session.current(request, runtime)
    form = await form_of(request)
    if me is not None:
        if not sessions.csrf_ok(me.csrf, form.get("csrf", "")):
            return page(
                request,
                "message.html",
                403,
                title="Not allowed",
                message="This form is not from your session; nothing was done.",
            )
        with runtime.db.write() as session:
            sessions.end(session, me.session_id, me.principal.user_id)
    response = RedirectResponse("/login", status_code=303)
    web_session.clear_session(response)
    return response


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, runtime: Rt) -> Response:
    me = web_session.current(request, runtime)
    if me is None:
        return RedirectResponse("/login", status_code=303)
    with runtime.db.read() as session:
        orgs = tenancy.list_orgs(session, me.principal)
        projects = tenancy.list_projects(session, me.principal)
        # "My" jobs are those I submitted; my allocations those of my organisations (an
        # operator's too: every tenant's are on the jobs list and the allocations pages).
        own = tuple(me.principal.orgs)
        active = jobs.live_jobs(session, me.principal, me.principal.user_id, limit=MAX_JOBS)
        recent = jobs.recent_jobs(
            session, me.principal, jobs.JobFilter(user_id=me.principal.user_id), limit=10
        )
        now = utcnow()
        mine = (
            allocations.list_allocations(session, me.principal, org_ids=own, limit=MAX_ALLOCATIONS)
            if own
            else []
        )
        days = burn.burn_down(session, [a.id for a in mine[:MAX_CHARTS]])
        names = {p.id: p.name for p in projects}
        rows = [
            {
                "b": b,
                "project": names.get(b.alloc.project_id, b.alloc.project_id),
                "days": days.get(b.alloc.id),
            }
            for b in burn.balances(session, mine, now)
        ]
        return page(
            request,
            "dashboard.html",
            title="Dashboard",
            me=me,
            orgs=orgs,
            projects=projects,
            active=active,
            jobs=recent,
            allocations=rows,
        )
