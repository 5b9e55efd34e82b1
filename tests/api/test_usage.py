"""Usage records: one per ended job, the same figure the allocation is settled with."""

from __future__ import annotations

from tests.conftest import Platform, job_spec, run_until_final


def test_each_ended_job_has_one_usage_record_equal_to_its_settlement(platform: Platform) -> None:
    owner, _org, project = platform.tenant()
    pid = project["id"]
    spec = job_spec(pid, "sleep 1.2", resources={"accelerator": "local-slot", "walltime": 60})
    ran = owner.post("/jobs", spec).json()
    never = owner.post("/jobs", job_spec(pid, "echo never")).json()
    assert owner.post(f"/jobs/{never['id']}/cancel").status_code == 200
    done = run_until_final(platform, ran["id"], owner)
    assert done["state"] == "completed"

    usage = owner.get(f"/projects/{pid}/usage").json()
    (record,) = usage["records"]  # the job cancelled before it ran used nothing, has none
    assert record["job_id"] == ran["id"]
    assert record["source"] == "local"
    assert record["gpus"] == 1
    assert 1 <= record["elapsed_s"] <= 5
    assert record["gpu_seconds"] == record["elapsed_s"]
    assert usage["gpu_seconds"] == record["gpu_seconds"]
    assert usage["by_partition"] == {"local/local": record["gpu_seconds"]}

    alloc = next(
        a for a in owner.get(f"/allocations?project_id={pid}").json() if a["site"] == "local"
    )
    ledger = owner.get(f"/allocations/{alloc['id']}").json()["ledger"]
    settled = [e for e in ledger if e["kind"] == "settlement" and e["job_id"] == ran["id"]]
    assert [e["used_gpu_seconds"] for e in settled] == [record["gpu_seconds"]]
