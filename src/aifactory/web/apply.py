"""The application form, ``/calls/{call_id}/apply``: every field of :class:`ProposalForm`,
checked by the model and then by the proposals service (the call's rules), each error beside
its field with what was typed kept. A new project named on the form is created in the same
transaction as the proposal, so a refused proposal leaves no project behind.

Form fields are named after the model's paths (``principal_investigator.name``,
``resources.0.gpu_hours``); an error's path is mapped back to the nearest field shown."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from aifactory.api.deps import Rt
from aifactory.api.schemas import ProjectCreate
from aifactory.db.tables import Call, Organisation, Project
from aifactory.domain.access import Sector, WorkType
from aifactory.domain.access_forms import ProposalForm
from aifactory.services import calls, proposals, tenancy
from aifactory.services.errors import Conflict, FieldProblem, Invalid
from aifactory.services.ids import utcnow
from aifactory.services.sessions import Current
from aifactory.web.calls import view_of
from aifactory.web.deps import Me, check_csrf
from aifactory.web.pages import form_of, message_of, page

router = APIRouter(include_in_schema=False)

MILESTONES = 4  # rows of the work plan offered; blank ones are left out
NEW = "new"  # the project choice "a new project, named below"
_INT = re.compile(r"^-?[0-9]{1,12}$")


def _int(raw: str) -> object:
    """A number typed in a form; text is passed on for the model to refuse by name."""
    raw = raw.strip().replace(",", "").replace("_", "")
    return int(raw) if _INT.match(raw) else raw


def _float(raw: str) -> object:
    try:
        return float(raw.strip())
    except ValueError:
        return raw


def _people(raw: str) -> list[dict[str, str]]:
    """Team members, one a line: ``Name <email>`` (or ``Name, email``)."""
    out = []
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        found = re.match(r"^(.*?)[\s,]*<?([^<>\s,]+@[^<>\s,]+)>?$", line)
        name, email = (found.group(1), found.group(2)) if found else (line, "")
        out.append({"name": name.strip(), "email": email.strip()})
    return out


def body_of(form: dict[str, str], call: Call) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The JSON body the API would take, and for each list the form row of each item (blank
    rows are left out, so item 1 may be row 2)."""
    rows: dict[str, list[int]] = {"resources": [], "work_plan": []}
    resources = []
    for i, _part in enumerate(call.partitions):
        if not form.get(f"resources.{i}.gpu_hours", "").strip():
            continue
        rows["resources"].append(i)
        r: dict[str, Any] = {
            "partition": call.partitions[i],
            "gpu_hours": _int(form.get(f"resources.{i}.gpu_hours", "")),
            "largest_job_gpus": _int(form.get(f"resources.{i}.largest_job_gpus", "")),
        }
        if form.get(f"resources.{i}.storage_tb", "").strip():
            r["storage_tb"] = _float(form[f"resources.{i}.storage_tb"])
        resources.append(r)
    plan = []
    for i in range(MILESTONES):
        month, title = form.get(f"work_plan.{i}.month", ""), form.get(f"work_plan.{i}.title", "")
        if month.strip() or title.strip():
            rows["work_plan"].append(i)
            plan.append({"month": _int(month), "title": title.strip()})
    body: dict[str, Any] = {
        "call": call.id,
        "project": form.get("project", ""),
        "title": form.get("title", "").strip(),
        "abstract": form.get("abstract", "").strip(),
        "principal_investigator": {
            "name": form.get("principal_investigator.name", "").strip(),
            "email": form.get("principal_investigator.email", "").strip(),
        },
        "team": _people(form.get("team", "")),
        "sector": form.get("sector", ""),
        "work_types": [w.value for w in WorkType if form.get(f"work_types.{w.value}")],
        "resources": resources,
        "duration_months": _int(form.get("duration_months", "")),
        "why_this_scale": form.get("why_this_scale", "").strip(),
        "code_readiness": {
            "frameworks": [
                f.strip() for f in form.get("code_readiness.frameworks", "").split(",") if f.strip()
            ],
            "scaling_shown": form.get("code_readiness.scaling_shown", "").strip(),
        },
        "data": {
            "description": form.get("data.description", "").strip(),
            "origin": form.get("data.origin", "").strip(),
            "personal_data": form.get("data.personal_data") == "yes",
        },
        "work_plan": plan,
        "ai_act": {
            "intended_purpose": form.get("ai_act.intended_purpose", "").strip(),
            "high_risk": form.get("ai_act.high_risk") == "yes",
        },
    }
    if form.get("ai_act.prohibited_practice") in ("yes", "no"):
        body["ai_act"]["prohibited_practice"] = form["ai_act.prohibited_practice"] == "yes"
    if form.get("eu_project", "").strip():
        body["eu_project"] = form["eu_project"].strip()
    return body, rows


def _shown_fields(call: Call) -> set[str]:
    out = {
        "org",
        "project",
        "project_name",
        "title",
        "abstract",
        "principal_investigator.name",
        "principal_investigator.email",
        "team",
        "sector",
        "work_types",
        "resources",
        "duration_months",
        "why_this_scale",
        "code_readiness.frameworks",
        "code_readiness.scaling_shown",
        "data.description",
        "data.origin",
        "work_plan",
        "ai_act.intended_purpose",
        "ai_act.prohibited_practice",
        "eu_project",
    }
    for i in range(len(call.partitions)):
        out |= {f"resources.{i}.{f}" for f in ("gpu_hours", "largest_job_gpus", "storage_tb")}
    for i in range(MILESTONES):
        out |= {f"work_plan.{i}.month", f"work_plan.{i}.title"}
    return out


def place_of(path: str, rows: dict[str, list[int]], shown: set[str]) -> str:
    """The form field an error's path (``resources[0].gpu_hours``, ``team.1.email``,
    ``organisation.kind``) is shown beside: the nearest one the form has, else "form"."""
    parts = path.replace("[", ".").replace("]", "").split(".")
    if parts[0] == "organisation":
        return "org"
    if len(parts) > 1 and parts[0] in rows and parts[1].isdigit():
        items = rows[parts[0]]
        n = int(parts[1])
        if n < len(items):
            parts[1] = str(items[n])
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in shown:
            return candidate
    return "form"


def _add(errors: dict[str, str], place: str, message: str) -> None:
    errors[place] = f"{errors[place]}; {message}" if place in errors else message


def _mine(me: Current, session: Session) -> tuple[list[Organisation], list[Project]]:
    """The applicant's own organisations and projects (operators see every tenant's, but
    apply only for their own)."""
    orgs = [o for o in tenancy.list_orgs(session, me.principal) if o.id in me.principal.orgs]
    projects = [
        p for p in tenancy.list_projects(session, me.principal) if p.org_id in me.principal.orgs
    ]
    return orgs, projects


def _form_page(
    request: Request, runtime: Rt, me: Me, call_id: str, status: int = 200, **kw: Any
) -> HTMLResponse:
    with runtime.db.read() as session:
        call = calls.get_call(session, call_id)
        view = view_of(call, runtime.catalog, utcnow().date())
        orgs, projects = _mine(me, session)
        org_names = {o.id: o.name for o in orgs}
    form = kw.get("form") or {
        "principal_investigator.name": me.name,
        "principal_investigator.email": me.principal.email,
        "duration_months": str(view.rules.durations_months[0]),
        "work_plan.0.month": "1",
    }
    return page(
        request,
        "apply.html",
        status,
        title=f"Apply to {call.title}",
        me=me,
        c=view,
        orgs=orgs,
        projects=[(p, org_names.get(p.org_id, "")) for p in projects],
        form=form,
        errors=kw.get("errors", {}),
        sectors=list(Sector),
        work_types=list(WorkType),
        milestones=range(MILESTONES),
        new=NEW,
    )


@router.get("/calls/{call_id}/apply", response_class=HTMLResponse)
def apply_form(call_id: str, request: Request, runtime: Rt, me: Me) -> HTMLResponse:
    return _form_page(request, runtime, me, call_id[:64])


def _project_problem(form: dict[str, str], projects: list[Project]) -> tuple[str, str] | None:
    choice, org_id = form.get("project", ""), form.get("org", "")
    if choice == NEW:
        return None
    chosen = next((p for p in projects if p.id == choice), None)
    if chosen is None:
        return "project", "choose one of your projects, or a new project"
    if org_id and chosen.org_id != org_id:
        return "project", "this project belongs to another of your organisations"
    return None


@router.post("/calls/{call_id}/apply", response_class=HTMLResponse)
async def apply_submit(call_id: str, request: Request, runtime: Rt, me: Me) -> Response:
    form = await form_of(request)
    check_csrf(me, form)
    form.pop("csrf", None)
    call_id = call_id[:64]
    errors: dict[str, str] = {}
    with runtime.db.read() as session:
        call = calls.get_call(session, call_id)
        orgs, projects = _mine(me, session)
    shown = _shown_fields(call)
    body, rows = body_of(form, call)
    new_name = form.get("project_name", "").strip()
    org_id = form.get("org", "")
    if (org_id or form.get("project") == NEW) and org_id not in {o.id for o in orgs}:
        errors["org"] = "choose one of your organisations"
    problem = _project_problem(form, projects)
    if problem:
        errors[problem[0]] = problem[1]
    if form.get("project") == NEW and not errors.get("org"):
        try:
            ProjectCreate(org_id=org_id, name=new_name)
        except ValidationError as exc:
            errors["project_name"] = message_of(exc.errors()[0])
        body["project"] = NEW
    parsed: ProposalForm | None = None
    try:
        parsed = ProposalForm.model_validate(body)
    except ValidationError as exc:
        for e in exc.errors():
            place = place_of(".".join(str(p) for p in e["loc"]), rows, shown)
            _add(errors, place, message_of(e))
    if errors or parsed is None:
        return _form_page(request, runtime, me, call_id, 422, form=form, errors=errors)
    try:
        with runtime.db.write() as session:
            if form.get("project") == NEW:
                project = tenancy.create_project(
                    session, me.principal, org_id=org_id, name=new_name, description=""
                )
                parsed = parsed.model_copy(update={"project": project.id})
            created = proposals.create(
                session, me.principal, runtime.catalog, parsed, submit=True, now=utcnow()
            )
            proposal_id = created.id
    except Invalid as exc:
        for p in exc.problems:
            _add(errors, place_of(p.field, rows, shown), _said(p))
        return _form_page(request, runtime, me, call_id, 422, form=form, errors=errors)
    except Conflict as exc:  # a project of that name exists in the organisation
        errors["project_name"] = exc.detail
        return _form_page(request, runtime, me, call_id, 409, form=form, errors=errors)
    return RedirectResponse(f"/proposals/{proposal_id}", status_code=303)


def _said(p: FieldProblem) -> str:
    allowed = f" (allowed: {', '.join(p.allowed)})" if p.allowed and len(p.allowed) <= 6 else ""
    return p.message + allowed
