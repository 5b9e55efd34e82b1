"""Organisation and project pages: my organisations with a create form; an organisation's
members (owners invite by e-mail and remove) and projects (with a create form); a project's
members, its allocations per partition and a link to its jobs. Every rule is the services'
(tenancy, accounts.invite_member, allocations); another tenant's object is the 404 page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aifactory.api.deps import Rt
from aifactory.api.schemas import MemberAdd, OrgCreate, ProjectCreate, ProjectMemberAdd
from aifactory.domain.countries import EUROHPC_COUNTRIES
from aifactory.domain.identity import MembershipRole, OrgKind
from aifactory.services import accounts, allocations, burn, sessions, tenancy
from aifactory.services.errors import Conflict, NotFound
from aifactory.services.ids import utcnow
from aifactory.web.deps import Me, check_csrf
from aifactory.web.pages import form_of, page, parsed, see_other

router = APIRouter(include_in_schema=False)

ORG_FIELDS = ("name", "kind", "country", "registration_id")


# -- my organisations ---------------------------------------------------------------------
def _orgs_page(
    request: Request, runtime: Rt, me: sessions.Current, status: int = 200, **kw: Any
) -> HTMLResponse:
    with runtime.db.read() as session:
        orgs = tenancy.list_orgs(session, me.principal)
        return page(
            request,
            "orgs.html",
            status,
            title="Organisations",
            me=me,
            orgs=orgs,
            roles={o.id: me.principal.orgs.get(o.id) for o in orgs},
            kinds=[k.value for k in OrgKind],
            countries=sorted(EUROHPC_COUNTRIES),
            form=kw.get("form", dict.fromkeys(ORG_FIELDS, "")),
            errors=kw.get("errors", {}),
        )


@router.get("/orgs", response_class=HTMLResponse)
def orgs(request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    return _orgs_page(request, runtime, me)


@router.post("/orgs", response_class=HTMLResponse)
async def create_org(request: Request, runtime: Rt, me: Me) -> Response:
    form = await form_of(request)
    check_csrf(me, form)
    kept = {f: form.get(f, "").strip()[:200] for f in ORG_FIELDS}
    body = parsed(OrgCreate, kept)
    if isinstance(body, dict):
        return _orgs_page(request, runtime, me, 422, form=kept, errors=body)
    try:
        with runtime.db.write() as session:
            org = tenancy.create_org(
                session,
                me.principal,
                name=body.name,
                kind=body.kind,
                country=body.country,
                registration_id=body.registration_id,
            )
            org_id = org.id
    except Conflict as exc:
        return _orgs_page(request, runtime, me, 409, form=kept, errors={"name": exc.detail})
    return see_other(f"/orgs/{org_id}")


# -- one organisation ---------------------------------------------------------------------
@dataclass
class OrgForms:
    """What the organisation page's two forms show: what was typed, and each form's errors by
    field name (the page gives the fields ids "invite-…" and "project-…")."""

    invite: dict[str, str]
    project: dict[str, str]
    invite_errors: dict[str, str] = field(default_factory=dict)
    project_errors: dict[str, str] = field(default_factory=dict)
    notice: str = ""


def _blank() -> OrgForms:
    return OrgForms({"email": "", "role": "member"}, {"name": "", "description": ""})


def _org_page(
    request: Request,
    runtime: Rt,
    me: sessions.Current,
    org_id: str,
    status: int = 200,
    forms: OrgForms | None = None,
) -> HTMLResponse:
    with runtime.db.read() as session:
        org = tenancy.get_org(session, me.principal, org_id)
        return page(
            request,
            "org.html",
            status,
            title=org.name,
            me=me,
            org=org,
            owner=me.principal.owns_org(org_id),
            members=tenancy.list_members(session, me.principal, org_id),
            projects=tenancy.list_projects(session, me.principal, org_id),
            roles=[r.value for r in MembershipRole],
            forms=forms or _blank(),
        )


@router.get("/orgs/{org_id}", response_class=HTMLResponse)
def org_page(org_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    return _org_page(request, runtime, me, org_id)


async def _org_form(
    request: Request, runtime: Rt, me: sessions.Current, org_id: str
) -> dict[str, str]:
    """The form, once the organisation is known to be the caller's (else the 404 page, before
    any field is looked at) and the form is from their session."""
    form = await form_of(request)
    with runtime.db.read() as session:
        tenancy.get_org(session, me.principal, org_id)
    check_csrf(me, form)
    return form


@router.post("/orgs/{org_id}/members", response_class=HTMLResponse)
async def invite(org_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    form = await _org_form(request, runtime, me, org_id)
    kept = {"email": form.get("email", "").strip()[:254], "role": form.get("role", "member")}
    forms = _blank()
    forms.invite = kept
    body = parsed(MemberAdd, kept)
    if isinstance(body, dict):
        forms.invite_errors = body
        return _org_page(request, runtime, me, org_id, 422, forms)
    try:
        with runtime.db.write() as session:
            accounts.invite_member(
                session,
                me.principal,
                org_id,
                email=body.email,
                role=body.role,
                base_url=runtime.settings.base_url,
            )
    except Conflict as exc:
        forms.invite_errors = {"role": exc.detail}
        return _org_page(request, runtime, me, org_id, 409, forms)
    return see_other(f"/orgs/{org_id}")


@router.post("/orgs/{org_id}/members/{user_id}/remove", response_class=HTMLResponse)
async def remove_member(
    org_id: str, user_id: str, request: Request, runtime: Rt, me: Me
) -> Response:
    await _org_form(request, runtime, me, org_id)
    try:
        with runtime.db.write() as session:
            tenancy.remove_member(session, me.principal, org_id, user_id[:64])
    except Conflict as exc:
        forms = _blank()
        forms.notice = exc.detail
        return _org_page(request, runtime, me, org_id, 409, forms)
    return see_other(f"/orgs/{org_id}")


@router.post("/orgs/{org_id}/projects", response_class=HTMLResponse)
async def create_project(org_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    form = await _org_form(request, runtime, me, org_id)
    kept = {
        "name": form.get("name", "").strip()[:200],
        "description": form.get("description", "")[:4000],
    }
    forms = _blank()
    forms.project = kept
    body = parsed(ProjectCreate, {"org_id": org_id, **kept})
    if isinstance(body, dict):
        forms.project_errors = body
        return _org_page(request, runtime, me, org_id, 422, forms)
    try:
        with runtime.db.write() as session:
            project = tenancy.create_project(
                session,
                me.principal,
                org_id=org_id,
                name=body.name,
                description=body.description,
            )
            project_id = project.id
    except Conflict as exc:
        forms.project_errors = {"name": exc.detail}
        return _org_page(request, runtime, me, org_id, 409, forms)
    return see_other(f"/projects/{project_id}")


# -- one project --------------------------------------------------------------------------
def _project_page(
    request: Request,
    runtime: Rt,
    me: sessions.Current,
    project_id: str,
    status: int = 200,
    **kw: Any,
) -> HTMLResponse:
    with runtime.db.read() as session:
        project = tenancy.get_project(session, me.principal, project_id)
        org = tenancy.get_org(session, me.principal, project.org_id)
        return page(
            request,
            "project.html",
            status,
            title=f"Project {project.name}",
            me=me,
            project=project,
            org=org,
            members=tenancy.list_project_members(session, me.principal, project_id),
            may_add=tenancy.may_submit(me.principal, project),
            balances=burn.balances(
                session,
                allocations.list_allocations(session, me.principal, project_id=project_id),
                utcnow(),
            ),
            email=kw.get("email", ""),
            errors=kw.get("errors", {}),
        )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(project_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    return _project_page(request, runtime, me, project_id)


@router.post("/projects/{project_id}/members", response_class=HTMLResponse)
async def add_project_member(project_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    form = await form_of(request)
    with runtime.db.read() as session:
        tenancy.get_project(session, me.principal, project_id)  # the 404 page first
    check_csrf(me, form)
    email = form.get("email", "").strip()[:254]
    body = parsed(ProjectMemberAdd, {"email": email})
    if isinstance(body, dict):
        return _project_page(request, runtime, me, project_id, 422, email=email, errors=body)
    try:
        with runtime.db.write() as session:
            tenancy.add_project_member(session, me.principal, project_id, email=body.email)
    except NotFound:  # the project is known to be the caller's: the user is missing
        errors = {"email": "no account has this e-mail; invite them to the organisation first"}
        return _project_page(request, runtime, me, project_id, 422, email=email, errors=errors)
    except Conflict as exc:
        return _project_page(
            request, runtime, me, project_id, 409, email=email, errors={"email": exc.detail}
        )
    return see_other(f"/projects/{project_id}")
