"""Operators suspend a project: nothing of it is placed or accepted until they resume it."""

from __future__ import annotations

from tests.conftest import Platform, job_spec, quick_user, run_until_final


def test_a_suspended_project_gets_no_new_jobs_and_its_waiting_jobs_wait(
    platform: Platform,
) -> None:
    owner, _org, project = platform.tenant()
    pid = project["id"]
    operator = quick_user(platform, "op", ("operator",))
    waiting = owner.post("/jobs", job_spec(pid, "echo resumed")).json()

    r = owner.post(f"/projects/{pid}/suspend", {"reason": "unpaid invoice"})
    assert r.status_code == 403  # only operators
    r = operator.post(f"/projects/{pid}/suspend", {"reason": "unpaid invoice"})
    assert r.status_code == 200, r.text
    assert r.json()["suspended_reason"] == "unpaid invoice"
    assert operator.post(f"/projects/{pid}/suspend", {"reason": "again"}).status_code == 409

    refused = owner.post("/jobs", job_spec(pid))
    assert refused.status_code == 409
    assert "suspended: unpaid invoice" in refused.json()["detail"]
    platform.runtime.dispatcher.dispatch_once()
    held = owner.get(f"/jobs/{waiting['id']}").json()
    assert held["state"] == "pending"
    assert held["reason"] == "project suspended by an operator: unpaid invoice"

    assert operator.post(f"/projects/{pid}/resume").status_code == 200
    assert operator.post(f"/projects/{pid}/resume").status_code == 409
    done = run_until_final(platform, waiting["id"], owner)
    assert done["state"] == "completed"
    events = platform.admin.get("/audit/events?limit=1000").json()["items"]
    actions = [e["action"] for e in events if e["object_id"] == pid]
    assert actions[:2] == ["project.resume", "project.suspend"]  # newest first


def test_suspension_bad_input_and_other_tenants(platform: Platform) -> None:
    _owner, _org, project = platform.tenant()
    operator = quick_user(platform, "op2", ("operator",))
    stranger, _o, _p = platform.tenant()
    for body in ({}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "ok", "extra": 1}):
        r = operator.post(f"/projects/{project['id']}/suspend", body)
        assert r.status_code == 422, body
    assert stranger.post(f"/projects/{project['id']}/suspend", {"reason": "x"}).status_code == 404
    assert operator.post("/projects/prj-nope/suspend", {"reason": "x"}).status_code == 404
