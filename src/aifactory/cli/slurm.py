"""``aif slurm``: operator commands for Slurm sites."""

from __future__ import annotations

from typing import Annotated

import typer

from aifactory.cli import output as o
from aifactory.cli.config import get_state

slurm_app = typer.Typer(help="Slurm sites: accounts and limits.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(slurm_app, name="slurm")


@slurm_app.command("reconcile")
def reconcile(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option("--site", help="One site (default: all).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the sacctmgr commands; run nothing.")
    ] = False,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Bring Slurm accounts and limits in line with the platform's allocations: prints the
    exact sacctmgr commands it runs (or, with --dry-run, would run). Nothing printed: no
    drift."""
    results = get_state(ctx).client().reconcile_slurm(site, dry_run=dry_run)
    if output is o.Format.JSON:
        o.print_json(results)
        return
    failed = False
    for r in results:
        for line in r["commands"]:
            o.out(line)
        if r["error"]:
            failed = True
            o.warn(f"{r['site']}: {r['error']}")
    if failed:
        raise typer.Exit(1)
