"""Projects inside an organisation, with members."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from aifactory.api import views
from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas import (
    ProjectCreate,
    ProjectMemberAdd,
    ProjectMemberPublic,
    ProjectPublic,
    ProjectSuspend,
    ProjectUsage,
)
from aifactory.services import tenancy, usage

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post(
    "",
    operation_id="create_project",
    response_model=ProjectPublic,
    status_code=status.HTTP_201_CREATED,
)
def create_project(body: ProjectCreate, runtime: Rt, caller: Caller) -> ProjectPublic:
    with runtime.db.write() as session:
        p = tenancy.create_project(
            session, caller, org_id=body.org_id, name=body.name, description=body.description
        )
        return views.project(p)


@router.get("", operation_id="list_projects", response_model=list[ProjectPublic])
def list_projects(
    runtime: Rt, caller: Caller, org_id: str | None = Query(default=None, max_length=64)
) -> list[ProjectPublic]:
    with runtime.db.read() as session:
        return [views.project(p) for p in tenancy.list_projects(session, caller, org_id)]


@router.get("/{project_id}", operation_id="get_project", response_model=ProjectPublic)
def get_project(project_id: str, runtime: Rt, caller: Caller) -> ProjectPublic:
    with runtime.db.read() as session:
        return views.project(tenancy.get_project(session, caller, project_id))


@router.get(
    "/{project_id}/members",
    operation_id="list_project_members",
    response_model=list[ProjectMemberPublic],
)
def list_members(project_id: str, runtime: Rt, caller: Caller) -> list[ProjectMemberPublic]:
    with runtime.db.read() as session:
        return [
            ProjectMemberPublic(user_id=u.id, email=u.email, name=u.name)
            for u in tenancy.list_project_members(session, caller, project_id)
        ]


@router.post(
    "/{project_id}/members",
    operation_id="add_project_member",
    response_model=ProjectMemberPublic,
    status_code=status.HTTP_201_CREATED,
)
def add_member(
    project_id: str, body: ProjectMemberAdd, runtime: Rt, caller: Caller
) -> ProjectMemberPublic:
    with runtime.db.write() as session:
        m = tenancy.add_project_member(session, caller, project_id, email=body.email)
        u = tenancy.user_by_email(session, body.email)
        return ProjectMemberPublic(user_id=m.user_id, email=u.email, name=u.name)


@router.get("/{project_id}/usage", operation_id="get_project_usage", response_model=ProjectUsage)
def get_usage(project_id: str, runtime: Rt, caller: Caller) -> ProjectUsage:
    """What the project's jobs used: one record per ended job (for Slurm jobs, GPUs x elapsed
    as sacct reports them), and the totals."""
    with runtime.db.read() as session:
        tenancy.get_project(session, caller, project_id)  # 404 for another tenant's
        records = usage.records(session, project_id)
        return views.project_usage(project_id, records)


@router.post("/{project_id}/suspend", operation_id="suspend_project", response_model=ProjectPublic)
def suspend_project(
    project_id: str, body: ProjectSuspend, runtime: Rt, caller: Caller
) -> ProjectPublic:
    """Operators: no job of the project is placed or accepted, and its Slurm accounts refuse
    submissions (GrpSubmitJobs=0)."""
    with runtime.db.write() as session:
        return views.project(tenancy.suspend_project(session, caller, project_id, body.reason))


@router.post("/{project_id}/resume", operation_id="resume_project", response_model=ProjectPublic)
def resume_project(project_id: str, runtime: Rt, caller: Caller) -> ProjectPublic:
    with runtime.db.write() as session:
        return views.project(tenancy.suspend_project(session, caller, project_id, None))
