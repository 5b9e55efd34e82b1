"""Bad input to access calls, on both databases: a proposal over the mode's bounds, from an
ineligible organisation, for a closed call or a partition outside the call answers 422 naming
the rule; a reviewer or operator from the applicant's organisation is refused (403, or 422
when assigning); deciding twice is 409; and nothing is half-written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from aifactory.db.tables import Allocation, AuditHead, Proposal
from tests.conftest import PROBLEM_JSON, Actor, Platform, proposal_form, quick_user


def _call(platform: Platform, mode: str) -> dict[str, Any]:
    (call,) = [c for c in platform.admin.get("/calls").json() if c["mode"] == mode]
    return call


def _written(platform: Platform) -> tuple[int, int]:
    """Proposals and audit events: a refused request must change neither."""
    with platform.runtime.db.read() as session:
        proposals = session.execute(select(func.count()).select_from(Proposal)).scalar_one()
        seq = session.execute(select(AuditHead.seq)).scalar_one()
    return proposals, seq


def _applicant(
    platform: Platform, who: str, org_name: str | None = None, **org: Any
) -> tuple[Actor, dict[str, Any]]:
    user = quick_user(platform, who)
    o = platform.org(
        user, org_name or f"{who.title()} Ltd", **{"kind": "sme", "country": "FI", **org}
    )
    return user, platform.project(user, o["id"], "p", gpu_hours=None)


def _res(gpu_hours: int, partition: str = "local/local", largest: int = 1) -> list[Any]:
    return [{"partition": partition, "gpu_hours": gpu_hours, "largest_job_gpus": largest}]


# (case, mode, org overrides, form overrides, field, rule)
RULES: list[tuple[str, str, dict[str, Any], dict[str, Any], str, str]] = [
    ("over playground's bound", "playground", {}, {"resources": _res(2001)}, "resources",
     "max_gpu_hours"),
    ("fast lane over 50,000", "fast_lane", {}, {"resources": _res(50_001)}, "resources",
     "max_gpu_hours"),
    ("large scale under its minimum", "large_scale", {"kind": "industry"},
     {"resources": _res(50_000)}, "resources", "min_gpu_hours"),
    ("duration not offered", "playground", {}, {"duration_months": 6}, "duration_months",
     "durations_months"),
    ("research org in fast lane", "fast_lane", {"kind": "research"}, {}, "organisation.kind",
     "eligible_kinds"),
    ("industry without an EU project", "ai_for_science", {"kind": "industry"},
     {"duration_months": 6}, "eu_project", "eu_project_required_for"),
    ("partition outside the call", "playground", {},
     {"resources": _res(10, "lumi/standard-g")}, "resources[0].partition", "partitions"),
    ("two systems in a one-system mode", "playground", {},
     {"resources": _res(10) + _res(10, "lumi/standard-g")}, "resources", "max_partitions"),
    ("largest job bigger than the partition", "playground", {},
     {"resources": _res(10, largest=1000)}, "resources[0].largest_job_gpus", "technical_fit"),
    ("prohibited practice", "playground", {},
     {"ai_act": {"intended_purpose": "social scoring", "prohibited_practice": True}},
     "ai_act.prohibited_practice", "ai_act"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "mode", "org", "form", "field", "rule"), RULES, ids=[r[0] for r in RULES]
)
def test_a_proposal_breaking_a_rule_is_422_naming_it_and_writes_nothing(
    platform: Platform,
    case: str,
    mode: str,
    org: dict[str, Any],
    form: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    user, project = _applicant(platform, "applicant", **org)
    call = _call(platform, mode)
    before = _written(platform)

    r = user.post("/proposals", proposal_form(call["id"], project["id"], **form))

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    errors = r.json()["errors"]
    assert {"field": field, "rule": rule} in [
        {"field": e["field"], "rule": e.get("rule")} for e in errors
    ], errors
    assert _written(platform) == before


def test_a_closed_call_takes_no_proposal(platform: Platform) -> None:
    user, project = _applicant(platform, "late")
    call = _call(platform, "fast_lane")
    r = platform.admin.post(f"/calls/{call['id']}/close")
    assert r.status_code == 200 and r.json()["is_open"] is False
    assert platform.admin.post(f"/calls/{call['id']}/close").status_code == 409
    before = _written(platform)
    r = user.post("/proposals", proposal_form(call["id"], project["id"]))
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert (error["field"], error["rule"]) == ("call", "call_open")
    assert "was closed on" in error["message"]
    assert _written(platform) == before
    # Only operators open and close calls.
    assert user.post(f"/calls/{call['id']}/close").status_code == 403
    assert user.get(f"/calls/{call['id']}").status_code == 200


def test_a_draft_breaking_a_rule_stays_a_draft_when_submitted(platform: Platform) -> None:
    user, project = _applicant(platform, "drafty")
    call = _call(platform, "playground")
    form = proposal_form(call["id"], project["id"], resources=_res(5000))
    draft = user.post("/proposals", form, params={"draft": True}).json()
    before = _written(platform)
    r = user.post(f"/proposals/{draft['id']}/submit")
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "max_gpu_hours"
    assert _written(platform) == before
    assert user.get(f"/proposals/{draft['id']}").json()["state"] == "draft"


def test_an_overdue_final_report_blocks_new_proposals_until_filed_or_waived(
    platform: Platform,
) -> None:
    user, project = _applicant(platform, "tardy")
    pg = _call(platform, "playground")
    accepted = user.post("/proposals", proposal_form(pg["id"], project["id"])).json()
    (alloc_id,) = accepted["allocation_ids"]
    # The allocation ended four months ago; its report was due a month ago. (The API uses the
    # wall clock, so the row is moved into the past directly.)
    with platform.runtime.db.write() as session:
        session.execute(
            update(Allocation)
            .where(Allocation.id == alloc_id)
            .values(report_due_on=date.today() - timedelta(days=30))
        )
    assert user.get(f"/allocations/{alloc_id}").json()["report_overdue"] is True
    before = _written(platform)
    r = user.post("/proposals", proposal_form(pg["id"], project["id"]))
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert (error["field"], error["rule"]) == ("organisation", "final_report_overdue")
    assert alloc_id in error["message"]
    assert _written(platform) == before

    # Filing it lifts the block; a second filing is refused.
    r = user.post(f"/allocations/{alloc_id}/report", {"summary": "We fine-tuned the model."})
    assert r.status_code == 200, r.text
    assert r.json()["report_overdue"] is False
    assert user.post(f"/allocations/{alloc_id}/report", {"summary": "again"}).status_code == 409
    assert user.post("/proposals", proposal_form(pg["id"], project["id"])).status_code == 201


def test_an_operator_can_waive_an_overdue_report_with_a_reason(platform: Platform) -> None:
    user, project = _applicant(platform, "waived")
    pg = _call(platform, "playground")
    (alloc_id,) = user.post("/proposals", proposal_form(pg["id"], project["id"])).json()[
        "allocation_ids"
    ]
    with platform.runtime.db.write() as session:
        session.execute(
            update(Allocation)
            .where(Allocation.id == alloc_id)
            .values(report_due_on=date.today() - timedelta(days=1))
        )
    # The applicant cannot waive their own report.
    assert user.post(f"/allocations/{alloc_id}/report-waiver", {"reason": "x"}).status_code == 403
    r = platform.admin.post(f"/allocations/{alloc_id}/report-waiver", {"reason": "project ended"})
    assert r.status_code == 200, r.text
    assert r.json()["report_overdue"] is False
    assert user.post("/proposals", proposal_form(pg["id"], project["id"])).status_code == 201


@pytest.fixture
def large_scale(platform: Platform) -> dict[str, Any]:
    """A Large Scale proposal of Acme (owner ann), in technical review; a reviewer ron from
    Acme; an outside reviewer rita; an operator olga who is also a member of Acme."""
    ann, project = _applicant(platform, "ann", "Acme AI", kind="industry")
    ron = quick_user(platform, "ron", roles=("reviewer",))
    rita = quick_user(platform, "rita", roles=("reviewer",))
    olga = quick_user(platform, "olga", roles=("operator",))
    org_id = project["org_id"]
    for member in (ron, olga):
        r = ann.post(f"/orgs/{org_id}/members", {"email": member.email, "role": "member"})
        assert r.status_code == 201, r.text
    call = _call(platform, "large_scale")
    form = proposal_form(call["id"], project["id"], resources=_res(60_000), duration_months=3)
    proposal = ann.post("/proposals", form).json()
    assert proposal["state"] == "technical_review", proposal
    return {"ann": ann, "ron": ron, "rita": rita, "olga": olga, "proposal": proposal}


def test_a_reviewer_from_the_applicants_organisation_cannot_be_assigned(
    platform: Platform, large_scale: dict[str, Any]
) -> None:
    pid = large_scale["proposal"]["id"]
    before = _written(platform)
    r = platform.admin.post(
        f"/proposals/{pid}/reviewers", {"reviewer": large_scale["ron"].email, "kind": "technical"}
    )
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert (error["field"], error["rule"]) == ("reviewer", "conflict_of_interest")
    assert "member of the applicant organisation" in error["message"]
    assert _written(platform) == before


def test_a_declared_conflict_blocks_the_assignment_and_a_later_review(
    platform: Platform, large_scale: dict[str, Any]
) -> None:
    pid, rita = large_scale["proposal"]["id"], large_scale["rita"]
    admin = platform.admin
    r = admin.post(f"/proposals/{pid}/reviewers", {"reviewer": rita.email, "kind": "technical"})
    assert r.status_code == 201, r.text
    review_id = r.json()["id"]
    # Declared after the assignment: the review is refused when she tries to submit it.
    r = rita.post("/reviewer/conflicts", {"organisation": "ACME ai", "reason": "co-authors"})
    assert r.status_code == 201, r.text
    assert rita.get("/reviewer/conflicts").json()[0]["organisation"] == "ACME ai"
    r = rita.post(f"/reviews/{review_id}", {"passed": True})
    assert r.status_code == 403 and "conflict of interest" in r.json()["detail"]
    # ... and she cannot be assigned again.
    r = admin.post(f"/proposals/{pid}/reviewers", {"reviewer": rita.email, "kind": "peer"})
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "conflict_of_interest"
    # Only reviewers declare conflicts; only users with the reviewer role are assigned.
    ann = large_scale["ann"]
    assert ann.post("/reviewer/conflicts", {"organisation": "X", "reason": "y"}).status_code == 403
    r = admin.post(f"/proposals/{pid}/reviewers", {"reviewer": ann.email, "kind": "peer"})
    assert r.status_code == 422 and "platform role reviewer" in r.json()["errors"][0]["message"]


def test_deciding_ones_own_organisations_proposal_is_403_and_twice_is_409(
    platform: Platform, large_scale: dict[str, Any]
) -> None:
    pid, olga, ann = large_scale["proposal"]["id"], large_scale["olga"], large_scale["ann"]
    decide: Callable[[Actor, str], Any] = lambda who, d: who.post(  # noqa: E731
        f"/proposals/{pid}/decision", {"decision": d, "reason": "because"}
    )
    before = _written(platform)
    r = decide(olga, "reject")
    assert r.status_code == 403 and "applicant's organisation" in r.json()["detail"]
    assert decide(ann, "accept").status_code == 403  # applicants do not decide
    assert decide(large_scale["rita"], "accept").status_code == 404  # not hers to see
    assert _written(platform) == before
    assert ann.get(f"/proposals/{pid}").json()["state"] == "technical_review"


def test_deciding_twice_is_409(platform: Platform, large_scale: dict[str, Any]) -> None:
    pid = large_scale["proposal"]["id"]
    outsider = quick_user(platform, "oscar", roles=("operator",))
    r = outsider.post(f"/proposals/{pid}/decision", {"decision": "reject", "reason": "weak"})
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    before = _written(platform)
    r = outsider.post(f"/proposals/{pid}/decision", {"decision": "accept", "reason": "oops"})
    assert r.status_code == 409 and "already rejected" in r.json()["detail"]
    assert _written(platform) == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/calls", {"title": "T", "mode": "fast_lane", "partitions": ["nowhere/x"]},
         "partitions[0]"),
        ("/calls", {"title": "T", "mode": "large_scale", "partitions": ["local/local"]},
         "cutoffs"),
        ("/calls", {"title": "T", "mode": "playground", "partitions": ["local/local"],
                    "rules": {"max_gpu_hours": 0}}, "rules.max_gpu_hours"),
        ("/calls", {"title": "T", "mode": "teleport", "partitions": ["local/local"]}, "mode"),
        ("/allocations", {"project_id": "x", "partition": "local/local", "gpu_hours": 1,
                          "ends_at": "2030-01-01T00:00:00"}, "ends_at"),
    ],
)  # fmt: skip
def test_operator_input_is_checked_at_the_edge(
    platform: Platform, path: str, body: dict[str, Any], field: str
) -> None:
    before = _written(platform)
    body = {**body, "reason": "r"} if path == "/allocations" else body
    r = platform.admin.post(path, body)
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert any(f == field or f.startswith(field) for f in fields), fields
    assert _written(platform) == before
