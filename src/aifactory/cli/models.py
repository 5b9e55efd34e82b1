"""The model registry: ``models``, ``model create|version|show|compute``. FLOP in scientific
notation, energy in kWh, carbon in kg CO2e."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aifactory.cli import output as o
from aifactory.cli.config import get_state
from aifactory.cli.tenancy import project_id
from aifactory.sdk import Client

model_app = typer.Typer(
    help="One model: create, add a version, show its compute (the AI Act's record).",
    no_args_is_help=True,
)

ModelArg = Annotated[str, typer.Argument(metavar="MODEL", help="Model id or name.")]


def register(app: typer.Typer) -> None:
    app.command("models")(list_models)
    app.add_typer(model_app, name="model")


def flop(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3g}"


def list_models(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option("--project", help="Project id or name.", show_default=False)
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Models of your organisations, with their versions."""
    client = get_state(ctx).client()
    items = client.compliance.models(project_id(client, project) if project else None)
    if output is o.Format.JSON:
        o.print_json(items)
        return
    o.table(
        ["ID", "NAME", "ARCHITECTURE", "IN", "OUT", "VERSIONS"],
        (
            [
                m["id"],
                m["name"],
                m["architecture"],
                ",".join(m["modality_in"]),
                ",".join(m["modality_out"]),
                ", ".join(v["version"] for v in m["versions"]) or "-",
            ]
            for m in items
        ),
    )


@model_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The model's name (unique in the organisation).")],
    project: Annotated[str, typer.Option("--project", help="Project id or name.")],
    architecture: Annotated[
        str, typer.Option("--architecture", help="e.g. decoder-only transformer.")
    ],
    modality_in: Annotated[list[str], typer.Option("--in", help="Input modality (repeat).")],
    modality_out: Annotated[list[str], typer.Option("--out", help="Output modality (repeat).")],
    licence: Annotated[str, typer.Option("--licence")] = "",
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Intended task (repeat).")
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Register a model in a project."""
    client = get_state(ctx).client()
    m = client.compliance.create_model(
        {
            "project_id": project_id(client, project),
            "name": name,
            "architecture": architecture,
            "modality_in": modality_in,
            "modality_out": modality_out,
            "licence": licence,
            "intended_tasks": task or [],
        }
    )
    if output is o.Format.JSON:
        o.print_json(m)
        return
    o.out(f"Model {m['name']} ({m['id']}) registered.")


@model_app.command("version")
def version(
    ctx: typer.Context,
    model: ModelArg,
    number: Annotated[str, typer.Argument(metavar="VERSION", help="e.g. 1.0")],
    parameters: Annotated[int | None, typer.Option("--parameters", help="N, for 6·N·D.")] = None,
    tokens: Annotated[int | None, typer.Option("--tokens", help="D, for 6·N·D.")] = None,
    base: Annotated[
        str | None,
        typer.Option("--base", help="A version of the organisation's: MODEL@VERSION or its id."),
    ] = None,
    external: Annotated[
        str | None, typer.Option("--external-base", help="An external base model, by name.")
    ] = None,
    external_flop: Annotated[
        float | None,
        typer.Option("--external-flop", help="Its declared training compute (default: unknown)."),
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Add a version to a model, with what it is built on."""
    client = get_state(ctx).client()
    body: dict[str, Any] = {"version": number, "parameters": parameters, "training_tokens": tokens}
    if base:
        body["base_version_id"] = _version_id(client, base)
    if external:
        body["base_external"] = external
        body["base_external_flop"] = external_flop
    v = client.compliance.add_version(model, body)
    if output is o.Format.JSON:
        o.print_json(v)
        return
    o.out(f"Version {v['version']} ({v['id']}) added.")


def _version_id(client: Client, ref: str) -> str:
    """MODEL@VERSION (or MODEL, its newest version), or a version id."""
    if ref.startswith("mdv-"):
        return ref
    name, _, number = ref.partition("@")
    versions = client.compliance.model(name)["versions"]
    if not versions:
        o.fail(f"model {name} has no version yet", 1)
    if not number:
        return str(versions[-1]["id"])
    for v in versions:
        if v["version"] == number:
            return str(v["id"])
    known = ", ".join(v["version"] for v in versions)
    o.fail(f"model {name} has no version {number!r} (it has: {known})", 1)


def _compute_tables(c: dict[str, Any]) -> None:
    t, lin = c["training"], c["lineage"]
    rows = [
        ["model", f"{c['model']} {c['version']} ({c['version_id']})"],
        ["training compute", f"{flop(t['flop'])} FLOP (hardware-based)"],
        [
            "6·N·D estimate",
            f"{flop(t['architecture_flop'])} FLOP" if t["architecture_flop"] else "-",
        ],
        ["GPU-hours", f"{t['gpu_hours']:.4g}"],
        ["training time", f"{t['training_hours']:.4g} h"],
        ["energy", f"{t['kwh']:.4g} kWh"],
        ["carbon", f"{t['kg_co2e']:.4g} kg CO2e"],
        [
            "cumulative compute",
            f"{flop(lin['cumulative_flop'])} FLOP ({len(lin['chain'])} version(s))",
        ],
        ["lineage", lin["says"]],
        ["could still add", f"{flop(c['forecast_more_flop'])} FLOP (the project's allocations)"],
    ]
    if c["other"]["jobs"]:
        other = c["other"]
        rows.append(
            [
                "evaluation and inference",
                f"{len(other['jobs'])} job(s), {other['kwh']:.4g} kWh, "
                f"{other['kg_co2e']:.4g} kg CO2e (not training)",
            ]
        )
    for x in c["crossings"]:
        rows.append(
            [
                f"threshold ({x['threshold']})",
                f"crossed by {x['basis']} compute, {flop(x['flop'])} > "
                f"{flop(x['limit'])} FLOP: notify by {x['due_on']}",
            ]
        )
    o.table(["FIELD", "VALUE"], rows)
    if t["jobs"]:
        o.out()
        o.table(
            ["JOB", "GPU-HOURS", "UTILISATION", "FLOP", "KWH", "KG CO2E"],
            (
                [
                    j["job_id"],
                    f"{j['gpu_seconds'] / 3600:.4g}",
                    f"{j['utilisation']:g}" + (" (measured)" if j["measured"] else ""),
                    flop(j["flop"]),
                    f"{j['kwh']:.4g}",
                    f"{j['kg_co2e']:.4g}",
                ]
                for j in t["jobs"]
            ),
            title="Training jobs",
        )


@model_app.command("show")
def show(ctx: typer.Context, model: ModelArg, output: o.OutputOpt = o.Format.TABLE) -> None:
    """A model and the compute of each of its versions: FLOP, energy and carbon from the jobs
    that ran. MODEL@VERSION shows one version's ledger in full."""
    client = get_state(ctx).client()
    name, _, number = model.partition("@")
    if number:
        compute(ctx, model, output)
        return
    m = client.compliance.model(name)
    ledgers = [client.compliance.compute(v["id"]) for v in m["versions"]]
    if output is o.Format.JSON:
        o.print_json({**m, "compute": ledgers})
        return
    o.table(
        ["FIELD", "VALUE"],
        [
            ["model", f"{m['name']} ({m['id']})"],
            ["architecture", m["architecture"]],
            ["modalities", f"{','.join(m['modality_in'])} -> {','.join(m['modality_out'])}"],
            ["licence", m["licence"] or "-"],
            ["intended tasks", "; ".join(m["intended_tasks"]) or "-"],
        ],
    )
    o.out()
    o.table(
        ["VERSION", "BASE", "TRAINING FLOP", "6·N·D", "GPU-HOURS", "KWH", "KG CO2E", "THRESHOLDS"],
        (
            [
                c["version"],
                c["lineage"]["base"] or ("own lineage" if len(c["lineage"]["chain"]) > 1 else "-"),
                flop(c["training"]["flop"]),
                flop(c["training"]["architecture_flop"])
                if c["training"]["architecture_flop"]
                else "-",
                f"{c['training']['gpu_hours']:.4g}",
                f"{c['training']['kwh']:.4g}",
                f"{c['training']['kg_co2e']:.4g}",
                "; ".join(
                    f"{x['threshold']} ({x['basis']}) by {x['due_on']}" for x in c["crossings"]
                )
                or "-",
            ]
            for c in ledgers
        ),
        title="Versions",
    )


@model_app.command("compute")
def compute(
    ctx: typer.Context,
    version: Annotated[
        str, typer.Argument(metavar="MODEL@VERSION", help="A version: MODEL@VERSION or its id.")
    ],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """One version's compute ledger: every training job, the lineage, the thresholds."""
    client = get_state(ctx).client()
    c = client.compliance.compute(_version_id(client, version))
    if output is o.Format.JSON:
        o.print_json(c)
        return
    _compute_tables(c)


VersionArg = Annotated[
    str, typer.Argument(metavar="MODEL@VERSION", help="A version: MODEL@VERSION or its id.")
]


@model_app.command("evaluate")
def evaluate(
    ctx: typer.Context,
    version: VersionArg,
    job: Annotated[str, typer.Option("--job", help="The ended evaluation job.")],
    name: Annotated[str, typer.Option("--name", help="What was evaluated, e.g. the benchmark.")],
    metric: Annotated[list[str], typer.Option("--metric", help="NAME=NUMBER (repeat).")],
) -> None:
    """Attach an evaluation job's metrics (and the data it read) to a model version."""
    metrics: dict[str, float] = {}
    for text in metric:
        key, sep, value = text.partition("=")
        try:
            metrics[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            o.fail(f"--metric {text!r}: give NAME=NUMBER", 2)
    client = get_state(ctx).client()
    e = client.compliance.evaluate(_version_id(client, version), job, name, metrics)
    o.out(f"Evaluation {e['name']} ({e['id']}) attached: {len(e['metrics'])} metric(s).")


@model_app.command("docs")
def docs(
    ctx: typer.Context,
    version: VersionArg,
    kind: Annotated[
        str,
        typer.Option("--kind", help="annex-xi (technical documentation), annex-xii, summary."),
    ] = "annex-xi",
    format: Annotated[str, typer.Option("--format", help="md or html.")] = "md",
    out: Annotated[str | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """A documentation draft of the version from the platform's record (compute both ways,
    training time, energy, datasets with provenance and licences, evaluations); the fields
    only the provider can fill are marked."""
    client = get_state(ctx).client()
    text = client.compliance.docs(_version_id(client, version), kind, format)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        o.out(f"Written: {out}")
        return
    typer.echo(text)
