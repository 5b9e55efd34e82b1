"""Compliance cases from the deadlines loop's pass (``cases.run_once``, as the loop runs it):
a pretraining whose allocation would carry it past 1e23 FLOP gets a case with its due date,
its compliance officers and owners a mail, once; a forecast that comes true is the same case;
officers close it with a reason; another tenant sees none of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from aifactory.compliance.compute import Rules
from aifactory.db.tables import OutboxMail
from aifactory.services.compliance import cases, ledger
from aifactory.services.ids import utcnow
from tests.conftest import Actor, Platform, job_spec, quick_user, run_until_final


def _pretraining(platform: Platform, name: str, hours: int, partition: str) -> tuple[Actor, str]:
    user = quick_user(platform, name)
    org = platform.org(user, f"{name.title()} Labs", kind="startup")
    project = platform.project(user, org["id"], "pretrain", gpu_hours=None)
    platform.grant(project["id"], hours, (partition,))
    r = user.post(
        "/models",
        {
            "project_id": project["id"],
            "name": "euro-llm",
            "architecture": "decoder-only transformer",
            "modality_in": ["text"],
            "modality_out": ["text"],
        },
    )
    assert r.status_code == 201, r.text
    v = user.post("/models/euro-llm/versions", {"version": "0.1"})
    assert v.status_code == 201, v.text
    return user, str(project["id"])


def _mails(platform: Platform) -> list[OutboxMail]:
    with platform.runtime.db.read() as session:
        rows = session.execute(
            select(OutboxMail).where(OutboxMail.topic == "compliance.case")
        ).scalars()
        return list(rows)


def _scan(platform: Platform, rules: Rules | None = None) -> int:
    rt = platform.runtime
    return cases.run_once(rt.db, rt.catalog, rules or ledger.rules_of(rt.settings))


def _events(platform: Platform, action: str) -> list[dict[str, Any]]:
    items = platform.admin.get("/audit/events", params={"limit": 500}).json()["items"]
    return [e for e in items if e["action"] == action]


def test_a_forecast_past_the_gpai_criterion_opens_one_case_and_tells_its_people(
    platform: Platform,
) -> None:
    officer = quick_user(platform, "clara", roles=("compliance",))
    user, _project = _pretraining(platform, "piet", 80_000, "marenostrum5/acc")
    assert _scan(platform) == 1
    assert _scan(platform) == 0  # the next pass finds it open: nothing new
    (case,) = officer.get("/compliance/cases").json()
    assert (case["threshold"], case["basis"], case["state"]) == ("gpai", "forecast", "open")
    assert case["flop"] > 1e23 and case["limit_flop"] == 1e23
    assert case["due_on"] == (utcnow().date() + timedelta(days=14)).isoformat()
    assert user.get("/compliance/cases").json() == [case]  # its organisation sees it
    (mail,) = _mails(platform)
    assert set(mail.recipients) == {"clara@example.eu", "piet@example.eu"}
    assert mail.subject == "euro-llm 0.1 is forecast to cross the GPAI criterion (1e+23 FLOP)"
    assert f"by {case['due_on']} (AI Act, Art. 52(1))" in mail.body
    (opened,) = _events(platform, "compliance.case.open")
    assert opened["object_id"] == case["id"] and opened["data"]["basis"] == "forecast"

    path = f"/compliance/cases/{case['id']}/close"
    assert user.post(path, {"reason": "we will notify"}).status_code == 403
    assert officer.post(path, {"reason": "short"}).status_code == 422
    reason = "Notified the Commission on 2026-12-09, reference GPAI-0042"
    closed = officer.post(path, {"reason": reason}).json()
    assert closed["state"] == "closed" and closed["close_reason"] == reason
    assert officer.post(path, {"reason": reason}).status_code == 409
    assert _events(platform, "compliance.case.close")[0]["data"] == {"reason": reason}
    assert officer.get("/compliance/cases", params={"state": "open"}).json() == []
    assert _scan(platform) == 0  # closed stays closed


def test_a_forecast_that_comes_true_is_the_same_case(platform: Platform) -> None:
    # Thresholds from configuration: a tiny one, so that a real local job crosses it.
    rules = Rules(gpai_flop=1e11, systemic_flop=1e30)
    user, project = _pretraining(platform, "lena", 10, "local/local")
    assert _scan(platform, rules) == 1
    (before,) = user.get("/compliance/cases").json()
    assert before["basis"] == "forecast"
    spec = job_spec(
        project,
        "sleep 1.1",
        resources={"accelerator": "local-slot", "accelerators_per_node": 1},
        produces={"model": "euro-llm", "version": "0.1"},
        purpose="pretraining",
    )
    job = user.post("/jobs", spec).json()
    assert run_until_final(platform, job["id"], user)["state"] == "completed"
    assert _scan(platform, rules) == 0
    (after,) = user.get("/compliance/cases").json()
    assert after["id"] == before["id"] and after["basis"] == "actual"
    assert after["due_on"] == before["due_on"]  # known since the forecast
    assert [m.subject.split(" ")[2:4] for m in _mails(platform)] == [
        ["is", "forecast"],
        ["has", "crossed"],
    ]


def test_another_tenant_sees_none_of_it(platform: Platform) -> None:
    _pretraining(platform, "tom", 80_000, "marenostrum5/acc")
    _scan(platform)
    other = quick_user(platform, "eve")
    platform.org(other, "Eve Ltd")
    assert other.get("/compliance/cases").json() == []
    case_id = platform.admin.get("/compliance/cases").json()[0]["id"]
    assert other.post(f"/compliance/cases/{case_id}/close", {"reason": "x" * 20}).status_code == 404
    assert other.get("/compliance/cases", params={"state": "opened"}).status_code == 422
