"""The SDK against a real app in-process (FastAPI's TestClient is an httpx.Client), plus its
request shapes and error handling against a mock transport."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aifactory.sdk import ApiError, Client
from tests.conftest import Databases, build_platform

URL = "http://aif.test"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Live:
    app: FastAPI
    http: TestClient
    admin: Client
    token: str

    def client(self, token: str | None) -> Client:
        return Client(URL, token, http=self.http)

    def dispatch(self) -> None:
        self.app.state.runtime.dispatcher.dispatch_once()


@pytest.fixture
def live(tmp_path: Path, databases: Databases) -> Iterator[Live]:
    platform = build_platform(tmp_path, databases.sqlite(tmp_path / "data" / "aifactory.db"))
    token = platform.admin.token
    with platform.client as http:
        yield Live(http.app, http, Client(URL, token, http=http), token)
    platform.runtime.close()


def spec(project_id: str, **kw: Any) -> dict[str, Any]:
    resources = {"accelerator": "local-slot", "walltime": "10m", **kw.pop("resources", {})}
    return {
        "name": "hello",
        "project": project_id,
        "run": "echo hello",
        "resources": resources,
        **kw,
    }


def org_and_project(c: Client) -> tuple[dict[str, Any], dict[str, Any]]:
    org = c.create_org("Acme AI", "startup", "DE", "HRB-1")
    return org, c.create_project(org["id"], "llm", "a language model")


def playground(c: Client, project_id: str) -> dict[str, Any]:
    """GPU-hours for the project: the example application to the open Playground call, which
    is accepted at once."""
    form = yaml.safe_load((EXAMPLES / "playground-proposal.yaml").read_text())
    [call] = c.list_calls(open=True, mode="playground")
    proposal = c.create_proposal({**form, "call": call["id"], "project": project_id})
    assert proposal["state"] == "accepted", proposal
    return proposal


# -- against the app ------------------------------------------------------------------------
def test_health_needs_no_token_and_me_needs_one(live: Live) -> None:
    anonymous = live.client(None)
    assert anonymous.health()["status"] == "ok"
    with pytest.raises(ApiError) as err:
        anonymous.me()
    assert err.value.status == 401
    assert err.value.title == "Unauthenticated"
    me = live.admin.me()
    assert me["email"] == "admin@localhost"
    assert "admin" in me["roles"]


def test_users_orgs_projects_and_members(live: Live) -> None:
    c = live.admin
    org, project = org_and_project(c)
    assert [o["id"] for o in c.list_orgs()] == [org["id"]]
    assert c.get_org(org["id"])["name"] == "Acme AI"
    user = c.create_user("ada@example.eu", "Ada", password="correct horse battery")
    assert user["roles"] == []
    member = c.add_org_member(org["id"], "ada@example.eu", "member")
    assert member["role"] == "member"
    assert {m["email"] for m in c.list_org_members(org["id"])} == {
        "admin@localhost",
        "ada@example.eu",
    }
    assert c.list_projects(org["id"])[0]["id"] == project["id"]
    assert c.get_project(project["id"])["description"] == "a language model"
    c.add_project_member(project["id"], "ada@example.eu")
    assert "ada@example.eu" in {m["email"] for m in c.list_project_members(project["id"])}
    # Ada logs in with her password and sees the organisation.
    login = live.client(None).login("ada@example.eu", "correct horse battery")
    ada = live.client(login["token"])
    assert ada.me()["organisations"] == {org["id"]: "member"}


def test_submit_list_show_and_placement(live: Live) -> None:
    c = live.admin
    org, project = org_and_project(c)
    playground(c, project["id"])
    job = c.submit_job(spec(project["id"]), idempotency_key="k-1")
    assert job["state"] == "pending"
    again = c.submit_job(spec(project["id"]), idempotency_key="k-1")
    assert again["id"] == job["id"]
    page = c.list_jobs(project_id=project["id"], state=["pending", "placed"])
    assert [j["id"] for j in page["items"]] == [job["id"]]
    assert page["total"] == 1
    assert c.list_jobs(state=["completed"])["items"] == []
    assert c.list_jobs(org_id=org["id"], limit=1, offset=1)["items"] == []

    live.dispatch()
    detail = c.get_job(job["id"])
    assert detail["placement"]["chosen"] == {"site": "local", "partition": "local"}
    reasons = {x["site"]: x["reason"] for x in detail["placement"]["candidates"]}
    assert "simulated" in reasons["lumi"]
    assert [h["state"] for h in detail["history"]][:2] == ["pending", "placed"]


def test_unknown_accelerator_is_a_field_error_with_allowed_values(live: Live) -> None:
    _, project = org_and_project(live.admin)
    with pytest.raises(ApiError) as err:
        live.admin.submit_job(spec(project["id"], resources={"accelerator": "X9"}))
    e = err.value
    assert e.status == 422
    assert e.errors[0]["field"] == "resources.accelerator"
    assert "H100" in e.errors[0]["allowed"]
    text = str(e)
    assert "Invalid input (422)" in text
    assert "resources.accelerator: unknown accelerator 'X9' (allowed: any, A100," in text


@pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")
def test_logs_cancel_and_wait(live: Live) -> None:
    c = live.admin
    _, project = org_and_project(c)
    playground(c, project["id"])
    job = c.submit_job(spec(project["id"], run="echo out; echo err >&2"))
    assert c.job_logs(job["id"]) == {"stream": "stdout", "text": "", "offset": 0, "final": False}
    live.dispatch()
    deadline = time.monotonic() + 5
    while c.job_logs(job["id"])["text"] != "out\n":
        assert time.monotonic() < deadline, "no output"
        time.sleep(0.02)
    assert c.job_logs(job["id"], "stderr", tail=1)["text"] == "err\n"

    other = c.submit_job(spec(project["id"], name="second"))
    started = time.monotonic()
    assert c.wait_job(other["id"], timeout_s=0.3)["state"] == "pending"
    assert time.monotonic() - started < 5
    assert c.cancel_job(other["id"])["state"] == "cancelled"
    assert c.wait_job(other["id"])["state"] == "cancelled"
    assert list(c.follow_logs(other["id"], poll_s=0)) == []
    with pytest.raises(ApiError) as err:
        c.cancel_job(other["id"])
    assert err.value.status == 409


def test_tokens_sites_and_audit(live: Live) -> None:
    c = live.admin
    created = c.create_token("laptop", 7)
    assert created["token"] and created["name"] == "laptop"
    assert created["id"] in {t["id"] for t in c.list_tokens()}
    assert "token" not in c.list_tokens()[0]
    assert live.client(created["token"]).me()["email"] == "admin@localhost"
    assert c.revoke_token(created["id"])["revoked_at"] is not None
    with pytest.raises(ApiError) as err:
        live.client(created["token"]).me()
    assert err.value.status == 401

    sites = c.list_sites()
    assert "local" in {s["id"] for s in sites}
    assert c.get_site("lumi")["partitions"][0]["simulated"] is True
    with pytest.raises(ApiError) as err:
        c.get_site("atlantis")
    assert err.value.status == 404

    assert c.audit_verify()["ok"] is True
    events = c.audit_events(limit=2)
    assert len(events["items"]) == 2 and events["total"] >= 2


def test_another_tenants_job_is_not_found(live: Live) -> None:
    with pytest.raises(ApiError) as err:
        live.admin.get_job("job-doesnotexist")
    assert err.value.status == 404
    assert "not found" in str(err.value)


# -- against a mock transport ----------------------------------------------------------------
def test_requests_carry_token_prefix_and_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "job-1", "state": "pending"})

    with Client(URL + "/", "secret-token", transport=httpx.MockTransport(handler)) as c:
        c.submit_job({"name": "x"}, idempotency_key="abc")
        c.list_jobs(state=["pending", "running"], site=None)
        c.get_job("a/b")
        assert "secret-token" not in repr(c)
    submit, listing, get = seen
    assert submit.url == URL + "/api/v1/jobs"
    assert submit.headers["Authorization"] == "Bearer secret-token"
    assert submit.headers["Idempotency-Key"] == "abc"
    assert json.loads(submit.content) == {"name": "x"}
    assert listing.url.params.get_list("state") == ["pending", "running"]
    assert "site" not in listing.url.params
    assert get.url.raw_path == b"/api/v1/jobs/a%2Fb"


def test_error_without_problem_body() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(502, text="bad gateway"))
    with pytest.raises(ApiError) as err, Client(URL, None, transport=transport) as c:
        c.health()
    assert err.value.status == 502
    assert err.value.title == "Bad Gateway"
    assert err.value.detail == "bad gateway"


def test_follow_logs_reads_until_final_then_once_more() -> None:
    answers = [
        {"text": "a", "offset": 1, "final": False},
        {"text": "", "offset": 1, "final": False},
        {"text": "b", "offset": 2, "final": True},
        {"text": "c", "offset": 3, "final": True},
    ]
    offsets: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        offsets.append(request.url.params.get("offset"))
        return httpx.Response(200, json={"stream": "stdout", **answers.pop(0)})

    c = Client(URL, "t", transport=httpx.MockTransport(handler))
    assert list(c.follow_logs("job-1", poll_s=0, sleep=lambda _: None)) == ["a", "b", "c"]
    assert offsets == ["0", "1", "1", "2"]
    assert answers == []


def test_wait_job_long_polls_until_final() -> None:
    states = ["running", "running", "completed"]
    timeouts: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.url.params.get("timeout"))
        return httpx.Response(200, json={"id": "job-1", "state": states.pop(0)})

    c = Client(URL, "t", transport=httpx.MockTransport(handler))
    assert c.wait_job("job-1")["state"] == "completed"
    assert timeouts == ["30.0", "30.0", "30.0"]


def test_access_requests_paths_params_and_bodies() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[] if request.method == "GET" else {"id": "x"})

    with Client(URL, "t", transport=httpx.MockTransport(handler)) as c:
        c.list_calls(open=True, mode="playground")
        c.list_calls()
        c.create_proposal({"call": "call-1"}, draft=True)
        c.create_proposal({"call": "call-1"})
        c.list_proposals(call_id="call-1", state=["accepted", "rejected"])
        c.list_proposals(state="draft")
        c.proposals_due(date(2026, 12, 31))
        c.assign_reviewer("prop-1", "rita@example.eu", "peer")
        c.decide_proposal("prop-1", "accept", "good")
        c.submit_review("rev-1", score=4)
        c.submit_review("rev-2", passed=False, comments="too big")
        c.declare_conflict("Beta AI", "advised them")
        c.list_allocations(project_id="prj-1")
        c.adjust_allocation("alc-1", -5, "unused")
        c.file_report("alc-1", {"summary": "done"})
        c.waive_report("alc/1", "none needed")
    got = [(r.method, r.url.path, dict(r.url.params.multi_items())) for r in seen]
    assert got[:3] == [
        ("GET", "/api/v1/calls", {"open": "true", "mode": "playground"}),
        ("GET", "/api/v1/calls", {}),
        ("POST", "/api/v1/proposals", {"draft": "true"}),
    ]
    assert got[3][2] == {}
    assert seen[4].url.params.get_list("state") == ["accepted", "rejected"]
    assert seen[5].url.params.get_list("state") == ["draft"]
    assert got[6] == ("GET", "/api/v1/proposals/due", {"until": "2026-12-31"})
    bodies = [json.loads(r.content) if r.content else None for r in seen]
    assert got[7][1] == "/api/v1/proposals/prop-1/reviewers"
    assert bodies[7] == {"reviewer": "rita@example.eu", "kind": "peer"}
    assert bodies[8] == {"decision": "accept", "reason": "good"}
    assert bodies[9] == {"comments": "", "score": 4}
    assert bodies[10] == {"comments": "too big", "passed": False}
    assert (got[11][1], bodies[11]) == (
        "/api/v1/reviewer/conflicts",
        {"organisation": "Beta AI", "reason": "advised them"},
    )
    assert got[12] == ("GET", "/api/v1/allocations", {"project_id": "prj-1"})
    assert (got[13][1], bodies[13]) == (
        "/api/v1/allocations/alc-1/adjustments",
        {"gpu_hours": -5, "reason": "unused"},
    )
    assert got[14][1] == "/api/v1/allocations/alc-1/report"
    assert seen[15].url.raw_path == b"/api/v1/allocations/alc%2F1/report-waiver"
