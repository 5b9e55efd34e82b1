"""The user's path through jobs: submit, place, run, logs, show, on both databases."""

from __future__ import annotations

from tests.conftest import Platform, job_spec, run_until_final


def test_hello_42_runs_on_the_local_site_and_explains_every_other_site(platform: Platform) -> None:
    user, _org, project = platform.tenant("alice")
    r = user.post("/jobs", job_spec(project["id"], 'python3 -c "print(6*7)"', name="hello"))
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    assert r.json()["state"] == "pending"

    job = run_until_final(platform, job_id)

    assert job["state"] == "completed"
    assert job["exit_code"] == 0
    assert (job["site"], job["partition"], job["simulated"]) == ("local", "local", False)
    states = [e["state"] for e in job["history"]]
    assert states == ["pending", "placed", "submitted", "running", "completed"]
    logs = user.get(f"/jobs/{job_id}/logs").json()
    assert logs["text"] == "42\n" and logs["final"] is True
    others = [c for c in job["placement"]["candidates"] if c["site"] != "local"]
    assert len(others) == len(list(platform.runtime.catalog.partitions())) - 1
    assert all(not c["feasible"] and c["reason"] for c in others)
    assert any("simulated" in c["reason"] for c in others)
    assert any("planned" in c["reason"] for c in others)
