"""The job composer: the spec's fields, or a pasted ``#SBATCH`` script, with a "where would it
run?" preview from the placement dry-run (nothing written) before submitting.

The form's fields are flat (``nodes``, ``sites``); ``spec_of`` builds the same JobSpec the API
takes, so a refusal says what the API would, beside the field it names."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from aifactory.api.deps import Rt
from aifactory.domain.access import WorkType
from aifactory.domain.jobs import Objective
from aifactory.domain.jobspec import JobSpec
from aifactory.services import submission, tenancy
from aifactory.services.dry_run import plan_record
from aifactory.services.errors import Forbidden, Invalid, NotFound
from aifactory.services.runtime import Runtime
from aifactory.services.sessions import Current
from aifactory.web.deps import Me, check_csrf
from aifactory.web.jobs import candidates_of
from aifactory.web.pages import form_of, message_of, page

router = APIRouter(include_in_schema=False)

RESOURCE_FIELDS = ("accelerator", "accelerators_per_node", "nodes", "cpus", "memory_gb", "walltime")
INTEGERS = ("accelerators_per_node", "nodes", "cpus", "memory_gb")
LISTS = ("sites", "countries", "datasets")
DEFAULTS = {
    "source": "command",
    "accelerator": "any",
    "accelerators_per_node": "1",
    "nodes": "1",
    "cpus": "8",
    "memory_gb": "32",
    "walltime": "1h",
    "objective": Objective.BALANCED.value,
    "work": WorkType.TRAINING.value,
}
# A pasted script may be as long as the API takes (64 KiB), URL-encoded (x3), with the rest.
_MAX_COMPOSER_FORM = 3 * 65_536 + 16_384
# A spec error's location (pydantic's loc) -> the form field that shows it.
_FIELD_OF = {"script": "script", "run": "run", "resources": "accelerators_per_node"}


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _text(form: dict[str, str], key: str) -> str:
    """A textarea's text with Unix line breaks: a browser sends each line break of a textarea
    as CRLF (HTML's form submission), whatever the pasted file had; kept, every pasted script
    would be refused as a DOS file (which sbatch refuses)."""
    return form.get(key, "").replace("\r\n", "\n")


def spec_of(form: dict[str, str]) -> tuple[JobSpec | None, dict[str, str]]:
    """The spec the form describes, or each field's error. A script's #SBATCH lines fill what
    the form leaves blank; with a script, the resource fields are not sent at all."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"objective": form.get("objective") or Objective.BALANCED.value}
    data["work"] = form.get("work") or WorkType.TRAINING.value
    for key in ("name", "project"):
        if form.get(key, "").strip():
            data[key] = form[key].strip()
    script = form.get("source") == "script"
    if script:
        data["script"] = _text(form, "script")
        if not data["script"].strip():
            errors["script"] = "paste the batch script to run (or choose a command)"
    else:
        data["run"] = _text(form, "run")
        if not data["run"].strip():
            errors["run"] = "give the command to run (or choose a batch script)"
        resources: dict[str, Any] = {}
        for key in RESOURCE_FIELDS:
            value = form.get(key, "").strip()
            if key in INTEGERS:
                if not value:
                    continue
                try:
                    resources[key] = int(value)
                except ValueError:
                    errors[key] = "a whole number"
            elif value:
                resources[key] = value
        data["resources"] = resources
    constraints = {"sites": _split(form.get("sites", "")), "countries": []}
    constraints["countries"] = [c.upper() for c in _split(form.get("countries", ""))]
    data["constraints"] = constraints
    if form.get("datasets", "").strip():
        data["datasets"] = _split(form["datasets"])
    data["simulate"] = form.get("simulate") == "on"
    if not script:
        data.setdefault("name", "")  # the name is required without a script to give one
    if errors:
        return None, errors
    try:
        return JobSpec.model_validate(data), {}
    except ValidationError as exc:
        for err in exc.errors():
            errors.setdefault(_field_of(err["loc"]), message_of(err))
        if "script" in errors and "name" not in data:
            # The script was to give the name (--job-name): its own error is the one to fix.
            errors.pop("name", None)
        return None, errors


def _field_of(loc: tuple[int | str, ...]) -> str:
    names = [str(part) for part in loc if isinstance(part, str)]
    for name in reversed(names):
        if name in RESOURCE_FIELDS or name in LISTS or name in ("name", "project", "work"):
            return name
    return _FIELD_OF.get(names[0], "form") if names else "run"


def _projects(runtime: Runtime, me: Current) -> list[tuple[str, str]]:
    with runtime.db.read() as session:
        projects = tenancy.list_projects(session, me.principal)
        return [
            (p.id, f"{p.name} ({p.id})")
            for p in projects
            if tenancy.may_submit(me.principal, p) and p.suspended_at is None
        ]


def _composer(
    request: Request,
    runtime: Runtime,
    me: Current,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    plan: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    accelerators = sorted({p.accelerator for _, p in runtime.catalog.partitions()})
    return page(
        request,
        "jobs/new.html",
        status,
        title="New job",
        me=me,
        form={**DEFAULTS, **form},
        errors=errors or {},
        plan=plan,
        # As on the job page: feasible partitions first, best first, then the others.
        candidates=candidates_of((plan or {}).get("placement")),
        projects=_projects(runtime, me),
        accelerators=[("any", "any")] + [(a, a) for a in accelerators],
        objectives=[(o.value, o.value) for o in Objective],
        works=[(w.value, w.value.replace("_", " ")) for w in WorkType],
    )


@router.get("/jobs/new", response_class=HTMLResponse)
def compose(request: Request, runtime: Rt, me: Me, project: str = "") -> HTMLResponse:
    return _composer(request, runtime, me, {"project": project[:64]} if project else {})


def _problems(exc: Invalid) -> dict[str, str]:
    errors: dict[str, str] = {}
    for p in exc.problems:
        errors.setdefault(_field_of(tuple(p.field.split("."))), p.message)
    return errors or {"form": exc.detail}


@router.post("/jobs/new", response_class=HTMLResponse)
async def compose_submit(request: Request, runtime: Rt, me: Me) -> Response:
    form = await form_of(request, _MAX_COMPOSER_FORM)
    check_csrf(me, form)
    form = {k: v for k, v in form.items() if k != "csrf"}
    spec, errors = spec_of(form)
    if spec is None:
        return _composer(request, runtime, me, form, errors, status=422)
    try:
        if form.get("action") == "preview":
            plan = await run_in_threadpool(
                runtime.dry_runs.plan, me.principal, spec, set(runtime.executors)
            )
            return _composer(request, runtime, me, form, plan=plan_record(plan))
        outcome = await run_in_threadpool(submission.submit, runtime, me.principal, spec)
    except Invalid as exc:
        return _composer(request, runtime, me, form, _problems(exc), status=422)
    except (NotFound, Forbidden) as exc:
        # The project select offers only the user's own: anything else reads as not found.
        errors = {"project": exc.detail if isinstance(exc, Forbidden) else "no such project"}
        return _composer(request, runtime, me, form, errors, status=422)
    return RedirectResponse(f"/jobs/{outcome.job.id}", status_code=303)
