"""The jobs API as a user relies on it, on both databases: idempotent submission, filters and
pages, cancel, walltime, failures, wait, logs, and accelerator slots on this machine.

The dispatcher does not run by itself here: tests call ``dispatch_once`` / ``poll_once``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from aifactory.executors.runner import is_alive, live_group_members
from tests.conftest import FINAL_STATES, PROBLEM_JSON, Actor, Platform, job_spec, quick_user


@dataclass
class Tenant:
    platform: Platform
    user: Actor
    org: dict[str, Any]
    project: dict[str, Any]

    def submit(self, run: str = "true", **kw: Any) -> dict[str, Any]:
        headers = kw.pop("headers", {})
        project = kw.pop("project", self.project["id"])
        r = self.user.post("/jobs", job_spec(project, run, **kw), headers=headers)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def job(self, job_id: str) -> dict[str, Any]:
        r = self.user.get(f"/jobs/{job_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        """Run the executor loop's steps until ``check`` holds."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            self.platform.runtime.dispatcher.poll_once()
            time.sleep(0.05)

    def run_to_end(self, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
        self.platform.runtime.dispatcher.dispatch_once()
        self.until(lambda: self.job(job_id)["state"] in FINAL_STATES, timeout)
        return self.job(job_id)

    def audit_actions(self) -> list[str]:
        events = self.platform.admin.get("/audit/events", params={"limit": 1000}).json()
        return [e["action"] for e in events["items"]]


@pytest.fixture
def tenant(platform: Platform) -> Iterator[Tenant]:
    user = quick_user(platform, "alice")
    org = platform.org(user, "Alice Org")
    t = Tenant(platform, user, org, platform.project(user, org["id"], "alice-project"))
    yield t
    # Leave no process behind: cancel whatever still runs and let the runners stop it.
    live = [j for j in t.user.get("/jobs", params={"limit": 500}).json()["items"]]
    for j in live:
        if j["state"] not in FINAL_STATES:
            t.user.post(f"/jobs/{j['id']}/cancel")
    t.until(lambda: all(t.job(j["id"])["state"] in FINAL_STATES for j in live))


def _states(t: Tenant, *ids: str) -> list[str]:
    return [t.job(i)["state"] for i in ids]


# -- idempotency ---------------------------------------------------------------------------
def test_the_same_idempotency_key_and_spec_return_the_same_job(tenant: Tenant) -> None:
    spec = job_spec(tenant.project["id"], "true", name="retry-me")
    key = {"Idempotency-Key": "submit-2026-11-27-001"}

    first = tenant.user.post("/jobs", spec, headers=key)
    again = tenant.user.post("/jobs", spec, headers=key)

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert tenant.user.get("/jobs").json()["total"] == 1
    assert tenant.audit_actions().count("job.submit") == 1


def test_the_same_idempotency_key_with_another_spec_is_a_conflict(tenant: Tenant) -> None:
    key = {"Idempotency-Key": "k-1"}
    first = tenant.user.post("/jobs", job_spec(tenant.project["id"], "true"), headers=key)
    assert first.status_code == 201

    r = tenant.user.post("/jobs", job_spec(tenant.project["id"], "false"), headers=key)

    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert "Idempotency-Key" in r.json()["detail"]
    assert [j["id"] for j in tenant.user.get("/jobs").json()["items"]] == [first.json()["id"]]


def test_different_users_may_use_the_same_idempotency_key(tenant: Tenant) -> None:
    platform = tenant.platform
    bob = quick_user(platform, "bob")
    org_b = platform.org(bob, "Bob Org")
    project_b = platform.project(bob, org_b["id"], "bob-project")
    key = {"Idempotency-Key": "nightly"}

    a = tenant.user.post("/jobs", job_spec(tenant.project["id"], "true"), headers=key)
    b = bob.post("/jobs", job_spec(project_b["id"], "true"), headers=key)

    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    assert a.json()["id"] != b.json()["id"]
    assert b.json()["project_id"] == project_b["id"]
    assert platform.admin.get("/jobs").json()["total"] == 2


def test_concurrent_retries_with_one_key_create_one_job(tenant: Tenant) -> None:
    spec = job_spec(tenant.project["id"], "true", name="stormy")
    key = {"Idempotency-Key": "retry-storm"}
    barrier = threading.Barrier(8)

    def submit(_: int) -> Any:
        barrier.wait()
        return tenant.user.post("/jobs", spec, headers=key)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(submit, range(8)))

    assert sorted(r.status_code for r in answers) == [200] * 7 + [201], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert tenant.user.get("/jobs").json()["total"] == 1
    assert tenant.audit_actions().count("job.submit") == 1


def test_a_job_without_a_key_is_a_new_job_each_time(tenant: Tenant) -> None:
    spec = job_spec(tenant.project["id"], "true")

    ids = {tenant.user.post("/jobs", spec).json()["id"] for _ in range(2)}

    assert len(ids) == 2


# -- listing -------------------------------------------------------------------------------
def test_list_filters_combine(tenant: Tenant) -> None:
    other = tenant.platform.project(tenant.user, tenant.org["id"], "other-project")
    done = tenant.submit(name="train")["id"]
    assert tenant.run_to_end(done)["state"] == "completed"
    pending = tenant.submit(name="eval")["id"]
    cancelled = tenant.submit(name="train", project=other["id"])["id"]
    assert tenant.user.post(f"/jobs/{cancelled}/cancel").status_code == 200
    sweep = tenant.submit(name="sweep", project=other["id"])["id"]

    def ids(**params: Any) -> set[str]:
        r = tenant.user.get("/jobs", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == len(page["items"])
        return {j["id"] for j in page["items"]}

    assert ids() == {done, pending, cancelled, sweep}
    assert ids(state="pending") == {pending, sweep}
    assert ids(state=["pending", "cancelled"]) == {pending, sweep, cancelled}
    assert ids(state="completed") == {done}
    assert ids(state="running") == set()
    assert ids(project_id=tenant.project["id"]) == {done, pending}
    assert ids(project_id=other["id"], name="train") == {cancelled}
    assert ids(name="train") == {done, cancelled}
    assert ids(site="local") == {done}
    assert ids(site="lumi") == set()
    assert ids(org_id=tenant.org["id"], state="pending", name="sweep") == {sweep}


def test_list_pages_newest_first(tenant: Tenant) -> None:
    submitted = [tenant.submit(name=f"job-{i}")["id"] for i in range(5)]
    newest_first = list(reversed(submitted))

    pages = []
    for offset in (0, 2, 4, 6):
        page = tenant.user.get("/jobs", params={"limit": 2, "offset": offset}).json()
        assert (page["total"], page["limit"], page["offset"]) == (5, 2, offset)
        pages.append([j["id"] for j in page["items"]])

    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:], []]
    assert [j["id"] for j in tenant.user.get("/jobs").json()["items"]] == newest_first


# -- cancel --------------------------------------------------------------------------------
def test_cancelling_a_pending_job_ends_it_at_once_and_only_once(tenant: Tenant) -> None:
    job_id = tenant.submit("echo never")["id"]

    r = tenant.user.post(f"/jobs/{job_id}/cancel")

    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled"
    job = tenant.job(job_id)
    assert [e["state"] for e in job["history"]] == ["pending", "cancelled"]
    assert tenant.user.email in job["history"][-1]["reason"]
    again = tenant.user.post(f"/jobs/{job_id}/cancel")
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == PROBLEM_JSON
    assert "already cancelled" in again.json()["detail"]
    # It never runs, and it was audited once.
    assert tenant.platform.runtime.dispatcher.dispatch_once() == 0
    assert tenant.job(job_id)["state"] == "cancelled"
    assert tenant.audit_actions().count("job.cancel") == 1


def _runner(t: Tenant, job_id: str) -> dict[str, Any]:
    path = t.platform.settings.jobs_dir / job_id / "runner.json"
    t.until(path.exists, timeout=5)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_cancelling_a_running_job_stops_its_processes(tenant: Tenant) -> None:
    job_id = tenant.submit("sleep 30")["id"]
    assert tenant.platform.runtime.dispatcher.dispatch_once() == 1
    tenant.until(lambda: tenant.job(job_id)["state"] == "running")
    runner = _runner(tenant, job_id)
    assert is_alive(runner["child_pid"])
    started = time.monotonic()

    r = tenant.user.post(f"/jobs/{job_id}/cancel")

    assert r.status_code == 200, r.text
    assert r.json()["state"] == "running"  # stopped by the executor loop, not by the request
    tenant.until(lambda: tenant.job(job_id)["state"] == "cancelled", timeout=5)
    assert time.monotonic() - started < 5  # not the 30 s of the job
    job = tenant.job(job_id)
    assert [e["state"] for e in job["history"]] == [
        "pending",
        "placed",
        "submitted",
        "running",
        "cancelled",
    ]
    assert job["ended_at"] is not None
    assert not is_alive(runner["child_pid"])
    assert live_group_members(runner["child_pgid"]) == []


# -- how jobs end --------------------------------------------------------------------------
def test_a_job_over_its_walltime_ends_in_timeout(tenant: Tenant) -> None:
    job_id = tenant.submit("sleep 30", resources={"walltime": 1})["id"]
    started = time.monotonic()

    job = tenant.run_to_end(job_id, timeout=8)

    assert job["state"] == "timeout", job
    assert time.monotonic() - started < 8
    assert "walltime" in job["reason"]
    assert job["history"][-1]["state"] == "timeout"


def test_a_failing_job_reports_its_exit_code(tenant: Tenant) -> None:
    job_id = tenant.submit("echo about to fail >&2; exit 3")["id"]

    job = tenant.run_to_end(job_id)

    assert (job["state"], job["exit_code"]) == ("failed", 3), job
    assert "exited with code 3" in job["reason"]
    assert tenant.user.get(f"/jobs/{job_id}/logs", params={"stream": "stderr"}).json()["text"] == (
        "about to fail\n"
    )


def test_wait_returns_the_current_state_after_its_timeout(tenant: Tenant) -> None:
    job_id = tenant.submit()["id"]
    started = time.monotonic()

    r = tenant.user.get(f"/jobs/{job_id}/wait", params={"timeout": 0.5})

    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "pending"
    assert 0.5 <= elapsed < 3, elapsed


def test_wait_returns_at_once_for_a_job_that_has_ended(tenant: Tenant) -> None:
    job_id = tenant.submit()["id"]
    assert tenant.run_to_end(job_id)["state"] == "completed"
    started = time.monotonic()

    r = tenant.user.get(f"/jobs/{job_id}/wait", params={"timeout": 30})

    assert r.json()["state"] == "completed"
    assert time.monotonic() - started < 2


# -- logs ----------------------------------------------------------------------------------
def test_logs_by_tail_by_offset_and_per_stream(tenant: Tenant) -> None:
    pending = tenant.submit(name="not-yet")["id"]
    empty = tenant.user.get(f"/jobs/{pending}/logs").json()
    assert (empty["text"], empty["offset"], empty["final"]) == ("", 0, False)
    assert tenant.user.post(f"/jobs/{pending}/cancel").status_code == 200
    job_id = tenant.submit("for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2")["id"]
    assert tenant.run_to_end(job_id)["state"] == "completed"
    logs = f"/jobs/{job_id}/logs"
    full = "".join(f"line{i}\n" for i in range(1, 6))

    everything = tenant.user.get(logs).json()
    assert everything == {"stream": "stdout", "text": full, "offset": len(full), "final": True}
    assert tenant.user.get(logs, params={"tail": 2}).json()["text"] == "line4\nline5\n"
    assert tenant.user.get(logs, params={"tail": 100}).json()["text"] == full
    # Following: ask again from the returned offset; nothing new once the job has ended.
    rest = tenant.user.get(logs, params={"offset": everything["offset"]}).json()
    assert (rest["text"], rest["offset"]) == ("", len(full))
    assert tenant.user.get(logs, params={"offset": 6}).json()["text"] == full[6:]
    stderr = tenant.user.get(logs, params={"stream": "stderr"}).json()
    assert (stderr["stream"], stderr["text"]) == ("stderr", "oops\n")


# -- accelerator slots on this machine -----------------------------------------------------
def test_local_accelerator_slots_are_never_shared(tenant: Tenant) -> None:
    slots = tenant.platform.settings.local_slots
    assert slots == 4
    ids = [
        tenant.submit("echo $CUDA_VISIBLE_DEVICES; sleep 10", name=f"gpu-{i}")["id"]
        for i in range(slots + 2)
    ]
    dispatcher = tenant.platform.runtime.dispatcher

    assert dispatcher.dispatch_once() == slots

    jobs = {i: tenant.job(i) for i in ids}
    started, waiting = ids[:slots], ids[slots:]  # first come, first served
    assert {jobs[i]["state"] for i in started} == {"submitted"}
    for i in waiting:
        assert jobs[i]["state"] == "pending"
        assert jobs[i]["reason"].startswith("waiting for capacity"), jobs[i]["reason"]
    granted = [jobs[i]["accelerator_ids"] for i in started]
    assert all(len(g) == 1 for g in granted)
    assert sorted(g[0] for g in granted) == list(range(slots))
    # The job sees exactly the accelerators it was given.
    for i in started:
        tenant.until(lambda i=i: tenant.user.get(f"/jobs/{i}/logs").json()["text"] != "")
        seen = tenant.user.get(f"/jobs/{i}/logs").json()["text"].strip()
        assert seen == ",".join(str(a) for a in jobs[i]["accelerator_ids"])
    # A slot set free goes to the next job in line, and to no one else.
    freed = jobs[started[1]]["accelerator_ids"]
    assert tenant.user.post(f"/jobs/{started[1]}/cancel").status_code == 200
    tenant.until(lambda: tenant.job(started[1])["state"] == "cancelled")
    assert dispatcher.dispatch_once() == 1
    assert _states(tenant, *waiting) == ["submitted", "pending"]
    assert tenant.job(waiting[0])["accelerator_ids"] == freed


def test_a_job_needing_several_accelerators_sees_all_of_them(tenant: Tenant) -> None:
    job_id = tenant.submit(
        "echo $CUDA_VISIBLE_DEVICES $ROCR_VISIBLE_DEVICES",
        resources={"accelerators_per_node": 3},
    )["id"]

    job = tenant.run_to_end(job_id)

    assert job["state"] == "completed"
    assert sorted(job["accelerator_ids"]) == [0, 1, 2]
    devices = ",".join(str(a) for a in job["accelerator_ids"])
    assert tenant.user.get(f"/jobs/{job_id}/logs").json()["text"] == f"{devices} {devices}\n"


def test_a_job_larger_than_this_machine_is_refused_at_submit(tenant: Tenant) -> None:
    spec = job_spec(
        tenant.project["id"],
        "true",
        resources={"accelerators_per_node": 5},
        constraints={"sites": ["local"]},
    )

    r = tenant.user.post("/jobs", spec)

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    error = r.json()["errors"][0]
    assert error["field"] == "resources"
    assert "local/local: has 4 accelerators per node, the job needs 5" in error["message"]
    assert tenant.user.get("/jobs").json()["total"] == 0
    # Elsewhere in the federation (LUMI-G's digital twin, 8 GCDs per node) the same job fits.
    spec.pop("constraints")
    spec.update(simulate=True, software_stack="rocm")
    assert tenant.user.post("/jobs", spec).status_code == 201
