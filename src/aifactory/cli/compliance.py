"""Compliance: ``usecase questions|assess|show|review`` (the AI Act's use-case register)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aifactory.cli import output as o
from aifactory.cli.config import get_state
from aifactory.cli.files import read_mapping
from aifactory.cli.tenancy import ProjectArg, project_id

usecase_app = typer.Typer(
    help="A project's use case under the AI Act: its risk class and why.", no_args_is_help=True
)


compliance_app = typer.Typer(
    help="Compliance cases: thresholds crossed by a model's training compute.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(usecase_app, name="usecase")
    app.add_typer(compliance_app, name="compliance")


@compliance_app.command("cases")
def list_cases(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="open or closed (default: both).")
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Thresholds a model version crossed or is forecast to, soonest due first."""
    items = get_state(ctx).client().compliance.cases(state)
    if output is o.Format.JSON:
        o.print_json(items)
        return
    o.table(
        ["ID", "VERSION", "THRESHOLD", "BASIS", "FLOP", "DUE", "STATE"],
        (
            [
                c["id"],
                c["model_version_id"],
                c["threshold"],
                c["basis"],
                f"{c['flop']:.3g}",
                c["due_on"],
                c["state"] + (f" ({c['close_reason']})" if c["close_reason"] else ""),
            ]
            for c in items
        ),
    )


@compliance_app.command("close")
def close_case(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(metavar="CASE", help="Case id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded and audited.")],
) -> None:
    """Compliance officers: close a case with a reason."""
    c = get_state(ctx).client().compliance.close_case(case, reason)
    o.out(f"Case {c['id']} closed.")


@usecase_app.command("questions")
def questions(ctx: typer.Context, output: o.OutputOpt = o.Format.TABLE) -> None:
    """The register's questions (Art. 5, Annex III, Art. 50): their ids are what ``assess
    --yes`` takes."""
    items = get_state(ctx).client().compliance.questions()
    if output is o.Format.JSON:
        o.print_json(items)
        return
    o.table(
        ["ID", "ARTICLE", "A YES GIVES", "QUESTION"],
        ([q["id"], q["article"], q["gives"], q["text"]] for q in items),
    )


def _show(uc: dict[str, Any]) -> None:
    klass = uc["risk_class"]
    if uc["review"] == "overridden":
        klass += f" (set by a compliance officer; derived: {uc['derived_class']})"
    elif uc["review"] == "confirmed":
        klass += " (confirmed by a compliance officer)"
    rows = [
        ["project", uc["project_id"]],
        ["intended purpose", uc["intended_purpose"]],
        ["sector", uc["sector"]],
        ["class", klass],
    ]
    if uc["practices"]:
        rows.append(["prohibited practices", "; ".join(uc["practices"])])
    if uc["areas"]:
        rows.append(["high-risk areas (Annex III)", "; ".join(uc["areas"])])
    if uc["obligations"]:
        rows.append(["transparency obligations (Art. 50)", "; ".join(uc["obligations"])])
    if uc["review_reason"]:
        rows.append(["review's reason", uc["review_reason"]])
    rows.append(["compute", "refused: a prohibited practice" if uc["blocks_compute"] else "yes"])
    o.table(["FIELD", "VALUE"], rows)
    o.out()
    o.table(["RATIONALE"], ([f["says"]] for f in uc["rationale"] if f["answer"]))
    o.out("Every other question was answered no (--output json lists them all).")


@usecase_app.command("assess")
def assess(
    ctx: typer.Context,
    project: ProjectArg,
    purpose: Annotated[
        str | None, typer.Option("--purpose", help="What the AI system is for.")
    ] = None,
    sector: Annotated[str | None, typer.Option("--sector", help="Where it is used.")] = None,
    yes: Annotated[
        list[str] | None,
        typer.Option("--yes", help="A question answered yes (repeat); all others are no."),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file", "-f", help="YAML or JSON: intended_purpose, sector, answers (id: bool)."
        ),
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Register (or change) the project's use case and show its class, answer by answer."""
    client = get_state(ctx).client()
    if file:
        body = read_mapping(file, "a use case must be a mapping (intended_purpose, sector, ...)")
        answers = body.get("answers") or {}
        purpose = purpose or str(body.get("intended_purpose", ""))
        sector = sector or str(body.get("sector", ""))
    else:
        chosen = set(yes or [])
        known = {q["id"] for q in client.compliance.questions()}
        unknown = sorted(chosen - known)
        if unknown:
            o.fail(f"--yes: no such question: {', '.join(unknown)} (see: aif usecase questions)", 2)
        answers = {q: q in chosen for q in sorted(known)}
    if not purpose or not sector:
        o.fail("give --purpose and --sector (or a --file with them)", 2)
    uc = client.compliance.register_use_case(project_id(client, project), purpose, sector, answers)
    if output is o.Format.JSON:
        o.print_json(uc)
        return
    _show(uc)


@usecase_app.command("show")
def show(ctx: typer.Context, project: ProjectArg, output: o.OutputOpt = o.Format.TABLE) -> None:
    """The project's use case: its class, the rationale and any review."""
    client = get_state(ctx).client()
    uc = client.compliance.use_case(project_id(client, project))
    if output is o.Format.JSON:
        o.print_json(uc)
        return
    _show(uc)


@usecase_app.command("review")
def review(
    ctx: typer.Context,
    project: ProjectArg,
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded and audited.")],
    override: Annotated[
        str | None,
        typer.Option(
            "--override",
            metavar="CLASS",
            help="The class it is instead: prohibited, high-risk, transparency or minimal. "
            "Without it, the derived class is confirmed.",
        ),
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Compliance officers: confirm the derived class, or override it, with a reason."""
    client = get_state(ctx).client()
    decision = "overridden" if override else "confirmed"
    uc = client.compliance.review_use_case(project_id(client, project), decision, reason, override)
    if output is o.Format.JSON:
        o.print_json(uc)
        return
    _show(uc)
