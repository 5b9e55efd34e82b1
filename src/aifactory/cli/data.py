"""Datasets: ``aif data create|list|show|push|pull|policy|stage|grant|revoke|transfers``, and
for admins ``aif data rotate-keys``; ``aif data new-master-key`` prints a key line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from aifactory.cli import output as o
from aifactory.cli.config import get_state
from aifactory.cli.tenancy import project_id
from aifactory.domain.data import parse_ref
from aifactory.sdk import Client
from aifactory.storage.crypto import new_key_line

data_app = typer.Typer(
    help="Datasets under residency rules: create, push, pull, stage, grant.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


DatasetArg = Annotated[str, typer.Argument(metavar="DATASET", help="Dataset id or name.")]
ProjectOpt = Annotated[
    str | None, typer.Option("--project", help="Project id or name.", show_default=False)
]
CountriesOpt = Annotated[
    str | None,
    typer.Option(
        "--countries", help="Only in these countries: FI,SE or EU/EEA.", show_default=False
    ),
]
SitesOpt = Annotated[
    str | None, typer.Option("--sites", help="Only at these sites: lumi,mimer.", show_default=False)
]
HomeOnlyOpt = Annotated[bool, typer.Option("--home-only", help="Only at its home site.")]
AnywhereOpt = Annotated[bool, typer.Option("--anywhere", help="No residency limit.")]


def _policy(
    countries: str | None, sites: str | None, home_only: bool, anywhere: bool
) -> dict[str, Any] | None:
    given = [x for x in (countries, sites, home_only or None, anywhere or None) if x]
    if len(given) > 1:
        o.fail("give one of --countries, --sites, --home-only, --anywhere")
    if countries:
        return {
            "kind": "countries",
            "countries": [c.strip() for c in countries.split(",") if c.strip()],
        }
    if sites:
        return {"kind": "sites", "sites": [s.strip() for s in sites.split(",") if s.strip()]}
    if home_only:
        return {"kind": "home"}
    if anywhere:
        return {"kind": "anywhere"}
    return None


def _dataset(client: Client, ref: str, project: str | None) -> dict[str, Any]:
    return client.data.find(ref, project_id(client, project) if project else None)


def _progress(label: str) -> Progress:
    return Progress(
        label,
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=o.err_console(),
        transient=False,
    )


@data_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Lower-case name, unique in its project.")],
    project: Annotated[str, typer.Option("--project", help="Project id or name.")],
    classification: Annotated[
        str,
        typer.Option(
            "--classification",
            help="public, internal, confidential, personal or special-category.",
        ),
    ],
    licence: Annotated[str, typer.Option("--licence", help="e.g. CC-BY-4.0, proprietary.")],
    countries: CountriesOpt = None,
    sites: SitesOpt = None,
    home_only: HomeOnlyOpt = False,
    anywhere: AnywhereOpt = False,
    home_site: Annotated[
        str | None, typer.Option("--home-site", help="Where uploads go.", show_default=False)
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            "--origin",
            help="Country of collection (default: the organisation's).",
            show_default=False,
        ),
    ] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Where it comes from (repeatable).")
    ] = None,
    collection_method: Annotated[str, typer.Option("--collection-method")] = "",
    tdm_opt_outs: Annotated[
        bool | None,
        typer.Option(
            "--tdm-opt-outs-respected/--tdm-opt-outs-ignored",
            help="Whether text-and-data-mining opt-outs were respected.",
            show_default=False,
        ),
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Create a dataset. Without a policy option: personal data stays in the EU/EEA, special
    categories in their country of origin, other data may go anywhere."""
    client = get_state(ctx).client()
    body: dict[str, Any] = {
        "project_id": project_id(client, project),
        "name": name,
        "classification": classification,
        "licence": licence,
        "description": description,
        "provenance": {
            "sources": source or [],
            "collection_method": collection_method,
            "tdm_opt_outs_respected": tdm_opt_outs,
        },
        "origin_country": origin,
        "policy": _policy(countries, sites, home_only, anywhere),
        "home_site": home_site,
    }
    ds = client.data.create(body)
    if output is o.Format.JSON:
        o.print_json(ds)
        return
    o.out(
        f"Dataset {ds['name']} ({ds['id']}): {ds['classification']}, may be stored and "
        f"processed {_where(ds)}; uploads go to {ds['home_site']}."
    )


def _where(ds: dict[str, Any]) -> str:
    text = str(ds["policy_text"])
    if text == "anywhere":
        return "anywhere"
    if text.startswith(("sites ", "its home")):
        return f"only at {text}"
    return f"only in {text}"


@data_app.command("list")
def list_datasets(
    ctx: typer.Context, project: ProjectOpt = None, output: o.OutputOpt = o.Format.TABLE
) -> None:
    """Datasets you can see: your projects' and those granted to them."""
    client = get_state(ctx).client()
    items = client.data.list_datasets(project_id(client, project) if project else None)
    if output is o.Format.JSON:
        o.print_json(items)
        return
    o.table(
        ["ID", "NAME", "PROJECT", "CLASSIFICATION", "RESIDENCY", "HOME"],
        (
            [
                d["id"],
                d["name"],
                d["project_id"],
                d["classification"],
                d["policy_text"],
                d["home_site"],
            ]
            for d in items
        ),
    )


@data_app.command("show")
def show(
    ctx: typer.Context,
    dataset: DatasetArg,
    project: ProjectOpt = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """A dataset: its policy, versions with their replicas, and grants."""
    client = get_state(ctx).client()
    ds = client.data.get(_dataset(client, dataset, project)["id"])
    if output is o.Format.JSON:
        o.print_json(ds)
        return
    o.out(
        f"{ds['name']} ({ds['id']}), project {ds['project_id']}: {ds['classification']}, "
        f"licence {ds['licence']}, from {ds['origin_country']}"
    )
    o.out(f"Residency: {_where(ds)}; home site {ds['home_site']}")
    o.out()
    o.table(
        ["VERSION", "SIZE", "SHA-256", "FILES", "REPLICAS", "CREATED"],
        (
            [
                f"@{v['number']}",
                v["size"],
                v["sha256"][:16] + "…",
                len(v["files"]),
                ", ".join(f"{r['site']} ({r['country']})" for r in v["replicas"]),
                o.when(v["created_at"]),
            ]
            for v in ds["versions"]
        ),
    )
    if ds["grants"]:
        o.out()
        o.table(
            ["GRANT", "PROJECT", "EXPIRES", "REVOKED"],
            (
                [g["id"], g["project_id"], o.when(g["expires_at"]), o.when(g["revoked_at"])]
                for g in ds["grants"]
            ),
        )


_SLUG = re.compile(r"[^a-z0-9._-]+")


@data_app.command("push")
def push(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file, or a folder (pushed as a tar).")],
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            "-d",
            help="Dataset id or name (default: the path's name).",
            show_default=False,
        ),
    ] = None,
    project: ProjectOpt = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Upload PATH as the dataset's next version, in encrypted chunks; run it again after an
    interruption and only the missing chunks are sent."""
    if not path.exists():
        o.fail(f"{path}: no such file or folder")
    client = get_state(ctx).client()
    ref = dataset or _SLUG.sub("-", path.stem.lower()).strip("-")
    ds = _dataset(client, ref, project)
    with _progress(f"push {ds['name']}") as bar:
        task = bar.add_task("push", total=None)
        v = client.data.push(
            ds["id"],
            path,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if output is o.Format.JSON:
        o.print_json(v)
        return
    o.out(
        f"{ds['name']}@{v['number']}: {v['size']} bytes, SHA-256 {v['sha256']}, at "
        + ", ".join(r["site"] for r in v["replicas"])
    )


@data_app.command("pull")
def pull(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="DATASET[@VERSION]", help="Default: the latest.")],
    dest: Annotated[
        Path | None, typer.Argument(help="Where to (default: the dataset's name).")
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Download a version, checking its SHA-256; an interrupted pull resumes."""
    client = get_state(ctx).client()
    name, _, number = ref.partition("@")
    ds = client.data.get(_dataset(client, name, project)["id"])
    if not ds["versions"]:
        o.fail(f"dataset {ds['name']} has no version yet")
    version = int(number) if number.isdigit() else ds["versions"][-1]["number"]
    target = dest or Path(ds["name"])
    with _progress(f"pull {ds['name']}@{version}") as bar:
        task = bar.add_task("pull", total=None)
        client.data.pull(
            ds["id"],
            version,
            target,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    o.out(f"{ds['name']}@{version} -> {target} (SHA-256 checked)")


@data_app.command("policy")
def set_policy(
    ctx: typer.Context,
    dataset: DatasetArg,
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded and audited.")],
    countries: CountriesOpt = None,
    sites: SitesOpt = None,
    home_only: HomeOnlyOpt = False,
    anywhere: AnywhereOpt = False,
    project: ProjectOpt = None,
) -> None:
    """Change where a dataset may go; a wider policy needs an owner of the organisation."""
    policy = _policy(countries, sites, home_only, anywhere)
    if policy is None:
        o.fail("give one of --countries, --sites, --home-only, --anywhere")
    client = get_state(ctx).client()
    ds = client.data.set_policy(_dataset(client, dataset, project)["id"], policy, reason)
    o.out(f"{ds['name']} may now be stored and processed {_where(ds)}.")


@data_app.command("stage")
def stage(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    site: Annotated[str, typer.Option("--site", help="Where the replica goes.")],
    legal_basis: Annotated[str, typer.Option("--legal-basis", help="Why; in the transfer log.")],
    project: ProjectOpt = None,
) -> None:
    """Copy a version to another site, if its residency policy admits the site."""
    parsed = parse_ref(ref)
    client = get_state(ctx).client()
    ds = client.data.get(_dataset(client, parsed.name, project)["id"])
    version = parsed.version or (ds["versions"][-1]["number"] if ds["versions"] else 1)
    v = client.data.stage(ds["id"], version, site, legal_basis)
    o.out(f"{ds['name']}@{v['number']} is now at " + ", ".join(r["site"] for r in v["replicas"]))


@data_app.command("grant")
def grant(
    ctx: typer.Context,
    dataset: DatasetArg,
    to_project: Annotated[
        str, typer.Option("--to-project", help="The project id that may read it.")
    ],
    expires: Annotated[
        str | None, typer.Option("--expires", help="ISO date-time.", show_default=False)
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Let another project read the dataset (and run jobs on it), until it expires."""
    client = get_state(ctx).client()
    g = client.data.grant(_dataset(client, dataset, project)["id"], to_project, expires)
    o.out(
        f"Grant {g['id']}: project {g['project_id']} may read it"
        + (f" until {o.when(g['expires_at'])}." if g["expires_at"] else ".")
    )


@data_app.command("revoke")
def revoke(
    ctx: typer.Context,
    dataset: DatasetArg,
    grant_id: Annotated[str, typer.Argument(metavar="GRANT")],
    project: ProjectOpt = None,
) -> None:
    """End a grant; the grantee's jobs on it that have not started are cancelled."""
    client = get_state(ctx).client()
    g = client.data.revoke(_dataset(client, dataset, project)["id"], grant_id)
    o.out(f"Grant {g['id']} revoked.")


@data_app.command("transfers")
def transfers(
    ctx: typer.Context,
    dataset: DatasetArg,
    project: ProjectOpt = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """The transfer log: every copy of the dataset's bytes, who, when, from, to and why."""
    client = get_state(ctx).client()
    rows = client.data.transfers(_dataset(client, dataset, project)["id"])
    if output is o.Format.JSON:
        o.print_json(rows)
        return

    def place(site: str | None, country: str | None) -> str:
        return f"{site} ({country})" if site else "client"

    o.table(
        ["AT", "KIND", "VERSION", "FROM", "TO", "BYTES", "ACTOR", "JOB", "LEGAL BASIS"],
        (
            [
                o.when(t["at"]),
                t["kind"],
                f"@{t['version']}",
                place(t["from_site"], t["from_country"]),
                place(t["to_site"], t["to_country"]),
                t["bytes"],
                t["actor"],
                t["job_id"],
                t["legal_basis"],
            ]
            for t in rows
        ),
    )


@data_app.command("rotate-keys")
def rotate_keys(ctx: typer.Context) -> None:
    """Admins: after adding a new master key as the first line of the key file (or
    AIF_MASTER_KEYS) and restarting, re-wrap every data key with it."""
    r = get_state(ctx).client().data.rotate_keys()
    o.out(f"{r['rewrapped']} data keys re-wrapped with master key {r['current']}.")


@data_app.command("new-master-key")
def new_master_key(
    key_id: Annotated[str, typer.Argument(help="The new key's id, e.g. k2.")],
) -> None:
    """Print a new master key line (id:base64) for the key file; nothing is sent anywhere."""
    o.out(new_key_line(key_id))
