"""The use-case register over the API, as a start-up meets it: a chatbot is shown its
transparency obligations with the rationale answer by answer; a prohibited practice gets no
compute (no job, no proposal) until a compliance officer, with a reason, says otherwise; every
change is audited; another tenant sees none of it; bad registers are refused by field."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.compliance.risk import QUESTIONS
from tests.conftest import Actor, Platform, job_spec, proposal_form, quick_user


def answers(*yes: str) -> dict[str, bool]:
    return {q.id: q.id in yes for q in QUESTIONS}


def chatbot(*yes: str) -> dict[str, Any]:
    return {
        "intended_purpose": "A support chatbot answering customers' questions on invoices",
        "sector": "customer service",
        "answers": answers(*yes) if yes else answers("art50_1"),
    }


def _startup(platform: Platform, name: str = "sofia") -> tuple[Actor, dict[str, Any]]:
    user = quick_user(platform, name)
    org = platform.org(user, f"{name.title()} Bots", kind="startup")
    return user, platform.project(user, org["id"], "helpdesk-bot")


def _events(platform: Platform, action: str) -> list[dict[str, Any]]:
    items = platform.admin.get("/audit/events", params={"limit": 500}).json()["items"]
    return [e for e in items if e["action"] == action]


def test_a_chatbot_is_told_its_transparency_obligation_with_the_rationale(
    platform: Platform,
) -> None:
    user, project = _startup(platform)
    questions = user.get("/compliance/questions").json()
    assert [q["id"] for q in questions] == [q.id for q in QUESTIONS]
    r = user.put(f"/projects/{project['id']}/use-case", chatbot())
    assert r.status_code == 201, r.text
    uc = r.json()
    assert uc["risk_class"] == uc["derived_class"] == "transparency"
    assert uc["obligations"] == ["tell people they interact with an AI system"]
    assert uc["blocks_compute"] is False and uc["review"] is None
    says = [f["says"] for f in uc["rationale"]]
    assert len(says) == 20 and says[0] == "Art. 5(1)(a): no"
    assert (
        "Art. 50(1): yes, a transparency obligation (tell people they interact with an AI system)"
        in says
    )
    assert user.get(f"/projects/{project['id']}/use-case").json() == uc
    (event,) = _events(platform, "use_case.register")
    assert event["object_id"] == project["id"] and event["data"]["class"] == "transparency"
    # A change answers 200 and derives the class anew: now also employment (Annex III(4)).
    r = user.put(f"/projects/{project['id']}/use-case", chatbot("art50_1", "annex3_4"))
    assert r.status_code == 200 and r.json()["risk_class"] == "high-risk"
    assert r.json()["areas"] == ["employment and worker management"]


def test_a_prohibited_use_case_gets_no_job_and_no_proposal(platform: Platform) -> None:
    user, project = _startup(platform, "sam")
    social = {
        "intended_purpose": "Score residents on their social behaviour for benefit decisions",
        "sector": "public administration",
        "answers": answers("art5_c", "annex3_5"),
    }
    uc = user.put(f"/projects/{project['id']}/use-case", social).json()
    assert uc["risk_class"] == "prohibited" and uc["blocks_compute"] is True
    r = user.post("/jobs", job_spec(project["id"]))
    assert r.status_code == 403, r.text
    assert (
        "prohibited practice under the AI Act, Art. 5: social scoring (Art. 5(1)(c))"
        in (r.json()["detail"])
    )
    assert user.get("/jobs").json()["total"] == 0  # nothing written
    (refused,) = _events(platform, "job.refused")
    assert refused["object_id"] == project["id"] and refused["data"]["rule"] == "ai_act_art5"

    pg = next(c for c in user.get("/calls").json() if c["mode"] == "playground")
    form = proposal_form(
        pg["id"],
        project["id"],
        resources=[{"partition": "local/local", "gpu_hours": 2, "largest_job_gpus": 1}],
        duration_months=1,
    )
    r = user.post("/proposals", form)
    assert r.status_code == 422, r.text
    (problem,) = [e for e in r.json()["errors"] if e["field"] == "project_id"]
    assert problem["rule"] == "ai_act_art5" and "social scoring" in problem["message"]


def test_a_compliance_officer_overrides_with_a_reason_and_it_is_audited(
    platform: Platform,
) -> None:
    user, project = _startup(platform, "ines")
    officer = quick_user(platform, "clara", roles=("compliance",))
    # Emotion recognition answered yes by mistake: the tool detects frustration in the
    # customer's own messages to hand over to a person, not at work or in school.
    uc = user.put(f"/projects/{project['id']}/use-case", chatbot("art5_f", "art50_1")).json()
    assert uc["risk_class"] == "prohibited"
    path = f"/projects/{project['id']}/use-case/review"
    # The project's own members may not review it; an officer must give a reason.
    assert user.post(path, {"decision": "confirmed", "reason": "looks right"}).status_code == 403
    r = officer.post(path, {"decision": "overridden", "reason": "short"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = officer.post(path, {"decision": "overridden", "reason": "a long enough reason"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "risk_class"
    reason = "Frustration in customers' own chat messages, not emotion recognition at work"
    r = officer.post(
        path, {"decision": "overridden", "risk_class": "transparency", "reason": reason}
    )
    assert r.status_code == 200, r.text
    uc = r.json()
    assert (uc["risk_class"], uc["derived_class"]) == ("transparency", "prohibited")
    assert uc["review"] == "overridden" and uc["review_reason"] == reason
    assert user.post("/jobs", job_spec(project["id"])).status_code == 201  # compute again
    (event,) = _events(platform, "use_case.override")
    assert event["actor"] == officer.user_id
    assert event["data"] == {"derived": "prohibited", "class": "transparency", "reason": reason}
    # New answers clear the review: it was of other answers.
    again = user.put(f"/projects/{project['id']}/use-case", chatbot("art5_f")).json()
    assert again["review"] is None and again["risk_class"] == "prohibited"
    # A confirmation keeps the derived class.
    r = officer.post(path, {"decision": "confirmed", "reason": "Emotion recognition of staff"})
    assert r.status_code == 200 and r.json()["risk_class"] == "prohibited"
    assert _events(platform, "use_case.confirm")


def test_another_tenant_sees_none_of_it(platform: Platform) -> None:
    user, project = _startup(platform, "tom")
    user.put(f"/projects/{project['id']}/use-case", chatbot())
    other, _ = _startup(platform, "eve")
    path = f"/projects/{project['id']}/use-case"
    assert other.get(path).status_code == 404
    assert other.put(path, chatbot()).status_code == 404
    assert other.post(
        f"{path}/review", {"decision": "confirmed", "reason": "x" * 20}
    ).status_code in (
        403,
        404,
    )
    assert user.get("/projects/prj_nonexistent/use-case").status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"intended_purpose": "  "}, "intended_purpose", "pattern"),
        ({"sector": ""}, "sector", "at least 1 character"),
        (
            {"answers": {k: v for k, v in answers().items() if k != "art5_c"}},
            "answers.art5_c",
            "required",
        ),
        ({"answers": {**answers(), "art5_z": True}}, "answers.art5_z", "not permitted"),
        ({"answers": {**answers(), "art50_1": "maybe"}}, "answers.art50_1", "valid boolean"),
        ({"intended_purpose": "x" * 2001}, "intended_purpose", "2000"),
        ({"risk_class": "minimal"}, "risk_class", "extra"),
    ],
)
def test_a_bad_register_names_the_field_and_writes_nothing(
    platform: Platform, change: dict[str, Any], field: str, says: str
) -> None:
    user, project = _startup(platform, "bob")
    r = user.put(f"/projects/{project['id']}/use-case", {**chatbot(), **change})
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    hit = [e for e in errors if e["field"] == field]
    assert hit and says.lower() in hit[0]["message"].lower(), errors
    assert user.get(f"/projects/{project['id']}/use-case").status_code == 404
    assert not _events(platform, "use_case.register")
