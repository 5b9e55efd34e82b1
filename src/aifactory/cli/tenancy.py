"""Organisations and projects: ``org ...``, ``orgs``, ``project ...``, ``projects``.

ORG and PROJECT arguments take an id or a name; a name is looked up among those you can see.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aifactory.cli import output as o
from aifactory.cli.config import get_state
from aifactory.domain.identity import MembershipRole, OrgKind
from aifactory.sdk import Client

org_app = typer.Typer(help="Organisations: create, members, restrictions.", no_args_is_help=True)
project_app = typer.Typer(help="Projects: create, members.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(org_app, name="org")
    app.add_typer(project_app, name="project")
    app.command("orgs")(list_orgs)
    app.command("projects")(list_projects)


def _pick(kind: str, ref: str, items: list[dict[str, Any]], prefix: str) -> str:
    if ref.startswith(prefix):
        return ref
    matches = [i for i in items if i["name"] == ref]
    if len(matches) == 1:
        return str(matches[0]["id"])
    if not matches:
        o.fail(f"no {kind} named {ref!r} that you can see")
    ids = ", ".join(m["id"] for m in matches)
    o.fail(f"{len(matches)} {kind}s are named {ref!r}; give one id: {ids}")


def org_id(client: Client, ref: str) -> str:
    """The id of the organisation ``ref`` (an id, or a name you can see)."""
    if ref.startswith("org-"):
        return ref
    return _pick("organisation", ref, client.list_orgs(), "org-")


def project_id(client: Client, ref: str) -> str:
    if ref.startswith("prj-"):
        return ref
    return _pick("project", ref, client.list_projects(), "prj-")


OrgArg = Annotated[str, typer.Argument(metavar="ORG", help="Organisation id or name.")]
ProjectArg = Annotated[str, typer.Argument(metavar="PROJECT", help="Project id or name.")]


# -- organisations ------------------------------------------------------------------------
@org_app.command("create")
def create_org(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    kind: Annotated[OrgKind, typer.Option("--kind", help="What kind of organisation.")],
    country: Annotated[str, typer.Option("--country", help="ISO 3166-1 alpha-2, e.g. DE.")],
    registration_id: Annotated[
        str, typer.Option("--registration-id", help="Company or institution register id.")
    ],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Register an organisation; you become its owner."""
    org = get_state(ctx).client().create_org(name, kind.value, country, registration_id)
    if output is o.Format.JSON:
        o.print_json(org)
        return
    o.out(f"Created organisation {org['name']} ({org['id']})")


def list_orgs(ctx: typer.Context, output: o.OutputOpt = o.Format.TABLE) -> None:
    """Organisations you can see."""
    orgs = get_state(ctx).client().list_orgs()
    if output is o.Format.JSON:
        o.print_json(orgs)
        return
    o.table(
        ["ID", "NAME", "KIND", "COUNTRY", "REGISTRATION", "CREATED", "RESTRICTED TO"],
        (
            [
                g["id"],
                g["name"],
                g["kind"],
                g["country"],
                g["registration_id"],
                o.when(g["created_at"]),
                _where(g.get("restriction")),
            ]
            for g in orgs
        ),
    )


def _where(restriction: dict[str, Any] | None) -> str:
    """Where a restricted organisation's jobs may run, e.g. 'sites lumi; countries FI'."""
    if not restriction:
        return "-"
    parts = [
        f"{key} {', '.join(restriction[key])}" for key in ("sites", "countries") if restriction[key]
    ]
    return "; ".join(parts)


@org_app.command("show")
def show_org(ctx: typer.Context, org: OrgArg, output: o.OutputOpt = o.Format.TABLE) -> None:
    """An organisation, with an operator's restriction on where its jobs may run."""
    client = get_state(ctx).client()
    g = client.get_org(org_id(client, org))
    if output is o.Format.JSON:
        o.print_json(g)
        return
    r = g.get("restriction")
    rows: list[list[Any]] = [
        ["id", g["id"]],
        ["name", g["name"]],
        ["kind", g["kind"]],
        ["country", g["country"]],
        ["registration", g["registration_id"]],
        ["created", o.when(g["created_at"])],
        ["restricted to", _where(r)],
    ]
    if r:
        rows += [["restriction reason", r["reason"]], ["restricted", o.when(r["restricted_at"])]]
    o.table(["FIELD", "VALUE"], rows, title=f"Organisation {g['name']}")


@org_app.command("restrict")
def restrict_org(
    ctx: typer.Context,
    org: OrgArg,
    reason: Annotated[str, typer.Option("--reason", help="Why; the scheduler and users read it.")],
    site: Annotated[
        list[str] | None, typer.Option("--site", help="A site its jobs may run on (repeat).")
    ] = None,
    country: Annotated[
        list[str] | None,
        typer.Option("--country", help="ISO alpha-2 of a country its jobs may run in (repeat)."),
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Operators: the organisation's jobs run only on these sites and/or in these countries
    (an export-control or compliance hold); replaces a restriction in force."""
    client = get_state(ctx).client()
    g = client.restrict_org(org_id(client, org), reason, sites=site or [], countries=country or [])
    if output is o.Format.JSON:
        o.print_json(g)
        return
    o.out(f"Restricted organisation {g['name']} ({g['id']}) to {_where(g['restriction'])}")


@org_app.command("unrestrict")
def unrestrict_org(ctx: typer.Context, org: OrgArg, output: o.OutputOpt = o.Format.TABLE) -> None:
    """Operators: lift the restriction; the organisation's jobs may run on any site again."""
    client = get_state(ctx).client()
    g = client.unrestrict_org(org_id(client, org))
    if output is o.Format.JSON:
        o.print_json(g)
        return
    o.out(f"Lifted the restriction on organisation {g['name']} ({g['id']})")


@org_app.command("members")
def org_members(ctx: typer.Context, org: OrgArg, output: o.OutputOpt = o.Format.TABLE) -> None:
    """Members of an organisation and their roles."""
    client = get_state(ctx).client()
    members = client.list_org_members(org_id(client, org))
    if output is o.Format.JSON:
        o.print_json(members)
        return
    o.table(
        ["USER", "EMAIL", "NAME", "ROLE"],
        ([m["user_id"], m["email"], m["name"], m["role"]] for m in members),
    )


@org_app.command("add-member")
def org_add_member(
    ctx: typer.Context,
    org: OrgArg,
    email: Annotated[str, typer.Argument(help="E-mail of an existing user.")],
    role: Annotated[MembershipRole, typer.Option("--role")] = MembershipRole.MEMBER,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Add a user to an organisation (or change their role)."""
    client = get_state(ctx).client()
    member = client.add_org_member(org_id(client, org), email, role.value)
    if output is o.Format.JSON:
        o.print_json(member)
        return
    o.out(f"{member['email']} is now {member['role']} of {org}")


# -- projects -------------------------------------------------------------------------------
@project_app.command("create")
def create_project(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    org: Annotated[str, typer.Option("--org", help="Organisation id or name.")],
    description: Annotated[str, typer.Option("--description")] = "",
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Create a project in an organisation."""
    client = get_state(ctx).client()
    project = client.create_project(org_id(client, org), name, description)
    if output is o.Format.JSON:
        o.print_json(project)
        return
    o.out(f"Created project {project['name']} ({project['id']})")


def list_projects(
    ctx: typer.Context,
    org: Annotated[str | None, typer.Option("--org", help="Organisation id or name.")] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Projects you can see."""
    client = get_state(ctx).client()
    projects = client.list_projects(org_id(client, org) if org else None)
    if output is o.Format.JSON:
        o.print_json(projects)
        return
    o.table(
        ["ID", "NAME", "ORGANISATION", "DESCRIPTION", "CREATED"],
        (
            [p["id"], p["name"], p["org_id"], p["description"] or "-", o.when(p["created_at"])]
            for p in projects
        ),
    )


@project_app.command("suspend")
def suspend_project(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(metavar="PROJECT", help="Project id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; the project's users read it.")],
) -> None:
    """Operators: stop placing the project's jobs and refuse new ones (its Slurm accounts
    get GrpSubmitJobs=0 at the next reconcile)."""
    get_state(ctx).client().suspend_project(project, reason)
    o.out(f"Suspended project {project}")


@project_app.command("resume")
def resume_project(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(metavar="PROJECT", help="Project id.")],
) -> None:
    """Operators: lift a suspension."""
    get_state(ctx).client().resume_project(project)
    o.out(f"Resumed project {project}")


@project_app.command("add-member")
def project_add_member(
    ctx: typer.Context,
    project: ProjectArg,
    email: Annotated[str, typer.Argument(help="E-mail of an existing user.")],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Add a user to a project (they may then submit jobs to it)."""
    client = get_state(ctx).client()
    member = client.add_project_member(project_id(client, project), email)
    if output is o.Format.JSON:
        o.print_json(member)
        return
    o.out(f"{member['email']} is now a member of {project}")
