"""The calls, proposals, reviews and decisions pages, as an applicant, a reviewer and an
operator use them: apply to Playground from the form and get an allocation, refusals beside
their fields, the operators' queue of decisions due, a technical review and a conflict of
interest."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from aifactory.db.tables import AuditEvent, Proposal
from tests.conftest import Actor, Platform, proposal_form, quick_user
from tests.web.portal import Browser, anonymous, browser_of, field_error


@pytest.fixture
def platform(sqlite_platform: Platform) -> Platform:
    """Page tests: the database does not matter here (tests/api covers both)."""
    return sqlite_platform


def _call(platform: Platform, mode: str) -> dict[str, Any]:
    (call,) = [c for c in platform.admin.get("/calls").json() if c["mode"] == mode]
    return dict(call)


def _applicant(
    platform: Platform, name: str, kind: str = "sme"
) -> tuple[Actor, Browser, dict[str, Any], dict[str, Any]]:
    user = quick_user(platform, name)
    org = platform.org(user, f"{name.title()} AI", kind=kind, country="FI")
    project = platform.project(user, org["id"], "llm-pilot", gpu_hours=None)
    return user, browser_of(platform, user), org, project


def form_fields(org_id: str, project_id: str, **kw: str) -> dict[str, str]:
    """What a person types in the application form for a Playground request."""
    fields = {
        "org": org_id,
        "project": project_id,
        "project_name": "",
        "title": "Triage notes pilot",
        "abstract": "Fine-tune an open model for clinical triage notes.",
        "sector": "health",
        "work_types.fine_tuning": "yes",
        "why_this_scale": "A workstation takes weeks per run.",
        "principal_investigator.name": "Ada Lovelace",
        "principal_investigator.email": "ada@example.eu",
        "team": "Grace Hopper <grace@example.eu>",
        "resources.0.gpu_hours": "100",
        "resources.0.largest_job_gpus": "1",
        "resources.0.storage_tb": "",
        "duration_months": "1",
        "code_readiness.frameworks": "pytorch, deepspeed",
        "code_readiness.scaling_shown": "1 GPU, 12 h",
        "data.description": "anonymised notes",
        "data.origin": "a partner hospital in FI",
        "work_plan.0.month": "1",
        "work_plan.0.title": "baseline",
        "work_plan.1.month": "",
        "work_plan.1.title": "",
        "work_plan.2.month": "1",
        "work_plan.2.title": "evaluation",
        "ai_act.intended_purpose": "triage support",
        "ai_act.prohibited_practice": "no",
    }
    fields.update(kw)
    return fields


def _proposal_id(r: Any) -> str:
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/proposals/(prop-\w+)", r.headers["location"])
    assert found, r.headers["location"]
    return found.group(1)


def test_calls_list_says_what_each_allows_and_a_call_page_its_rules(platform: Platform) -> None:
    _, ada, _, _ = _applicant(platform, "ada")
    pg = _call(platform, "playground")
    html = ada.get("/calls").text
    assert "AI Factory Playground" in html and "2,000" in html
    assert "startup, sme, industry" in html and "within 2 working days of submission" in html
    assert f'href="/calls/{pg["id"]}/apply"' in html
    page = ada.get(f"/calls/{pg['id']}")
    assert page.status_code == 200
    assert "within 2 working days of submission" in page.text and "automatic" in page.text
    assert "a proposal sent today is decided by" in page.text
    assert ada.get("/calls/call_nope").status_code == 404
    assert anonymous(platform).get("/calls").status_code == 303  # to the log-in page


def test_an_sme_applies_to_playground_from_the_form_and_gets_an_allocation(
    platform: Platform,
) -> None:
    user, ada, org, project = _applicant(platform, "ada")
    pg = _call(platform, "playground")
    form = ada.get(f"/calls/{pg['id']}/apply")
    assert form.status_code == 200 and 'name="resources.0.gpu_hours"' in form.text
    assert 'value="ada@example.eu"' in form.text  # the PI defaults to me
    pid = _proposal_id(ada.post(f"/calls/{pg['id']}/apply", form_fields(org["id"], project["id"])))

    page = ada.get(f"/proposals/{pid}").text
    assert "accepted" in page and f"EHPC-AIF-{pg['code']}-0001" in page
    for step in ("draft", "submitted", "eligibility", "technical review", "accepted"):
        assert step in page
    assert "automatic check passed" in page
    assert f'href="/projects/{project["id"]}"' in page  # the allocation is the project's
    (alloc,) = user.get("/allocations").json()
    assert alloc["granted_gpu_hours"] == 100.0 and alloc["id"] in page
    detail = user.get(f"/proposals/{pid}").json()
    assert detail["form"]["team"] == [{"name": "Grace Hopper", "email": "grace@example.eu"}]
    assert [m["title"] for m in detail["form"]["work_plan"]] == ["baseline", "evaluation"]
    assert detail["form"]["code_readiness"]["frameworks"] == ["pytorch", "deepspeed"]
    mine = ada.get("/proposals").text
    assert "Triage notes pilot" in mine and f"/proposals/{pid}" in mine


def test_a_refused_form_says_each_error_beside_its_field_and_keeps_the_input(
    platform: Platform,
) -> None:
    user, ada, org, project = _applicant(platform, "ada")
    pg = _call(platform, "playground")
    r = ada.post(
        f"/calls/{pg['id']}/apply",
        form_fields(
            org["id"],
            project["id"],
            title="",
            **{"resources.0.gpu_hours": "lots", "work_types.fine_tuning": ""},
        ),
    )
    assert r.status_code == 422
    assert field_error(r.text, "title")
    assert "integer" in field_error(r.text, "resources-0-gpu_hours")
    assert field_error(r.text, "work_types")
    assert 'aria-describedby="title-error"' in r.text
    assert "Fine-tune an open model for clinical triage notes." in r.text  # kept
    assert 'value="lots"' in r.text

    # The call's rules, checked by the service: too many hours for Playground.
    r = ada.post(
        f"/calls/{pg['id']}/apply",
        form_fields(org["id"], project["id"], **{"resources.0.gpu_hours": "5000"}),
    )
    assert r.status_code == 422
    assert "at most 2,000 GPU-hours; asked for 5,000" in field_error(r.text, "resources")
    # A new project's name is checked, and a refused proposal creates no project.
    r = ada.post(
        f"/calls/{pg['id']}/apply",
        form_fields(org["id"], "new", project_name="vision", **{"resources.0.gpu_hours": "5000"}),
    )
    assert r.status_code == 422 and field_error(r.text, "resources")
    assert user.get("/proposals").json() == []
    assert [p["name"] for p in user.get("/projects").json()] == ["llm-pilot"]


def test_an_ineligible_organisation_kind_is_refused_with_the_reason(platform: Platform) -> None:
    user, ada, org, project = _applicant(platform, "rhea", kind="research")
    pg = _call(platform, "playground")
    r = ada.post(f"/calls/{pg['id']}/apply", form_fields(org["id"], project["id"]))
    assert r.status_code == 422
    assert (
        "playground is open to startup, sme, industry; the organisation is research"
        in field_error(r.text, "org")
    )
    assert user.get("/proposals").json() == []


def test_applying_with_another_tenants_project_is_refused(platform: Platform) -> None:
    ada, _, _, project = _applicant(platform, "ada")
    _, bob, bob_org, _ = _applicant(platform, "bob")
    pg = _call(platform, "playground")
    r = bob.post(f"/calls/{pg['id']}/apply", form_fields(bob_org["id"], project["id"]))
    assert r.status_code == 422 and field_error(r.text, "project")  # not among his
    assert ada.get("/proposals").json() == []


def test_an_operator_decides_a_playground_proposal_from_the_queue(platform: Platform) -> None:
    # A Playground call whose proposals an operator decides: the automatic check, then a
    # decision within 2 working days.
    spec = {
        "title": "Playground, decided",
        "mode": "playground",
        "partitions": ["local/local"],
        "rules": {"operator_decision": True},
    }
    call = platform.admin.post("/calls", spec).json()
    user, ada, org, _ = _applicant(platform, "ada")
    pid = _proposal_id(
        ada.post(f"/calls/{call['id']}/apply", form_fields(org["id"], "new", project_name="vision"))
    )
    page = ada.get(f"/proposals/{pid}").text
    detail = user.get(f"/proposals/{pid}").json()
    assert detail["state"] == "technical_review"
    assert f"by {detail['decision_due_on']}" in page and "awaiting an operator" in page
    (new_project,) = [p for p in user.get("/projects").json() if p["name"] == "vision"]
    assert detail["project_id"] == new_project["id"]

    olga = browser_of(platform, quick_user(platform, "olga", roles=("operator",)))
    queue = olga.get("/decisions").text
    assert detail["reference"] in queue and detail["decision_due_on"] in queue
    assert "OVERDUE" not in queue
    with platform.runtime.db.write() as session:  # time passes: the decision is late
        session.execute(
            update(Proposal)
            .where(Proposal.id == pid)
            .values(decision_due_on=date.today() - timedelta(days=1))
        )
    assert "OVERDUE" in olga.get("/decisions").text

    r = olga.post(f"/proposals/{pid}/decision", {"decision": "accept", "reason": ""})
    assert r.status_code == 422 and field_error(r.text, f"{pid}-accept-reason")
    r = olga.post(f"/proposals/{pid}/decision", {"decision": "accept", "reason": "fits well"})
    assert r.status_code == 303
    assert user.get(f"/proposals/{pid}").json()["state"] == "accepted"
    (alloc,) = user.get("/allocations", params={"project_id": new_project["id"]}).json()
    assert alloc["granted_gpu_hours"] == 100.0
    page = ada.get(f"/proposals/{pid}").text
    assert alloc["id"] in page and "fits well" in page
    assert f'href="/projects/{new_project["id"]}"' in page
    assert detail["reference"] not in olga.get("/decisions").text  # decided: off the queue
    with platform.runtime.db.read() as session:
        actions = session.execute(
            select(AuditEvent.action).where(AuditEvent.object_id == pid)
        ).scalars()
        assert "proposal.accepted" in list(actions)


def test_decisions_are_for_operators_only(platform: Platform) -> None:
    _, ada, org, project = _applicant(platform, "ada")
    r = ada.get("/decisions")
    assert r.status_code == 403 and "only operators" in r.text
    pid = _proposal_id(
        ada.post(
            f"/calls/{_call(platform, 'fast_lane')['id']}/apply",
            form_fields(org["id"], project["id"]),
        )
    )
    r = ada.post(f"/proposals/{pid}/decision", {"decision": "accept", "reason": "mine"})
    assert r.status_code == 403
    assert "Decisions due" not in ada.get("/calls").text  # not in her navigation


def test_a_reviewer_passes_a_technical_review_and_declares_a_conflict(
    platform: Platform,
) -> None:
    user, ada, _, project = _applicant(platform, "ada")
    fl = _call(platform, "fast_lane")
    pid = user.post("/proposals", proposal_form(fl["id"], project["id"])).json()["id"]
    carol_actor = quick_user(platform, "carol", roles=("reviewer",))
    carol = browser_of(platform, carol_actor)
    olga = browser_of(platform, quick_user(platform, "olga", roles=("operator",)))

    r = olga.post(f"/proposals/{pid}/reviewers", {"reviewer": "nobody@example.eu"})
    assert r.status_code == 422 and field_error(r.text, "kind")
    assert 'value="nobody@example.eu"' in r.text  # kept
    r = olga.post(
        f"/proposals/{pid}/reviewers", {"reviewer": "nobody@example.eu", "kind": "technical"}
    )
    assert r.status_code == 422 and "no account" in field_error(r.text, "reviewer")
    r = olga.post(f"/proposals/{pid}/reviewers", {"reviewer": carol_actor.email, "kind": "peer"})
    assert r.status_code == 422 and "no peer review" in field_error(r.text, "kind")
    r = olga.post(
        f"/proposals/{pid}/reviewers", {"reviewer": carol_actor.email, "kind": "technical"}
    )
    assert r.status_code == 303

    listing = carol.get("/reviews").text
    (rid,) = re.findall(r'href="/reviews/(rev-\w+)"', listing)
    page = carol.get(f"/reviews/{rid}").text
    assert "A workstation takes weeks per run." in page and 'name="passed"' in page
    r = carol.post(f"/reviews/{rid}", {"comments": "fits"})
    assert r.status_code == 422 and "whether the request fits" in field_error(r.text, "passed")
    assert (
        carol.post(f"/reviews/{rid}", {"passed": "yes", "comments": "fits one GPU"}).status_code
        == 303
    )
    assert user.get(f"/proposals/{pid}").json()["state"] == "accepted"  # first come, first served
    applicant_view = ada.get(f"/proposals/{pid}").text
    assert "fits one GPU" in applicant_view and carol_actor.email not in applicant_view

    # A conflict of interest declared on the reviews page keeps carol off Dora's proposals.
    r = carol.post("/reviewer/conflicts", {"organisation": "Dora AI", "reason": ""})
    assert r.status_code == 422 and field_error(r.text, "reason")
    r = carol.post("/reviewer/conflicts", {"organisation": "Dora AI", "reason": "my brother"})
    assert r.status_code == 303 and "Dora AI: my brother" in carol.get("/reviews").text
    dora, _, _, dora_project = _applicant(platform, "dora")
    dpid = dora.post("/proposals", proposal_form(fl["id"], dora_project["id"])).json()["id"]
    r = olga.post(
        f"/proposals/{dpid}/reviewers", {"reviewer": carol_actor.email, "kind": "technical"}
    )
    assert r.status_code == 422 and "declared a conflict" in field_error(r.text, "reviewer")


def test_an_applicant_withdraws_a_proposal(platform: Platform) -> None:
    user, ada, _, project = _applicant(platform, "ada")
    fl = _call(platform, "fast_lane")
    pid = user.post("/proposals", proposal_form(fl["id"], project["id"])).json()["id"]
    assert "Withdraw this proposal" in ada.get(f"/proposals/{pid}").text
    forged = ada.client.post(f"/proposals/{pid}/withdraw", data={"csrf": "wrong"})
    assert forged.status_code == 403
    assert ada.post(f"/proposals/{pid}/withdraw").status_code == 303
    assert user.get(f"/proposals/{pid}").json()["state"] == "withdrawn"
    r = ada.post(f"/proposals/{pid}/withdraw")
    assert r.status_code == 409 and "already withdrawn" in field_error(r.text, "withdraw")
