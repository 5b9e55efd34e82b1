"""Access calls, proposals, reviews and allocations through ``aif``, against a real app
in-process (the ``cli`` fixture of test_cli): an applicant wins GPU-hours and spends them, a
reviewer answers, an operator opens calls, assigns, decides and adjusts."""

from __future__ import annotations

import re
import time
from typing import Any

import yaml

from aifactory.cli import config
from tests.unit import test_cli
from tests.unit.test_cli import EXAMPLES, Cli

cli = test_cli.cli  # the fixture: a CLI whose SDK client talks to a fresh app in-process

PASSWORD = "correct horse battery"
PLAYGROUND = EXAMPLES / "playground-proposal.yaml"


def example(**changes: Any) -> dict[str, Any]:
    """The example Playground application, with ``changes`` to its top-level fields."""
    data: dict[str, Any] = yaml.safe_load(PLAYGROUND.read_text())
    data.update(changes)
    return data


def write(cli: Cli, name: str, data: dict[str, Any]) -> str:
    path = cli.tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def applicant_org(cli: Cli, *token: str, name: str = "acme", project: str = "llm-pilot") -> str:
    """An organisation (a start-up) with one project; returns the project id."""
    cli(
        *token,
        "org",
        "create",
        name,
        "--kind",
        "startup",
        "--country",
        "DE",
        "--registration-id",
        f"HRB-{name}",
    )
    return str(cli.json(*token, "project", "create", project, "--org", name)["id"])


def user(cli: Cli, name: str, *roles: str) -> tuple[str, str]:
    """A user made by the admin with ``aif user create``; returns ("--token", their token),
    the global option to act as them."""
    args = ["user", "create", f"{name}@example.eu", "--name", name.title(), "--password-prompt"]
    for role in roles:
        args += ["--role", role]
    cli(*args, input=f"{PASSWORD}\n{PASSWORD}\n")
    sdk = config.client_factory(config.DEFAULT_URL, None)
    return "--token", sdk.login(f"{name}@example.eu", PASSWORD)["token"]


def row(output: str, first: str) -> list[str]:
    """The cells of the table line that starts with ``first``."""
    line = next(x for x in output.splitlines() if x.split()[:1] == [first])
    return line.split()


def run_job(cli: Cli, job_id: str) -> dict[str, Any]:
    dispatcher = cli.app.state.runtime.dispatcher
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        dispatcher.dispatch_once()
        dispatcher.poll_once()
        job: dict[str, Any] = cli.json("job", "show", job_id)
        if job["state"] in ("completed", "failed", "cancelled", "timeout"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


# -- applicants ---------------------------------------------------------------------------------
def test_apply_to_playground_then_spend_the_allocation_on_a_job(cli: Cli) -> None:
    cli.login()
    project = applicant_org(cli)  # "llm-pilot", the project the example names
    listing = cli("calls", "--open").stdout
    assert {"playground", "fast_lane", "large_scale", "ai_for_science"} <= set(listing.split())
    [call] = cli.json("calls", "--open", "--mode", "playground")
    shown = cli("call", "show", "playground").stdout
    assert f"Call {call['code']}" in shown and row(shown, "max_gpu_hours")[1] == "2000"
    assert row(shown, "open") == ["open", "yes"]

    lines = cli("propose", str(PLAYGROUND)).stdout.splitlines()
    assert re.fullmatch(rf"Proposal prop-\w+: EHPC-AIF-{call['code']}-0001", lines[0])
    assert lines[1] == "state: accepted (first come, first served: automatic check passed)"
    assert re.fullmatch(r"decision due: \d{4}-\d\d-\d\d", lines[2])
    assert re.fullmatch(r"allocations: alc-\w+ \(see `aif allocations`\)", lines[3])
    [proposal] = cli.json("proposals", "--call", "playground", "--state", "accepted")
    assert proposal["project_id"] == project and proposal["gpu_hours"] == 500
    assert row(cli("proposals").stdout, proposal["id"])[-3:] == ["accepted", lines[2][14:], "no"]

    shown = cli("proposal", "show", proposal["reference"]).stdout
    assert "Aino Virtanen <aino@acme-ai.example>" in shown
    assert "local/local: 500 GPU-hours, largest job 2 GPUs, 0.5 TB" in shown
    assert row(shown, "decision")[:3] == ["decision", "due", proposal["decision_due_on"]]
    assert row(shown, "overdue") == ["overdue", "no"]
    history = shown[shown.index("State history") :]
    states = [line.split()[2] for line in history.splitlines()[3:] if line.strip()][:5]
    assert states == ["draft", "submitted", "eligibility", "technical_review", "accepted"]
    assert "Reviews: none yet" in shown

    [alloc] = cli.json("allocations", "--project", "llm-pilot")
    assert (alloc["granted_gpu_hours"], alloc["balance_gpu_hours"]) == (500, 500)
    cells = row(cli("allocations").stdout, alloc["id"])
    assert cells[1:8] == [proposal["reference"], "local/local", "active", "500", "500", "0", "0"]

    # A 10-minute job on one slot reserves 1/6 GPU-hour when placed; its end settles it.
    job_id = cli("submit", str(cli.job_file(project))).stdout.strip()
    cli.app.state.runtime.dispatcher.dispatch_once()
    detail = cli.json("allocation", "show", alloc["id"])
    assert [e["kind"] for e in detail["ledger"]] == ["grant", "reservation"]
    assert detail["ledger"][1]["job_id"] == job_id
    assert (detail["reserved_gpu_hours"], detail["balance_gpu_hours"]) == (0.1667, 499.8333)
    shown = cli("allocation", "show", alloc["id"]).stdout
    assert row(shown, "balance") == ["balance", "GPU-hours", "499.83"]
    assert row(shown, "reserved") == ["reserved", "GPU-hours", "0.17"]
    reservation = next(line for line in shown.splitlines() if " reservation " in line)
    assert "-0.17" in reservation and job_id in reservation

    assert run_job(cli, job_id)["state"] == "completed"
    detail = cli.json("allocation", "show", alloc["id"])
    assert [e["kind"] for e in detail["ledger"]] == ["grant", "reservation", "settlement"]
    settlement = detail["ledger"][2]
    assert settlement["job_id"] == job_id and settlement["used_gpu_seconds"] >= 0
    assert detail["reserved_gpu_hours"] == 0
    used = settlement["used_gpu_seconds"]
    assert detail["balance_gpu_hours"] == round((500 * 3600 - used) / 3600, 4)
    shown = cli("allocation", "show", alloc["id"]).stdout
    assert " settlement " in shown and row(shown, "reserved")[-1] == "0"


def test_every_read_prints_the_raw_api_json(cli: Cli) -> None:
    cli.login()
    applicant_org(cli)
    proposal = cli.json("propose", str(PLAYGROUND))
    [alloc_id] = proposal["allocation_ids"]
    sdk = config.client_factory(config.DEFAULT_URL, cli.token_file.read_text().strip())
    call_id = proposal["call_id"]
    assert cli.json("calls") == sdk.list_calls()
    assert cli.json("calls", "--open", "--mode", "fast_lane") == sdk.list_calls(True, "fast_lane")
    assert cli.json("call", "show", call_id) == sdk.get_call(call_id)
    assert cli.json("proposals") == sdk.list_proposals()
    assert cli.json("proposals", "due", "--until", "2099-12-31") == sdk.proposals_due("2099-12-31")
    assert cli.json("proposal", "show", proposal["id"]) == sdk.get_proposal(proposal["id"])
    assert cli.json("allocations") == sdk.list_allocations()
    assert cli.json("allocation", "show", alloc_id) == sdk.get_allocation(alloc_id)
    assert cli.json("reviews") == sdk.list_reviews() == []
    assert proposal["state"] == "accepted"


def test_a_proposal_that_breaks_rules_names_each_field_and_rule(cli: Cli) -> None:
    cli.login()
    applicant_org(cli)
    too_much = [{"partition": "local/local", "gpu_hours": 5000, "largest_job_gpus": 9}]
    bad = write(cli, "bad.yaml", example(resources=too_much, duration_months=6))
    result = cli("propose", bad, code=1)
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: Invalid input: ")
    assert lines[1:] == [
        "  resources[0].largest_job_gpus: local/local has 4 accelerators in all; a job of 9 "
        "cannot run there (rule technical_fit)",
        "  resources: playground allows at most 2,000 GPU-hours; asked for 5,000 "
        "(rule max_gpu_hours)",
        "  duration_months: playground allocations last 1, 2, 3 months (rule durations_months) "
        "(allowed: 1, 2, 3)",
    ]
    missing = example()
    del missing["abstract"]
    result = cli("propose", write(cli, "missing.yaml", missing), code=1)
    assert result.stderr.splitlines()[1] == "  abstract: Field required"
    assert cli.json("proposals") == []  # nothing was written

    # An industry organisation is not eligible to Fast Lane: the rule is named.
    cli(
        "org",
        "create",
        "bigco",
        "--kind",
        "industry",
        "--country",
        "FR",
        "--registration-id",
        "FR-1",
    )
    cli("project", "create", "vision", "--org", "bigco")
    fast = write(cli, "fast.yaml", example(call="fast_lane", project="vision"))
    assert "(rule eligible_kinds) (allowed: startup, sme)" in cli("propose", fast, code=1).stderr


def test_call_and_project_names_in_a_proposal(cli: Cli) -> None:
    cli.login()
    applicant_org(cli)
    result = cli("propose", write(cli, "p.yaml", example(project="nope")), code=1)
    assert result.stderr == "Error: no project named 'nope' that you can see\n"
    result = cli("propose", write(cli, "p.yaml", example(call="2099XX01")), code=1)
    assert "no call with id or code '2099XX01', and it is no mode (playground," in result.stderr
    # By code works as well as by mode.
    [call] = cli.json("calls", "--mode", "playground")
    draft = cli("propose", write(cli, "p.yaml", example(call=call["code"])), "--draft").stdout
    assert "(a draft has no reference yet)" in draft and "state: draft (draft)" in draft
    assert "Submit it with: aif proposal submit prop-" in draft
    draft_id = draft.split()[1].rstrip(":")
    assert "state: accepted" in cli("proposal", "submit", draft_id).stdout
    result = cli("proposal", "withdraw", draft_id, code=1)
    assert result.stderr.startswith("Error: Conflict: proposal ") and "accepted" in result.stderr

    # Two open Large Scale calls: `call: large_scale` is ambiguous; a closed mode has none.
    opened = cli("call", "open", str(EXAMPLES / "large-scale-call.yaml")).stdout
    assert re.match(
        r"Opened call 2026LS\d\d \(call-\w+\): large_scale on lumi/standard-g, ", opened
    )
    result = cli("propose", write(cli, "p.yaml", example(call="large_scale")), code=1)
    assert (
        "2 large_scale calls are open: " in result.stderr
        and "name one by code or id" in result.stderr
    )
    assert cli("call", "close", "playground").stdout.startswith(f"Closed call {call['code']} (")
    result = cli("propose", str(PLAYGROUND), code=1)
    assert result.stderr == "Error: no playground call is open today; see `aif calls`\n"
    assert cli.json("call", "show", call["code"])["open_problem"].startswith("call 2026PG")


def test_malformed_files_name_line_and_column(cli: Cli) -> None:
    cli.login()
    bad = cli.tmp / "bad.yaml"
    bad.write_text("call: playground\n  project: llm\n")
    for args in (
        ["propose", str(bad)],
        ["call", "open", str(bad)],
        ["allocation", "report", "alc-x", str(bad)],
    ):
        result = cli(*args, code=2)
        assert result.stderr == f"Error: {bad}:2:10: mapping values are not allowed here\n"
    result = cli("propose", "-", input="- a\n- list\n", code=2)
    assert (
        result.stderr
        == "Error: <stdin>: a proposal must be a mapping (call, project, title, ...)\n"
    )
    result = cli("call", "open", str(cli.tmp / "missing.yaml"), code=2)
    assert "cannot read" in result.stderr


# -- reviewers and operators --------------------------------------------------------------------
def large_scale_proposal(cli: Cli, ann: tuple[str, str]) -> str:
    applicant_org(cli, *ann, name="Beta AI", project="vision")
    form = example(
        call="large_scale",
        project="vision",
        title="A vision foundation model for European manufacturing",
        resources=[{"partition": "local/local", "gpu_hours": 60_000, "largest_job_gpus": 4}],
        duration_months=6,
    )
    out = cli(*ann, "propose", write(cli, "large.yaml", form)).stdout
    assert "state: technical_review (awaiting the technical check)" in out
    return out.split()[1].rstrip(":")


def test_reviewers_and_an_operator_take_a_large_scale_proposal_to_a_decision(cli: Cli) -> None:
    cli.login()  # the admin: an operator
    ann = user(cli, "ann")
    rita, rob, tess = (user(cli, name, "reviewer") for name in ("rita", "rob", "tess"))
    prop = large_scale_proposal(cli, ann)
    reference = cli.json(*ann, "proposal", "show", prop)["reference"]
    [call] = cli.json("calls", "--mode", "large_scale")
    assert reference == f"EHPC-AIF-{call['code']}-0001"

    due = cli.json("proposals", "due", "--until", "2099-12-31")
    assert [p["id"] for p in due] == [prop]
    assert row(cli("proposals", "due", "--until", "2099-12-31").stdout, prop)[-3] == (
        "technical_review"
    )

    # Rob knows Beta AI too well: he says so, and cannot be assigned.
    out = cli(*rob, "conflict", "declare", "Beta AI", "--reason", "I advised them").stdout
    assert out == "Declared a conflict of interest with 'Beta AI'\n"
    assert [c["organisation"] for c in cli.json(*rob, "conflicts")] == ["Beta AI"]
    assert row(cli(*rob, "conflicts").stdout, "Beta")[:3] == ["Beta", "AI", "I"]
    result = cli(
        "proposal", "assign", prop, "--reviewer", "rob@example.eu", "--kind", "peer", code=1
    )
    assert "(rule conflict_of_interest)" in result.stderr and "I advised them" in result.stderr
    result = cli(
        "proposal", "assign", prop, "--reviewer", "ann@example.eu", "--kind", "peer", code=1
    )
    assert "ann@example.eu does not have the platform role reviewer" in result.stderr

    # The technical review comes first; its pass moves the proposal to peer review.
    out = cli(
        "proposal", "assign", reference, "--reviewer", "rita@example.eu", "--kind", "technical"
    ).stdout
    assert out.startswith(f"Assigned rita@example.eu as technical reviewer of {reference} (")
    [review] = cli.json(*rita, "reviews", "--state", "requested")
    assert review["kind"] == "technical" and review["proposal_id"] == prop
    assert row(cli(*rita, "reviews").stdout, review["id"])[1:3] == [prop, reference]
    assert cli.json(*rob, "reviews") == []
    result = cli(*rita, "review", "submit", review["id"], "--score", "4", code=1)
    assert "passed: a technical review says whether the request fits" in result.stderr
    out = cli(*rita, "review", "submit", review["id"], "--pass", "--comment", "fits").stdout
    assert out.splitlines() == [
        f"Review {review['id']} submitted (technical: passed)",
        f"{reference} is now peer_review (technical review passed; needs 2 peer reviews)",
    ]
    shown = cli(*rita, "proposal", "show", prop).stdout
    assert row(shown, review["id"])[1:5] == ["technical", "submitted", user_id(cli, rita), "yes"]

    for email in ("rita@example.eu", "tess@example.eu"):
        cli("proposal", "assign", prop, "--reviewer", email, "--kind", "peer")
    result = cli("proposal", "decide", prop, "accept", "--reason", "early", code=1)
    assert "cannot be accepted yet: it needs 2 peer reviews and has 0" in result.stderr
    for reviewer, score in ((rita, "4"), (tess, "5")):
        [peer] = cli.json(*reviewer, "reviews", "--state", "requested")
        out = cli(*reviewer, "review", "submit", peer["id"], "--score", score).stdout
        assert out.startswith(f"Review {peer['id']} submitted (peer: score {score})")
    reviews = cli.json("reviews", "--proposal", prop)
    assert sorted((r["kind"], r["state"]) for r in reviews) == [
        ("peer", "submitted"),
        ("peer", "submitted"),
        ("technical", "submitted"),
    ]

    # The applicant reads what reviewers said, not who they are.
    applicant_view = cli.json(*ann, "proposal", "show", prop)
    assert {r["reviewer_id"] for r in applicant_view["reviews"]} == {None}
    assert "Reviews" in cli(*ann, "proposal", "show", prop).stdout

    lines = cli("proposal", "decide", prop, "accept", "--reason", "excellent").stdout.splitlines()
    assert lines[1] == "state: accepted (excellent)"
    assert lines[3].startswith("allocations: alc-")
    result = cli("proposal", "decide", prop, "reject", "--reason", "again", code=1)
    assert result.stderr.startswith("Error: Conflict: ")
    [alloc] = cli.json(*ann, "allocations")
    assert alloc["reference"] == reference and alloc["granted_gpu_hours"] == 60_000
    assert cli.json("proposals", "due", "--until", "2099-12-31") == []


def user_id(cli: Cli, token: tuple[str, str]) -> str:
    return str(cli.json(*token, "whoami")["id"])


def test_operators_grant_adjust_and_waive_and_applicants_report(cli: Cli) -> None:
    cli.login()
    ann = user(cli, "ann")
    project = applicant_org(cli, *ann, name="Beta AI", project="vision")
    out = cli(
        "allocation",
        "grant",
        "--project",
        project,
        "--partition",
        "local/local",
        "--gpu-hours",
        "100",
        "--ends",
        "2099-01-01",
        "--reason",
        "preparatory access",
    ).stdout
    assert re.fullmatch(
        r"Granted: allocation alc-\w+ on local/local, 100 of 100 GPU-hours left, "
        r"report due 2099-04-01\n",
        out,
    )
    [alloc] = cli.json(*ann, "allocations", "--org", "Beta AI")
    assert alloc["reference"] is None and alloc["ends_at"] == "2099-01-01T00:00:00Z"
    shown = cli(*ann, "allocation", "show", alloc["id"]).stdout
    assert row(shown, "reference")[1:] == ["(granted", "outside", "a", "call)"]

    out = cli("allocation", "adjust", alloc["id"], "--gpu-hours", "-40", "--reason", "unused")
    assert "60 of 100 GPU-hours left" in out.stdout
    result = cli(
        "allocation", "adjust", alloc["id"], "--gpu-hours", "-100", "--reason", "x", code=1
    )
    assert result.stderr.startswith("Error: Invalid input: gpu_hours: ")
    ledger = cli.json(*ann, "allocation", "show", alloc["id"])["ledger"]
    assert [(e["kind"], e["gpu_hours"], e["reason"]) for e in ledger] == [
        ("grant", 100, "preparatory access"),
        ("adjustment", -40, "unused"),
    ]
    result = cli(
        *ann, "allocation", "adjust", alloc["id"], "--gpu-hours", "5", "--reason", "x", code=1
    )
    assert result.stderr.startswith("Error: Forbidden: only operators adjust allocations")

    report = write(cli, "report.yaml", {"summary": "Trained it.", "publications": ["doi:10/x"]})
    out = cli(*ann, "allocation", "report", alloc["id"], report).stdout
    assert out.startswith("Report filed: ") and "report due 2099-04-01 (filed)" in out
    assert cli.json(*ann, "allocation", "show", alloc["id"])["report_filed_at"]
    result = cli("allocation", "waive", alloc["id"], "--reason", "late", code=1)
    assert "already filed or waived" in result.stderr

    [other] = (
        cli.json(
            "allocation",
            "grant",
            "--project",
            "vision",
            "--partition",
            "local/local",
            "--gpu-hours",
            "1",
            "--ends",
            "2099-01-01",
            "--reason",
            "pay-per-use",
        )["id"],
    )
    out = cli("allocation", "waive", other, "--reason", "pay-per-use needs none").stdout
    assert out.startswith("Report waived: ") and "(waived)" in out
    result = cli(
        "allocation",
        "grant",
        "--project",
        project,
        "--partition",
        "nowhere/x",
        "--gpu-hours",
        "1",
        "--ends",
        "2099-01-01",
        "--reason",
        "r",
        code=1,
    )
    assert "partition: unknown partition 'nowhere/x' (allowed: " in result.stderr
    result = cli(
        "allocation",
        "grant",
        "--project",
        project,
        "--partition",
        "local/local",
        "--gpu-hours",
        "1",
        "--ends",
        "01/01/2099",
        "--reason",
        "r",
        code=2,
    )
    assert (
        "Invalid value for '--ends'" in result.stderr and "'01/01/2099' does not" in result.stderr
    )
