"""Placements printed: every partition's verdict (``aif job show``) and the plan of a
``--dry-run`` (``aif submit``, ``aif sbatch``): what the platform read and where the job
would go; nothing is submitted."""

from __future__ import annotations

from typing import Any

import typer

from aifactory.cli import output as o


def unit(model: str, count: int) -> str:
    """How Slurm counts the model: LUMI's MI250X-GCD is a GCD, the rest GPUs."""
    word = "GCD" if model.upper().endswith("-GCD") else "GPU"
    return f"{count} {word}{'' if count == 1 else 's'}"


def need_text(need: dict[str, Any], model: str) -> str:
    total = int(need["accelerators"])
    text = (
        f"{need['nodes']} node{'s' if need['nodes'] != 1 else ''} x "
        f"{need['accelerators_per_node']} {model} = {unit(model, total)}, "
        f"{need['cpus']} CPUs and {need['memory_gb']} GB per node, "
        f"time limit {o.seconds(need['walltime_s'])}"
    )
    return text + (", whole nodes" if need.get("whole_nodes") else "")


def asked_text(res: dict[str, Any]) -> str:
    if res.get("nodes") is None:
        per = res.get("accelerators_per_node")
        acc = f"{per} per node" if per is not None else f"{res.get('accelerators') or 0} in all"
        nodes = "as many nodes as needed"
    else:
        acc = f"{res['accelerators_per_node']} per node"
        nodes = f"{res['nodes']} node{'s' if res['nodes'] != 1 else ''}"
    memory = (
        "all of each node's memory"
        if res.get("memory_gb") == 0
        else f"{res['memory_gb']} GB per node"
        if res.get("memory_gb") is not None
        else f"{res.get('memory_gb_per_cpu') or res.get('memory_gb_per_accelerator')} GB per "
        + ("CPU" if res.get("memory_gb_per_cpu") else "accelerator")
    )
    wall = "the partition's default" if res.get("walltime") is None else o.seconds(res["walltime"])
    model = "" if res.get("accelerator") in (None, "any") else f"{res['accelerator']} "
    text = f"{nodes}, {model}accelerators {acc}, {memory}, time limit {wall}"
    return text + (", whole nodes (--exclusive)" if res.get("exclusive") else "")


_OUTCOME = {
    "wait": "Would wait",
    "refused": "Would be refused",
    "fail": "Would fail",
    "cancel": "Would be cancelled",
}


def print_plan(plan: dict[str, Any], models: dict[str, str]) -> None:
    """``models``: 'site/partition' -> its accelerator model."""
    spec = plan["spec"]
    cons = spec.get("constraints") or {}
    array = plan.get("array")
    o.out("Dry run: nothing was submitted.")
    o.table(
        ["FIELD", "VALUE"],
        [
            ["name", spec["name"]],
            ["project", spec["project"]],
            ["partitions", ", ".join(cons.get("partitions") or []) or "any"],
            ["qos", cons.get("qos") or "-"],
            ["asks for", asked_text(spec["resources"])],
            [
                "array",
                f"{array['spec']}: {array['tasks']} tasks"
                + (f", at most {array['throttle']} at once" if array.get("throttle") else "")
                if array
                else "-",
            ],
            ["dependency", plan.get("dependency") or "-"],
            [
                "stack",
                plan["stack"] + (f" ({plan['stack_reason']})" if plan["stack_reason"] else ""),
            ],
            ["mail", ",".join(spec.get("mail_type") or []) or "-"],
        ],
        title="The job as read",
    )
    if plan["ignored"]:
        o.out("Not read by the platform:")
        for line in plan["ignored"]:
            o.out(f"  {line}")
    placement = plan.get("placement") or {}
    chosen = placement.get("chosen")
    if plan["outcome"] == "place" and chosen:
        where = f"{chosen['site']}/{chosen['partition']}"
        o.out(f"Would be placed now on {where}: {need_text(plan['needs'][where], models[where])}")
    else:
        o.out(f"{_OUTCOME.get(plan['outcome'], plan['outcome'])}: {plan['reason']}")
        for where, need in plan["needs"].items():
            o.out(f"  on {where}: {need_text(need, models.get(where, '?'))}")
    if placement:
        o.out()
        print_placement(placement)
    if plan["outcome"] in ("refused", "fail", "cancel"):
        raise typer.Exit(1)


def print_placement(placement: dict[str, Any]) -> None:
    """The priority line and every partition's verdict (aif job show, --dry-run)."""
    chosen = placement.get("chosen") or {}
    if placement.get("factors"):
        f = placement["factors"]
        o.out(
            f"Priority: {placement.get('priority')} (age {f['age']:.2f}, fair share "
            f"{f['fairshare']:.2f}, size {f['size']:.2f}, QoS {f['qos']:.2f})"
        )
    rows = []
    for c in placement["candidates"]:
        is_chosen = (c["site"], c["partition"]) == (chosen.get("site"), chosen.get("partition"))
        score = c.get("score")
        rows.append(
            [
                "chosen" if is_chosen else "",
                c["site"],
                c["partition"],
                o.executor_label(c["executor"], c["executor"] == "simulated"),
                c.get("filter") or ("" if c["feasible"] else "-"),
                "" if score is None else f"{score:.3f}",
                o.seconds(c.get("start_in_s")),
                o.seconds(c.get("runtime_s")),
                "" if c.get("co2e_kg") is None else f"{c['co2e_kg'] * 1000:,.1f}",
                c["reason"],
            ]
        )
    title = "Placement: every partition considered"
    if not chosen:
        title += " (none chosen yet)"
    o.table(
        [
            "",
            "SITE",
            "PARTITION",
            "EXECUTOR",
            "FAILED FILTER",
            "SCORE",
            "START IN",
            "RUNTIME",
            "CO2E G",
            "REASON",
        ],
        rows,
        title=title,
    )
