"""Jobs on real Slurm clusters, through the platform's own API: lumi over the CLI transport,
leonardo over slurmrestd."""

from __future__ import annotations

from typing import Any

from tests.slurm.conftest import SlurmPlatform


def lumi_job(project_id: str, run: str, **resources: Any) -> dict[str, Any]:
    return {
        "name": "lumi-job",
        "project": project_id,
        "run": run,
        "software_stack": "rocm",
        "constraints": {"sites": ["lumi"]},
        "resources": {
            "accelerator": "MI250X-GCD",
            "accelerators_per_node": 2,
            "cpus": 1,
            "memory_gb": 1,
            "walltime": "5m",
            **resources,
        },
    }


def leonardo_job(project_id: str, run: str, **resources: Any) -> dict[str, Any]:
    return {
        "name": "leonardo-job",
        "project": project_id,
        "run": run,
        "software_stack": "cuda",
        "constraints": {"sites": ["leonardo"]},
        "resources": {
            "accelerator": "A100",
            "accelerators_per_node": 1,
            "cpus": 1,
            "memory_gb": 1,
            "walltime": "5m",
            **resources,
        },
    }


def submit(sp: SlurmPlatform, spec: dict[str, Any]) -> dict[str, Any]:
    r = sp.admin.post("/jobs", spec)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_job_on_each_cluster_runs_and_its_usage_equals_sacct(slurm: SlurmPlatform) -> None:
    owner, _org, project = slurm.platform.tenant()
    pid = project["id"]
    a = submit(slurm, lumi_job(pid, "sleep 3; echo from lumi $AIF_JOB_ID"))
    b = submit(slurm, leonardo_job(pid, "sleep 2; echo from leonardo"))
    done_a, done_b = slurm.wait(a["id"]), slurm.wait(b["id"])
    for done in (done_a, done_b):
        assert done["state"] == "completed", done
        assert done["exit_code"] == 0
    assert done_a["site"] == "lumi" and done_b["site"] == "leonardo"
    logs = slurm.admin.get(f"/jobs/{a['id']}/logs").json()["text"]
    assert f"from lumi {a['id']}" in logs
    assert "from leonardo" in slurm.admin.get(f"/jobs/{b['id']}/logs").json()["text"]

    usage = owner.get(f"/projects/{pid}/usage").json()
    by_job = {r["job_id"]: r for r in usage["records"]}
    total = 0
    for job, cluster, gpus in ((a, "lumi", 2), (b, "leonardo", 1)):
        detail = owner.get(f"/jobs/{job['id']}").json()
        site, slurm_id = detail["external_id"].rsplit(":", 1)
        assert site == cluster
        acct = slurm.clusters.sacct(cluster, slurm_id)
        assert acct["state"] == "COMPLETED"
        assert f"gres/gpu={gpus}" in acct["tres"]
        record = by_job[job["id"]]
        assert record["source"] == "sacct"
        assert record["gpus"] == gpus
        assert record["elapsed_s"] == int(acct["elapsed"])
        assert record["gpu_seconds"] == gpus * int(acct["elapsed"])
        assert detail["alloc_tres"] == acct["tres"]
        assert detail["node_list"] == slurm.clusters.info[cluster]["node"]
        total += gpus * int(acct["elapsed"])
    assert usage["gpu_seconds"] == total
