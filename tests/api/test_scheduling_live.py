"""The live service runs the scheduling engine: the placement record, priority, backfill's
reservation and preemption, through the API on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from aifactory.db.tables import Allocation, AuditEvent
from tests.conftest import Platform, build_platform, job_spec, run_until, run_until_final


def _slots(n: int, **kw: Any) -> dict[str, Any]:
    return {
        "resources": {"accelerator": "local-slot", "accelerators_per_node": n, "walltime": "10m"},
        **kw,
    }


def _set_mode(platform: Platform, project_id: str, mode: str) -> None:
    """Give the project's grants an access mode (as winning a call of that mode would)."""
    with platform.runtime.db.write() as session:
        session.execute(
            update(Allocation).where(Allocation.project_id == project_id).values(mode=mode)
        )


def _until(platform: Platform, actor: Any, job_id: str, state: str) -> dict[str, Any]:
    return run_until(platform, job_id, (state,), actor, timeout=15)


def test_a_waiting_job_lists_every_partition_with_its_filter_or_score(platform: Platform) -> None:
    user, _org, project = platform.tenant()
    pid = project["id"]
    big = user.post("/jobs", job_spec(pid, "sleep 30", **_slots(4)))
    assert big.status_code == 201, big.text
    _until(platform, user, big.json()["id"], "running")

    small = user.post("/jobs", job_spec(pid, "echo small", **_slots(1)))
    platform.runtime.dispatcher.dispatch_once()
    job = user.get(f"/jobs/{small.json()['id']}").json()

    assert job["state"] == "pending"
    # The first job waiting for the local partition holds its reservation (EASY backfill).
    assert job["reason"] == (
        "waiting for capacity on local/local (reserved: the next job to start on local/local)"
    )
    placement = job["placement"]
    assert placement["chosen"] is None
    assert placement["priority"] > 0 and set(placement["factors"]) == {
        "age",
        "fairshare",
        "size",
        "qos",
    }
    by_site = {c["site"]: c for c in placement["candidates"]}
    assert set(by_site) == {s.id for s in platform.runtime.catalog.sites}
    local = by_site["local"]
    assert local["feasible"] and local["filter"] is None
    # Its estimated start is when the running job's walltime ends (10 minutes, less what ran).
    assert 500 < local["start_in_s"] <= 600
    assert local["runtime_s"] == 600 and local["energy_kwh"] > 0 and local["co2e_kg"] > 0
    assert local["score"] == 1.0
    assert by_site["daedalus"]["filter"] == "operational"
    assert by_site["lumi"]["filter"] in ("simulated", "accelerator")
    assert all(c["reason"] for c in placement["candidates"])

    # Cancelling the big job frees the slots: the waiting job runs.
    user.post(f"/jobs/{big.json()['id']}/cancel")
    done = run_until_final(platform, small.json()["id"], user)
    assert done["state"] == "completed"
    chosen = next(c for c in done["placement"]["candidates"] if c["site"] == "local")
    assert chosen["reason"] == "chosen: can start now"
    # The allocation it drew on is the project's grant on local/local.
    allocs = user.get(f"/allocations?project_id={pid}").json()
    local_alloc = [a["id"] for a in allocs if (a["site"], a["partition"]) == ("local", "local")]
    assert chosen["allocation_id"] in local_alloc


def test_a_higher_priority_job_preempts_a_playground_job_that_allows_it(
    tmp_path: Any, db_url: str
) -> None:
    p = build_platform(tmp_path, db_url, preemption=["local/local"])
    with p.client:
        play_user, _o1, play = p.tenant("player")
        _set_mode(p, play["id"], "playground")
        urgent_user, _o2, science = p.tenant("scientist")
        _set_mode(p, science["id"], "large_scale")

        stubborn = play_user.post(
            "/jobs", job_spec(play["id"], "sleep 60", **_slots(2), name="stubborn")
        ).json()
        victim = play_user.post(
            "/jobs",
            job_spec(play["id"], "sleep 60", **_slots(2), name="victim", preemptible=True),
        ).json()
        _until(p, play_user, stubborn["id"], "running")
        _until(p, play_user, victim["id"], "running")

        urgent = urgent_user.post(
            "/jobs", job_spec(science["id"], "echo urgent", **_slots(2), name="urgent")
        ).json()
        p.runtime.dispatcher.dispatch_once()
        waiting = urgent_user.get(f"/jobs/{urgent['id']}").json()
        assert waiting["state"] == "pending"
        assert waiting["reason"] == f"preempting Playground jobs on local/local: {victim['id']}"

        stopped = _until(p, play_user, victim["id"], "cancelled")
        assert (
            stopped["reason"] == f"preempted by job {urgent['id']} (higher priority) on local/local"
        )
        done = run_until_final(p, urgent["id"], urgent_user)
        assert done["state"] == "completed"
        # The job that did not allow preemption ran on, untouched.
        assert play_user.get(f"/jobs/{stubborn['id']}").json()["state"] == "running"
        with p.runtime.db.read() as session:
            events = session.query(AuditEvent).filter(AuditEvent.action == "job.preempted").all()
            assert [(e.object_id, e.data["by"]) for e in events] == [(victim["id"], urgent["id"])]
        play_user.post(f"/jobs/{stubborn['id']}/cancel")
        run_until_final(p, stubborn["id"], play_user)
    p.runtime.close()


def test_without_preemption_the_higher_priority_job_waits_and_reserves(platform: Platform) -> None:
    play_user, _o1, play = platform.tenant("player")
    _set_mode(platform, play["id"], "playground")
    urgent_user, _o2, science = platform.tenant("scientist")
    _set_mode(platform, science["id"], "large_scale")
    victim = play_user.post(
        "/jobs", job_spec(play["id"], "sleep 30", **_slots(4), preemptible=True)
    ).json()
    _until(platform, play_user, victim["id"], "running")
    urgent = urgent_user.post("/jobs", job_spec(science["id"], "echo urgent", **_slots(2))).json()
    platform.runtime.dispatcher.dispatch_once()
    platform.runtime.dispatcher.poll_once()
    assert play_user.get(f"/jobs/{victim['id']}").json()["state"] == "running"
    waiting = urgent_user.get(f"/jobs/{urgent['id']}").json()
    assert waiting["reason"].startswith("waiting for capacity on local/local (reserved")
    play_user.post(f"/jobs/{victim['id']}/cancel")
    assert run_until_final(platform, urgent["id"], urgent_user)["state"] == "completed"


def test_an_organisation_restricted_by_an_operator_runs_only_where_allowed(
    platform: Platform,
) -> None:
    user, org, project = platform.tenant()
    operator = platform.user("ops", roles=["operator"])
    r = operator.put(
        f"/orgs/{org['id']}/restriction",
        {"sites": ["lumi"], "reason": "export-control review"},
    )
    assert r.status_code == 200, r.text
    job = user.post("/jobs", job_spec(project["id"], "echo hi", **_slots(1))).json()
    platform.runtime.dispatcher.dispatch_once()
    failed = user.get(f"/jobs/{job['id']}").json()
    # Nowhere left: lumi is a digital twin, every other site is outside the restriction.
    assert failed["state"] == "failed"
    local = next(c for c in failed["placement"]["candidates"] if c["site"] == "local")
    assert local["filter"] == "organisation"
    assert local["reason"] == "organisation restricted by an operator: export-control review"

    assert operator.delete(f"/orgs/{org['id']}/restriction").status_code == 200
    again = user.post("/jobs", job_spec(project["id"], "echo hi", **_slots(1))).json()
    assert run_until_final(platform, again["id"], user)["state"] == "completed"
