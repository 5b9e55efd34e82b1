"""Organisations, memberships, projects and project members: all scoped to the caller."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.db.tables import Membership, Organisation, Project, ProjectMember, User
from aifactory.domain.catalog import Catalog
from aifactory.domain.identity import MembershipRole, OrgKind
from aifactory.scheduling.model import OrgRule
from aifactory.services import audit
from aifactory.services.errors import Conflict, FieldProblem, Forbidden, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow


def create_org(
    session: Session,
    principal: Principal,
    *,
    name: str,
    kind: OrgKind,
    country: str,
    registration_id: str,
) -> Organisation:
    if session.execute(select(Organisation.id).where(Organisation.name == name)).first():
        raise Conflict(f"an organisation named {name!r} already exists")
    org = Organisation(
        id=new_id("org"),
        name=name,
        kind=kind.value,
        country=country,
        registration_id=registration_id,
        created_at=utcnow(),
    )
    session.add(org)
    session.flush()
    session.add(
        Membership(
            org_id=org.id,
            user_id=principal.user_id,
            role=MembershipRole.OWNER.value,
            created_at=utcnow(),
        )
    )
    audit.append(
        session,
        actor=principal.user_id,
        action="organisation.create",
        object_type="organisation",
        object_id=org.id,
        org_id=org.id,
        data={"name": name, "kind": kind.value, "country": country},
    )
    return org


def get_org(session: Session, principal: Principal, org_id: str) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None or not principal.can_read_org(org_id):
        raise NotFound("organisation", org_id)
    return org


def list_orgs(session: Session, principal: Principal) -> list[Organisation]:
    query = select(Organisation).order_by(Organisation.name)
    if not principal.sees_all_tenants:
        query = query.where(Organisation.id.in_(list(principal.orgs)))
    return list(session.execute(query).scalars())


MAX_RESTRICTION_REASON = 500
_ALPHA2 = re.compile(r"[A-Z]{2}")


def _restriction_problems(
    sites: Sequence[str], countries: Sequence[str], reason: str, catalog: Catalog
) -> list[FieldProblem]:
    """Every problem of a restriction, each naming its field and the allowed values."""
    site_ids = [s.id for s in catalog.sites]
    country_of = {s.id: s.country for s in catalog.sites}
    known_countries = sorted(set(country_of.values()))
    problems: list[FieldProblem] = []
    if not sites and not countries:
        problems.append(
            FieldProblem("sites", "give at least one site or one country (both are empty)")
        )
    for i, site in enumerate(sites):
        if site not in country_of:
            problems.append(FieldProblem(f"sites[{i}]", f"unknown site {site!r}", site_ids))
    for i, country in enumerate(countries):
        if not _ALPHA2.fullmatch(country):
            message = f"{country!r} is not an ISO 3166-1 alpha-2 code in upper case"
            problems.append(FieldProblem(f"countries[{i}]", message, known_countries))
        elif country not in known_countries:
            message = f"no site of the federation is in {country!r}"
            problems.append(FieldProblem(f"countries[{i}]", message, known_countries))
    if not problems and sites and countries:
        # Both limits apply; a site outside every named country could never be used.
        fitting = [s for s in site_ids if country_of[s] in countries]
        for i, site in enumerate(sites):
            if country_of[site] not in countries:
                message = f"site {site!r} is in {country_of[site]}, not in one of the countries"
                problems.append(FieldProblem(f"sites[{i}]", message, fitting))
    if not reason.strip():
        problems.append(FieldProblem("reason", "must not be empty"))
    elif len(reason) > MAX_RESTRICTION_REASON:
        message = f"at most {MAX_RESTRICTION_REASON} characters; got {len(reason)}"
        problems.append(FieldProblem("reason", message))
    elif "\x00" in reason:
        problems.append(FieldProblem("reason", "must not contain NUL characters"))
    return problems


def restrict_org(
    session: Session,
    principal: Principal,
    org_id: str,
    *,
    sites: Sequence[str],
    countries: Sequence[str],
    reason: str,
    catalog: Catalog,
) -> Organisation:
    """Operators limit where an organisation's jobs may run (an export-control or compliance
    hold): only on ``sites`` and/or only on sites in ``countries``; the scheduler refuses every
    other site, saying ``reason``. Replaces a restriction already in force."""
    org = get_org(session, principal, org_id)  # 404 before 403
    if not principal.is_operator:
        raise Forbidden("only operators restrict organisations")
    problems = _restriction_problems(sites, countries, reason, catalog)
    if problems:
        raise Invalid(problems)
    org.allowed_sites = sorted(set(sites)) or None
    org.allowed_countries = sorted(set(countries)) or None
    org.restriction_reason = reason
    org.restricted_at = utcnow()
    audit.append(
        session,
        actor=principal.user_id,
        action="organisation.restrict",
        object_type="organisation",
        object_id=org.id,
        org_id=org.id,
        data={
            "sites": org.allowed_sites or [],
            "countries": org.allowed_countries or [],
            "reason": reason,
        },
    )
    return org


def unrestrict_org(session: Session, principal: Principal, org_id: str) -> Organisation:
    """Operators lift an organisation's restriction; its jobs may run on any site again."""
    org = get_org(session, principal, org_id)  # 404 before 403
    if not principal.is_operator:
        raise Forbidden("only operators restrict organisations or lift a restriction")
    if org.restricted_at is None:
        raise Conflict(f"organisation {org.id} is not restricted")
    lifted = {
        "sites": org.allowed_sites or [],
        "countries": org.allowed_countries or [],
        "reason": org.restriction_reason,
    }
    org.allowed_sites = None
    org.allowed_countries = None
    org.restriction_reason = None
    org.restricted_at = None
    audit.append(
        session,
        actor=principal.user_id,
        action="organisation.unrestrict",
        object_type="organisation",
        object_id=org.id,
        org_id=org.id,
        data=lifted,
    )
    return org


def org_rules(session: Session, org_ids: Collection[str]) -> dict[str, OrgRule]:
    """The operators' restrictions in force on the organisations among ``org_ids``, for the
    scheduler's snapshot; an unrestricted organisation has no entry."""
    if not org_ids:
        return {}
    rows = session.execute(
        select(
            Organisation.id,
            Organisation.allowed_sites,
            Organisation.allowed_countries,
            Organisation.restriction_reason,
        ).where(Organisation.id.in_(list(org_ids)), Organisation.restricted_at.is_not(None))
    ).all()
    return {
        org_id: OrgRule(
            reason=reason or "",
            countries=frozenset(countries) if countries else None,
            sites=frozenset(sites) if sites else None,
        )
        for org_id, sites, countries, reason in rows
    }


def require_owner(session: Session, principal: Principal, org_id: str) -> Organisation:
    """The organisation, if the caller owns it (404 for another tenant's, then 403)."""
    org = get_org(session, principal, org_id)
    if not principal.owns_org(org_id):
        raise Forbidden("only an owner of the organisation may do this")
    return org


def user_by_email(session: Session, email: str) -> User:
    user = session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()
    if user is None:
        raise NotFound("user", email)
    return user


def _owner_count(session: Session, org_id: str) -> int:
    return len(
        session.execute(
            select(Membership.user_id).where(
                Membership.org_id == org_id, Membership.role == MembershipRole.OWNER.value
            )
        ).all()
    )


def add_member(
    session: Session, principal: Principal, org_id: str, *, email: str, role: MembershipRole
) -> Membership:
    require_owner(session, principal, org_id)
    user = user_by_email(session, email)
    membership = session.get(Membership, (org_id, user.id))
    if membership is None:
        membership = Membership(
            org_id=org_id, user_id=user.id, role=role.value, created_at=utcnow()
        )
        session.add(membership)
    else:
        if (
            membership.role == MembershipRole.OWNER.value
            and role is not MembershipRole.OWNER
            and _owner_count(session, org_id) == 1
        ):
            raise Conflict(
                "the last owner of an organisation cannot be demoted; add another owner first"
            )
        membership.role = role.value
    audit.append(
        session,
        actor=principal.user_id,
        action="membership.set",
        object_type="organisation",
        object_id=org_id,
        org_id=org_id,
        data={"user_id": user.id, "role": role.value},
    )
    return membership


def remove_member(session: Session, principal: Principal, org_id: str, user_id: str) -> None:
    require_owner(session, principal, org_id)
    membership = session.get(Membership, (org_id, user_id))
    if membership is None:
        raise NotFound("membership", user_id)
    if membership.role == MembershipRole.OWNER.value and _owner_count(session, org_id) == 1:
        raise Conflict("the last owner of an organisation cannot be removed")
    session.delete(membership)
    project_ids = select(Project.id).where(Project.org_id == org_id)
    for pm in session.execute(
        select(ProjectMember).where(
            ProjectMember.user_id == user_id, ProjectMember.project_id.in_(project_ids)
        )
    ).scalars():
        session.delete(pm)
    audit.append(
        session,
        actor=principal.user_id,
        action="membership.remove",
        object_type="organisation",
        object_id=org_id,
        org_id=org_id,
        data={"user_id": user_id},
    )


def list_members(session: Session, principal: Principal, org_id: str) -> list[tuple[User, str]]:
    get_org(session, principal, org_id)
    rows = session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org_id)
        .order_by(User.email)
    ).all()
    return [(u, r) for u, r in rows]


def create_project(
    session: Session, principal: Principal, *, org_id: str, name: str, description: str
) -> Project:
    get_org(session, principal, org_id)
    if org_id not in principal.orgs and not principal.is_admin:
        raise Forbidden("only members of the organisation may create its projects")
    exists = session.execute(
        select(Project.id).where(Project.org_id == org_id, Project.name == name)
    ).first()
    if exists:
        raise Conflict(f"the organisation already has a project named {name!r}")
    project = Project(
        id=new_id("prj"), org_id=org_id, name=name, description=description, created_at=utcnow()
    )
    session.add(project)
    session.flush()
    session.add(
        ProjectMember(project_id=project.id, user_id=principal.user_id, created_at=utcnow())
    )
    audit.append(
        session,
        actor=principal.user_id,
        action="project.create",
        object_type="project",
        object_id=project.id,
        org_id=org_id,
        data={"name": name},
    )
    return project


def get_project(session: Session, principal: Principal, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None or not principal.can_read_org(project.org_id):
        raise NotFound("project", project_id)
    return project


def suspend_project(
    session: Session, principal: Principal, project_id: str, reason: str | None
) -> Project:
    """Operators stop a project: nothing of it is placed, its Slurm accounts refuse
    submissions (GrpSubmitJobs=0 at the next reconcile); ``reason`` None resumes it."""
    project = get_project(session, principal, project_id)  # 404 before 403
    if not principal.is_operator:
        raise Forbidden("only operators suspend or resume projects")
    if (project.suspended_at is not None) == (reason is not None):
        state = "suspended" if reason is not None else "active"
        raise Conflict(f"project {project.id} is already {state}")
    project.suspended_at = utcnow() if reason is not None else None
    project.suspended_reason = reason
    audit.append(
        session,
        actor=principal.user_id,
        action="project.suspend" if reason is not None else "project.resume",
        object_type="project",
        object_id=project.id,
        org_id=project.org_id,
        data={"reason": reason} if reason is not None else {},
    )
    return project


def list_projects(
    session: Session, principal: Principal, org_id: str | None = None
) -> list[Project]:
    query = select(Project).order_by(Project.created_at, Project.id)
    if not principal.sees_all_tenants:
        query = query.where(Project.org_id.in_(list(principal.orgs)))
    if org_id is not None:
        query = query.where(Project.org_id == org_id)
    return list(session.execute(query).scalars())


def add_project_member(
    session: Session, principal: Principal, project_id: str, *, email: str
) -> ProjectMember:
    project = get_project(session, principal, project_id)
    is_project_member = project_id in principal.projects
    if not (principal.owns_org(project.org_id) or is_project_member):
        raise Forbidden("only an organisation owner or a project member may add members")
    user = user_by_email(session, email)
    if session.get(Membership, (project.org_id, user.id)) is None:
        raise Conflict("the user must first be a member of the project's organisation")
    member = session.get(ProjectMember, (project_id, user.id))
    if member is None:
        member = ProjectMember(project_id=project_id, user_id=user.id, created_at=utcnow())
        session.add(member)
        audit.append(
            session,
            actor=principal.user_id,
            action="project.member.add",
            object_type="project",
            object_id=project_id,
            org_id=project.org_id,
            data={"user_id": user.id},
        )
    return member


def list_project_members(session: Session, principal: Principal, project_id: str) -> list[User]:
    get_project(session, principal, project_id)
    return list(
        session.execute(
            select(User)
            .join(ProjectMember, ProjectMember.user_id == User.id)
            .where(ProjectMember.project_id == project_id)
            .order_by(User.email)
        ).scalars()
    )


def may_submit(principal: Principal, project: Project) -> bool:
    return project.id in principal.projects or principal.owns_org(project.org_id)
