"""Allocations: ``allocations``, ``allocation show|report``; operators ``allocation
grant|adjust|waive``. Figures are GPU-hours."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from aifactory.cli import output as o
from aifactory.cli.config import get_state
from aifactory.cli.files import read_mapping
from aifactory.cli.tenancy import org_id, project_id

allocation_app = typer.Typer(
    help="One allocation: show, report; operators grant, adjust, waive.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command("allocations")(list_allocations)
    app.add_typer(allocation_app, name="allocation")


AllocationArg = Annotated[str, typer.Argument(metavar="ID", help="Allocation id.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why; recorded and audited.")]


def hours(value: float | None) -> str:
    """``1234.5`` -> ``1,234.5``; at most two decimals."""
    if value is None:
        return "-"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _report_due(a: dict[str, Any]) -> str:
    due = str(a["report_due_on"])
    if a["report_filed_at"]:
        return f"{due} (filed)"
    if a["report_waived_at"]:
        return f"{due} (waived)"
    return f"{due} (overdue)" if a["report_overdue"] else due


def list_allocations(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option("--project", help="Project id or name.", show_default=False)
    ] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="Organisation id or name.", show_default=False)
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Allocations you can see: GPU-hours granted, left, held by running jobs, used."""
    client = get_state(ctx).client()
    items = client.list_allocations(
        project_id=project_id(client, project) if project else None,
        org_id=org_id(client, org) if org else None,
    )
    if output is o.Format.JSON:
        o.print_json(items)
        return
    o.table(
        [
            "ID",
            "REFERENCE",
            "PARTITION",
            "STATE",
            "GRANTED",
            "BALANCE",
            "RESERVED",
            "USED",
            "ENDS",
            "REPORT DUE",
        ],
        (
            [
                a["id"],
                a["reference"],
                f"{a['site']}/{a['partition']}",
                a["state"],
                hours(a["granted_gpu_hours"]),
                hours(a["balance_gpu_hours"]),
                hours(a["reserved_gpu_hours"]),
                hours(a["used_gpu_hours"]),
                o.when(a["ends_at"]),
                _report_due(a),
            ]
            for a in items
        ),
    )
    o.out("GPU-hours; the balance is what is left once reservations are held back.")


@allocation_app.command("show")
def show_allocation(
    ctx: typer.Context, allocation: AllocationArg, output: o.OutputOpt = o.Format.TABLE
) -> None:
    """An allocation with its ledger: every grant, reservation, settlement, adjustment and
    expiry; the balance is their sum."""
    a = get_state(ctx).client().get_allocation(allocation)
    if output is o.Format.JSON:
        o.print_json(a)
        return
    _allocation_table(a)
    o.out()
    o.table(
        ["AT", "KIND", "GPU-HOURS", "JOB", "USED", "WORK", "ACTOR", "REASON"],
        (
            [
                o.when(e["at"]),
                e["kind"],
                hours(e["gpu_hours"]),
                e["job_id"],
                None if e["used_gpu_seconds"] is None else hours(e["used_gpu_seconds"] / 3600),
                e["work"],
                e["actor"],
                e["reason"] or "-",
            ]
            for e in a["ledger"]
        ),
        title="Ledger",
    )


def _allocation_table(a: dict[str, Any]) -> None:
    share = a["inference_share_max"]
    inference = hours(a["inference_gpu_hours"])
    if share is not None:
        inference += f" (at most {share:.0%} of the grant" + (
            "; exceeded)" if a["inference_share_exceeded"] else ")"
        )
    o.table(
        ["FIELD", "VALUE"],
        [
            ["id", a["id"]],
            ["reference", a["reference"] or "(granted outside a call)"],
            ["proposal", a["proposal_id"]],
            ["mode", a["mode"]],
            ["organisation", a["org_id"]],
            ["project", a["project_id"]],
            ["site/partition", f"{a['site']}/{a['partition']}"],
            ["state", a["state"]],
            ["granted GPU-hours", hours(a["granted_gpu_hours"])],
            ["balance GPU-hours", hours(a["balance_gpu_hours"])],
            ["reserved GPU-hours", hours(a["reserved_gpu_hours"])],
            ["used GPU-hours", hours(a["used_gpu_hours"])],
            ["inference GPU-hours", inference],
            ["starts", o.when(a["starts_at"])],
            ["ends", o.when(a["ends_at"])],
            ["report due", _report_due(a)],
        ],
        title=f"Allocation {a['id']}",
    )


def _done(a: dict[str, Any], what: str, output: o.Format) -> None:
    if output is o.Format.JSON:
        o.print_json(a)
        return
    o.out(
        f"{what}: allocation {a['id']} on {a['site']}/{a['partition']}, "
        f"{hours(a['balance_gpu_hours'])} of {hours(a['granted_gpu_hours'])} GPU-hours left, "
        f"report due {_report_due(a)}"
    )


@allocation_app.command("report")
def file_report(
    ctx: typer.Context,
    allocation: AllocationArg,
    file: Annotated[
        str, typer.Argument(help="YAML or JSON: summary, publications; '-' reads stdin.")
    ],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """File the final report of an allocation (due 3 months after it ends)."""
    report = read_mapping(file, "a report must be a mapping (summary, publications)")
    a = get_state(ctx).client().file_report(allocation, report)
    _done(a, "Report filed", output)


# -- operators ----------------------------------------------------------------------------------
@allocation_app.command("grant")
def grant_allocation(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", help="Project id or name.")],
    partition: Annotated[str, typer.Option("--partition", help="SITE/PARTITION, e.g. lumi/gpu.")],
    gpu_hours: Annotated[int, typer.Option("--gpu-hours", min=1)],
    ends: Annotated[
        datetime, typer.Option("--ends", formats=["%Y-%m-%d"], help="YYYY-MM-DD (UTC).")
    ],
    reason: ReasonOpt,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Operators: grant GPU-hours outside a call (pay-per-use, preparatory access), from now
    until --ends."""
    client = get_state(ctx).client()
    a = client.grant_allocation(
        {
            "project_id": project_id(client, project),
            "partition": partition,
            "gpu_hours": gpu_hours,
            "ends_at": ends.strftime("%Y-%m-%dT00:00:00Z"),
            "reason": reason,
        }
    )
    _done(a, "Granted", output)


@allocation_app.command("adjust")
def adjust_allocation(
    ctx: typer.Context,
    allocation: AllocationArg,
    gpu_hours: Annotated[
        int, typer.Option("--gpu-hours", help="Positive adds, negative removes (e.g. -500).")
    ],
    reason: ReasonOpt,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Operators: add or remove GPU-hours; never below zero."""
    a = get_state(ctx).client().adjust_allocation(allocation, gpu_hours, reason)
    _done(a, "Adjusted", output)


@allocation_app.command("waive")
def waive_report(
    ctx: typer.Context,
    allocation: AllocationArg,
    reason: ReasonOpt,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Operators: waive an allocation's final report."""
    a = get_state(ctx).client().waive_report(allocation, reason)
    _done(a, "Report waived", output)
