"""Operators: ``admin init`` (local, on the database), ``audit ...`` and ``sites`` (API)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aifactory.cli import output as o
from aifactory.cli.config import get_state
from aifactory.db.engine import Database
from aifactory.services import bootstrap
from aifactory.settings import load_settings

admin_app = typer.Typer(
    help="Set up this installation (runs on the server's machine).", no_args_is_help=True
)
audit_app = typer.Typer(
    help="The audit trail (admins and compliance officers).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app, name="admin")
    app.add_typer(audit_app, name="audit")
    app.command("sites")(sites)


def report_admin(result: bootstrap.AdminInit) -> None:
    if result.created:
        o.out(f"Admin token written to {result.token_file}")
    else:
        o.out("An admin exists already; no token written.")


@admin_app.command("init")
def admin_init(
    email: Annotated[str, typer.Option("--email", help="The first admin's e-mail.")] = (
        "admin@localhost"
    ),
) -> None:
    """Migrate the database and create the first admin, writing its token to a file readable
    by you only. Settings come from AIF_* variables (AIF_DATA_DIR, AIF_DATABASE_URL, ...)."""
    settings = load_settings()
    bootstrap.prepare(settings)
    db = Database(settings.effective_database_url, pool_size=1)
    try:
        report_admin(bootstrap.init_admin(db, settings, email=email))
    finally:
        db.dispose()


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, output: o.OutputOpt = o.Format.TABLE) -> None:
    """Recompute the hash chain; exit code 1 names the first broken link."""
    report = get_state(ctx).client().audit_verify()
    if output is o.Format.JSON:
        o.print_json(report)
    elif report["ok"]:
        o.out(f"Audit chain ok: {report['checked']} events checked.")
    else:
        o.out(
            f"Audit chain broken at seq {report['broken_seq']}: {report['problem']} "
            f"({report['checked']} events checked)"
        )
    if not report["ok"]:
        raise typer.Exit(1)


@audit_app.command("events")
def audit_events(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Audit events, newest first."""
    page = get_state(ctx).client().audit_events(limit=limit, offset=offset)
    if output is o.Format.JSON:
        o.print_json(page)
        return
    o.table(
        ["SEQ", "AT", "ACTOR", "ACTION", "OBJECT", "ORGANISATION"],
        (
            [
                e["seq"],
                o.when(e["at"]),
                e["actor"],
                e["action"],
                f"{e['object_type']} {e['object_id']}",
                e["org_id"],
            ]
            for e in page["items"]
        ),
    )
    o.out(f"{len(page['items'])} of {page['total']} events (offset {page['offset']})")


def sites(
    ctx: typer.Context,
    partitions: Annotated[
        bool,
        typer.Option(
            "--partitions", help="Each partition's limits: nodes per job, time, shared nodes."
        ),
    ] = False,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """The federation: every site and partition; simulated ones are labelled, a Slurm site
    that does not answer shows as degraded with the error."""
    found = get_state(ctx).client().list_sites()
    if output is o.Format.JSON:
        o.print_json(found)
        return
    if partitions:
        _partition_table(found)
        return
    rows = []
    for s in found:
        status = s["status"] + (f" (from {s['available_from']})" if s["available_from"] else "")
        health = s.get("health")
        if health and health["state"] != "ok":
            status += f", {health['state']}: {health['error'][:60]}"
        for p in s["partitions"] or [{}]:
            rows.append(
                [
                    s["id"],
                    s["country"],
                    status,
                    p.get("id", "-"),
                    p.get("accelerator", "-"),
                    f"{p['nodes']}x{p['accelerators_per_node']}" if p else "-",
                    o.executor_label(p.get("executor"), bool(p.get("simulated"))),
                ]
            )
    o.table(
        ["SITE", "COUNTRY", "STATUS", "PARTITION", "ACCELERATOR", "NODES x PER NODE", "EXECUTOR"],
        rows,
    )


def _partition_table(found: list[dict[str, Any]]) -> None:
    rows = []
    for s in found:
        for p in s["partitions"]:
            slurm = p["slurm_partition"] + (f" --qos={p['qos']}" if p.get("qos") else "")
            nodes = f"{p['min_nodes_per_job']}-{p['max_nodes_per_job']}"
            rows.append(
                [
                    f"{s['id']}/{p['id']}",
                    p["name"],
                    slurm,
                    f"{p['nodes']} x {p['accelerators_per_node']} {p['accelerator']}",
                    f"{p['cpus_per_node']} / {p['memory_gb_per_node']} GB",
                    nodes,
                    o.seconds(p["max_walltime_s"]),
                    o.seconds(p["default_walltime_s"]),
                    "shared" if p["shared"] else "whole nodes",
                    "" if p["draws_on"] == p["id"] else p["draws_on"],
                ]
            )
    o.table(
        [
            "PARTITION",
            "NAME",
            "SLURM",
            "NODES x ACCELERATORS",
            "CPUS / MEMORY PER NODE",
            "NODES PER JOB",
            "MAX TIME",
            "DEFAULT TIME",
            "NODES",
            "HOURS FROM",
        ],
        rows,
        title="Partitions",
    )
