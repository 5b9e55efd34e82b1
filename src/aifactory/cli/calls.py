"""Access calls and proposals: ``calls``, ``call ...``, ``propose``, ``proposals``,
``proposal ...``.

A CALL argument takes a call id, its code (``2026PG01``) or a mode (``playground``: the one
open call of that mode). A PROPOSAL argument takes an id or a reference (``EHPC-AIF-...``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from aifactory.cli import output as o
from aifactory.cli.config import get_state
from aifactory.cli.files import read_mapping
from aifactory.cli.tenancy import project_id
from aifactory.domain.access import AccessMode, Decision, ProposalState, ReviewKind
from aifactory.sdk import Client

call_app = typer.Typer(help="Access calls: show, open, close.", no_args_is_help=True)
proposal_app = typer.Typer(
    help="One proposal: show, submit, withdraw; operators assign and decide.",
    no_args_is_help=True,
)
proposals_app = typer.Typer(
    help="Proposals you can see (without a command); 'due': what operators must decide.",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    app.command("calls")(list_calls)
    app.add_typer(call_app, name="call")
    app.command("propose")(propose)
    app.add_typer(proposals_app, name="proposals")
    app.add_typer(proposal_app, name="proposal")


CallArg = Annotated[
    str, typer.Argument(metavar="CALL", help="Call id, code (2026PG01) or mode (playground).")
]
ProposalArg = Annotated[
    str, typer.Argument(metavar="ID", help="Proposal id or reference (EHPC-AIF-...).")
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why; recorded and audited.")]
DayOpt = Annotated[
    datetime | None, typer.Option("--until", formats=["%Y-%m-%d"], help="YYYY-MM-DD.")
]


# -- names to ids -----------------------------------------------------------------------------
def call_id(client: Client, ref: str) -> str:
    """The id of the call ``ref``: an id, a code, or a mode meaning the one open call of it."""
    if ref.startswith("call-"):
        return ref
    mode = ref.strip().lower().replace("-", "_").replace(" ", "_")
    if mode in {m.value for m in AccessMode}:
        open_calls = client.list_calls(open=True, mode=mode)
        if len(open_calls) == 1:
            return str(open_calls[0]["id"])
        if not open_calls:
            o.fail(f"no {mode} call is open today; see `aif calls`")
        listed = ", ".join(f"{c['code']} ({c['id']})" for c in open_calls)
        o.fail(f"{len(open_calls)} {mode} calls are open: {listed}; name one by code or id")
    matches = [c for c in client.list_calls() if c["code"].upper() == ref.strip().upper()]
    if matches:
        return str(matches[0]["id"])
    modes = ", ".join(m.value for m in AccessMode)
    o.fail(f"no call with id or code {ref!r}, and it is no mode ({modes}); see `aif calls`")


def proposal_id(client: Client, ref: str) -> str:
    if not ref.upper().startswith("EHPC-"):
        return ref
    matches = [p for p in client.list_proposals() if (p["reference"] or "") == ref.upper()]
    if not matches:
        o.fail(f"no proposal with reference {ref!r} that you can see")
    return str(matches[0]["id"])


# -- calls ------------------------------------------------------------------------------------
def list_calls(
    ctx: typer.Context,
    open_: Annotated[
        bool, typer.Option("--open", help="Only calls taking proposals today.")
    ] = False,
    mode: Annotated[AccessMode | None, typer.Option("--mode")] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Access calls, newest first: how GPU-hours are won."""
    client = get_state(ctx).client()
    calls = client.list_calls(open=open_ or None, mode=mode.value if mode else None)
    if output is o.Format.JSON:
        o.print_json(calls)
        return
    o.table(
        ["ID", "CODE", "MODE", "TITLE", "PARTITIONS", "OPENS", "CLOSES", "NEXT CUT-OFF", "OPEN"],
        (
            [
                c["id"],
                c["code"],
                c["mode"],
                c["title"],
                c["partitions"],
                c["opens_on"],
                c["closes_on"],
                c["next_cutoff"],
                True if c["is_open"] else c["open_problem"],
            ]
            for c in calls
        ),
    )


@call_app.command("show")
def show_call(ctx: typer.Context, call: CallArg, output: o.OutputOpt = o.Format.TABLE) -> None:
    """A call with its rules (the mode's defaults and this call's overrides)."""
    client = get_state(ctx).client()
    c = client.get_call(call_id(client, call))
    if output is o.Format.JSON:
        o.print_json(c)
        return
    o.table(
        ["FIELD", "VALUE"],
        [
            ["id", c["id"]],
            ["code", c["code"]],
            ["title", c["title"]],
            ["mode", c["mode"]],
            ["partitions", c["partitions"]],
            ["opens", c["opens_on"]],
            ["closes", c["closes_on"]],
            ["cut-offs", c["cutoffs"]],
            ["next cut-off", c["next_cutoff"]],
            ["open", True if c["is_open"] else c["open_problem"]],
            ["created", o.when(c["created_at"])],
        ],
        title=f"Call {c['code']}",
    )
    o.out()
    o.table(["RULE", "VALUE"], ([k, _rule(v)] for k, v in c["rules"].items()), title="Rules")


def _rule(value: Any) -> str:
    if isinstance(value, dict):
        shown = {k: v for k, v in value.items() if v not in (None, [], {})}
        return ", ".join(f"{k}: {o.cell(v)}" for k, v in shown.items()) or "-"
    return o.cell(value)


@call_app.command("open")
def open_call(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Call file, YAML or JSON; '-' reads stdin.")],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Operators: open a call of one mode on chosen partitions (see examples/)."""
    spec = read_mapping(file, "a call must be a mapping (title, mode, partitions, ...)")
    c = get_state(ctx).client().open_call(spec)
    if output is o.Format.JSON:
        o.print_json(c)
        return
    o.out(f"Opened call {c['code']} ({c['id']}): {c['mode']} on {', '.join(c['partitions'])}")
    o.out("Taking proposals now." if c["is_open"] else f"Not open: {c['open_problem']}")


@call_app.command("close")
def close_call(ctx: typer.Context, call: CallArg, output: o.OutputOpt = o.Format.TABLE) -> None:
    """Operators: close a call; it takes no more proposals."""
    client = get_state(ctx).client()
    c = client.close_call(call_id(client, call))
    if output is o.Format.JSON:
        o.print_json(c)
        return
    o.out(f"Closed call {c['code']} ({c['id']})")


# -- applying ---------------------------------------------------------------------------------
def propose(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Proposal, YAML or JSON; '-' reads stdin.")],
    draft: Annotated[bool, typer.Option("--draft", help="Keep it as a draft.")] = False,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Apply to an access call; prints the reference, state and decision due date.

    See examples/playground-proposal.yaml. In the file, 'call' may be an id, a code or a mode
    (the one open call of that mode), 'project' an id or a name."""
    form = read_mapping(file, "a proposal must be a mapping (call, project, title, ...)")
    client = get_state(ctx).client()
    if isinstance(form.get("call"), str):
        form["call"] = call_id(client, form["call"])
    if isinstance(form.get("project"), str):
        form["project"] = project_id(client, form["project"])
    _report(client.create_proposal(form, draft=draft), output)


def _report(p: dict[str, Any], output: o.Format) -> None:
    if output is o.Format.JSON:
        o.print_json(p)
        return
    o.out(f"Proposal {p['id']}: {p['reference'] or '(a draft has no reference yet)'}")
    o.out(f"state: {p['state']}" + (f" ({p['reason']})" if p["reason"] else ""))
    if p["decision_due_on"]:
        o.out(f"decision due: {p['decision_due_on']}" + (" (overdue)" if p["overdue"] else ""))
    if p.get("allocation_ids"):
        o.out(f"allocations: {', '.join(p['allocation_ids'])} (see `aif allocations`)")
    if p["state"] == ProposalState.DRAFT.value:
        o.out(f"Submit it with: aif proposal submit {p['id']}")


def _proposal_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            p["id"],
            p["reference"],
            p["mode"],
            p["title"],
            f"{p['gpu_hours']:,}",
            p["state"],
            p["decision_due_on"],
            p["overdue"],
        ]
        for p in items
    ]


PROPOSAL_COLUMNS = ["ID", "REFERENCE", "MODE", "TITLE", "GPU-HOURS", "STATE", "DUE", "OVERDUE"]


@proposals_app.callback()
def list_proposals(
    ctx: typer.Context,
    call: Annotated[
        str | None, typer.Option("--call", help="Call id, code or mode.", show_default=False)
    ] = None,
    state: Annotated[
        list[ProposalState] | None, typer.Option("--state", help="Repeat for several.")
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Proposals you can see (your organisations', those you review; operators: all), newest
    first."""
    if ctx.invoked_subcommand is not None:
        return
    client = get_state(ctx).client()
    items = client.list_proposals(
        call_id=call_id(client, call) if call else None,
        state=[s.value for s in state] if state else None,
    )
    if output is o.Format.JSON:
        o.print_json(items)
        return
    o.table(PROPOSAL_COLUMNS, _proposal_rows(items))


@proposals_app.command("due")
def proposals_due(
    ctx: typer.Context, until: DayOpt = None, output: o.OutputOpt = o.Format.TABLE
) -> None:
    """Operators: undecided proposals due by --until, overdue ones first.

    --until defaults to the end of this week (Sunday)."""
    items = get_state(ctx).client().proposals_due(until.date() if until else None)
    if output is o.Format.JSON:
        o.print_json(items)
        return
    o.table(PROPOSAL_COLUMNS, _proposal_rows(items))


@proposal_app.command("show")
def show_proposal(
    ctx: typer.Context, proposal: ProposalArg, output: o.OutputOpt = o.Format.TABLE
) -> None:
    """A proposal: its form, state history, reviews and decision deadline."""
    client = get_state(ctx).client()
    p = client.get_proposal(proposal_id(client, proposal))
    if output is o.Format.JSON:
        o.print_json(p)
        return
    o.table(
        ["FIELD", "VALUE"],
        [
            ["id", p["id"]],
            ["reference", p["reference"]],
            ["title", p["title"]],
            ["call", f"{p['call_code']} ({p['mode']}, {p['call_id']})"],
            ["organisation", p["org_id"]],
            ["project", p["project_id"]],
            ["GPU-hours", f"{p['gpu_hours']:,}"],
            ["state", p["state"]],
            ["reason", p["reason"] or "-"],
            ["submitted", o.when(p["submitted_at"])],
            ["cut-off", p["cutoff_on"]],
            ["decision due", p["decision_due_on"]],
            ["overdue", p["overdue"]],
            ["decided", o.when(p["decided_at"])],
            ["allocations", p["allocation_ids"]],
        ],
        title=f"Proposal {p['reference'] or p['id']}",
    )
    o.out()
    o.table(["FIELD", "VALUE"], _form_rows(p["form"]), title="Application")
    o.out()
    o.table(
        ["AT", "STATE", "ACTOR", "REASON"],
        ([o.when(e["at"]), e["state"], e["actor"], e["reason"]] for e in p["history"]),
        title="State history",
    )
    o.out()
    if not p["reviews"]:
        o.out("Reviews: none yet")
        return
    o.table(
        ["ID", "KIND", "STATE", "REVIEWER", "PASSED", "SCORE", "COMMENTS", "SUBMITTED"],
        (
            [
                r["id"],
                r["kind"],
                r["state"],
                r["reviewer_id"],
                r["passed"],
                r["score"],
                r["comments"] or "-",
                o.when(r["submitted_at"]),
            ]
            for r in p["reviews"]
        ),
        title="Reviews",
    )


def _form_rows(f: dict[str, Any]) -> list[list[Any]]:
    pi = f["principal_investigator"]
    ai = f["ai_act"]
    data = f["data"]
    return [
        ["principal investigator", f"{pi['name']} <{pi['email']}>"],
        ["team", [f"{m['name']} <{m['email']}>" for m in f["team"]]],
        ["sector", f["sector"]],
        ["work types", f["work_types"]],
        [
            "resources",
            [
                f"{r['partition']}: {r['gpu_hours']:,} GPU-hours, largest job "
                f"{r['largest_job_gpus']} GPUs, {r['storage_tb']:g} TB"
                for r in f["resources"]
            ],
        ],
        ["duration", f"{f['duration_months']} months"],
        ["abstract", f["abstract"].strip()],
        ["why this scale", f["why_this_scale"].strip()],
        ["frameworks", f["code_readiness"]["frameworks"]],
        ["scaling shown", f["code_readiness"]["scaling_shown"]],
        [
            "data",
            f"{data['description']} (from {data['origin']}; personal data: "
            f"{o.cell(data['personal_data'])})",
        ],
        ["work plan", [f"month {m['month']}: {m['title']}" for m in f["work_plan"]]],
        [
            "AI Act",
            f"{ai['intended_purpose']} (high risk: {o.cell(ai['high_risk'])}; prohibited "
            f"practice: {o.cell(ai['prohibited_practice'])})",
        ],
        ["EU project", f["eu_project"]],
    ]


@proposal_app.command("submit")
def submit_proposal(
    ctx: typer.Context, proposal: ProposalArg, output: o.OutputOpt = o.Format.TABLE
) -> None:
    """Submit a draft: its checks run now."""
    client = get_state(ctx).client()
    _report(client.submit_proposal(proposal_id(client, proposal)), output)


@proposal_app.command("withdraw")
def withdraw_proposal(
    ctx: typer.Context, proposal: ProposalArg, output: o.OutputOpt = o.Format.TABLE
) -> None:
    """Withdraw a proposal that is not decided yet."""
    client = get_state(ctx).client()
    _report(client.withdraw_proposal(proposal_id(client, proposal)), output)


# -- operators ----------------------------------------------------------------------------------
@proposal_app.command("assign")
def assign_reviewer(
    ctx: typer.Context,
    proposal: ProposalArg,
    reviewer: Annotated[
        str, typer.Option("--reviewer", help="E-mail of a user with the reviewer role.")
    ],
    kind: Annotated[ReviewKind, typer.Option("--kind")],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Operators: ask a reviewer for a technical or peer review."""
    client = get_state(ctx).client()
    r = client.assign_reviewer(proposal_id(client, proposal), reviewer, kind.value)
    if output is o.Format.JSON:
        o.print_json(r)
        return
    o.out(
        f"Assigned {reviewer} as {r['kind']} reviewer of "
        f"{r['proposal_reference'] or r['proposal_id']} (review {r['id']})"
    )


@proposal_app.command("decide")
def decide_proposal(
    ctx: typer.Context,
    proposal: ProposalArg,
    decision: Annotated[Decision, typer.Argument(help="accept or reject.")],
    reason: ReasonOpt,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Operators: accept (which creates the allocations) or reject, with a reason."""
    client = get_state(ctx).client()
    _report(client.decide_proposal(proposal_id(client, proposal), decision.value, reason), output)
