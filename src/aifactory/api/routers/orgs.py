"""Organisations and their memberships."""

from __future__ import annotations

from fastapi import APIRouter, status

from aifactory.api import views
from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas import (
    MemberAdd,
    MemberPublic,
    OrgCreate,
    OrgPublic,
    OrgRestrict,
)
from aifactory.domain.identity import MembershipRole
from aifactory.services import tenancy

router = APIRouter(prefix="/orgs", tags=["organisations"])


@router.post(
    "", operation_id="create_org", response_model=OrgPublic, status_code=status.HTTP_201_CREATED
)
def create_org(body: OrgCreate, runtime: Rt, caller: Caller) -> OrgPublic:
    """Any user may register an organisation; they become its owner."""
    with runtime.db.write() as session:
        org = tenancy.create_org(
            session,
            caller,
            name=body.name,
            kind=body.kind,
            country=body.country,
            registration_id=body.registration_id,
        )
        return views.org(org)


@router.get("", operation_id="list_orgs", response_model=list[OrgPublic])
def list_orgs(runtime: Rt, caller: Caller) -> list[OrgPublic]:
    with runtime.db.read() as session:
        return [views.org(o) for o in tenancy.list_orgs(session, caller)]


@router.get("/{org_id}", operation_id="get_org", response_model=OrgPublic)
def get_org(org_id: str, runtime: Rt, caller: Caller) -> OrgPublic:
    with runtime.db.read() as session:
        return views.org(tenancy.get_org(session, caller, org_id))


@router.get("/{org_id}/members", operation_id="list_org_members", response_model=list[MemberPublic])
def list_members(org_id: str, runtime: Rt, caller: Caller) -> list[MemberPublic]:
    with runtime.db.read() as session:
        return [
            MemberPublic(user_id=u.id, email=u.email, name=u.name, role=MembershipRole(r))
            for u, r in tenancy.list_members(session, caller, org_id)
        ]


@router.post(
    "/{org_id}/members",
    operation_id="add_org_member",
    response_model=MemberPublic,
    status_code=status.HTTP_201_CREATED,
)
def add_member(org_id: str, body: MemberAdd, runtime: Rt, caller: Caller) -> MemberPublic:
    """Owners add an existing user (by e-mail) or change their role."""
    with runtime.db.write() as session:
        m = tenancy.add_member(session, caller, org_id, email=body.email, role=body.role)
        u = tenancy.user_by_email(session, body.email)
        return MemberPublic(
            user_id=m.user_id, email=u.email, name=u.name, role=MembershipRole(m.role)
        )


@router.delete(
    "/{org_id}/members/{user_id}",
    operation_id="remove_org_member",
    status_code=status.HTTP_204_NO_CONTENT,
)
def remove_member(org_id: str, user_id: str, runtime: Rt, caller: Caller) -> None:
    with runtime.db.write() as session:
        tenancy.remove_member(session, caller, org_id, user_id)


@router.put(
    "/{org_id}/restriction",
    operation_id="restrict_org",
    response_model=OrgPublic,
)
def restrict_org(org_id: str, body: OrgRestrict, runtime: Rt, caller: Caller) -> OrgPublic:
    """Operators: the organisation's jobs run only on these sites and/or only on sites in these
    countries (an export-control or compliance hold); the scheduler refuses every other site
    with the reason. Replaces a restriction in force."""
    with runtime.db.write() as session:
        org = tenancy.restrict_org(
            session,
            caller,
            org_id,
            sites=body.sites,
            countries=body.countries,
            reason=body.reason,
            catalog=runtime.catalog,
        )
        return views.org(org)


@router.delete("/{org_id}/restriction", operation_id="unrestrict_org", response_model=OrgPublic)
def unrestrict_org(org_id: str, runtime: Rt, caller: Caller) -> OrgPublic:
    """Operators: lift the restriction; the organisation's jobs may run on any site again."""
    with runtime.db.write() as session:
        return views.org(tenancy.unrestrict_org(session, caller, org_id))
