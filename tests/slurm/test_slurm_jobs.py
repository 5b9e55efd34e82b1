"""Jobs on real Slurm clusters, through the platform's own API: lumi over the CLI transport,
leonardo over slurmrestd."""

from __future__ import annotations

import time
from typing import Any

from tests.slurm.conftest import SlurmPlatform


def lumi_job(project_id: str, run: str, **resources: Any) -> dict[str, Any]:
    return {
        "name": "lumi-job",
        "project": project_id,
        "run": run,
        "software_stack": "rocm",
        # small-g shares its nodes; standard-g gives whole nodes (LUMI's, and the test cluster's)
        "constraints": {"sites": ["lumi"], "partitions": ["small-g"]},
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


def direct_sbatch(sp: SlurmPlatform, cluster: str, account: str, *args: str) -> str:
    """A job a project member submits on the site's login node, outside the platform."""
    out = sp.clusters.run(
        cluster, "sbatch", "--parsable", "--output=/dev/null", f"--account={account}", *args
    )
    return out.strip().split(";")[0]


def test_an_allocation_exhausted_in_slurm_keeps_the_job_pending_with_slurms_reason(
    slurm: SlurmPlatform,
) -> None:
    owner = slurm.platform.user()
    org = slurm.platform.org(owner)
    project = slurm.platform.project(owner, org["id"], gpu_hours=None)  # no default grants
    pid = project["id"]
    # 1 GPU-hour on lumi only: GrpTRESMins=gres/gpu=60 on the allocation's account.
    (alloc,) = slurm.platform.grant(pid, 1, partitions=("lumi/standard-g",))
    assert slurm.platform.runtime.slurm is not None
    assert not slurm.platform.runtime.slurm.reconcile("lumi").error
    limits = slurm.clusters.run(
        "lumi",
        "sacctmgr",
        "-n",
        "-P",
        "show",
        "assoc",
        "where",
        f"account={alloc['id']}",
        "cluster=lumi",
        "format=User,GrpTRESMins",
    )
    assert "|gres/gpu=60" in limits
    # slurmdbd pushes the limit to slurmctld a moment later: wait until the controller has it.
    deadline = time.monotonic() + 60
    shown = ""
    # Any of the account's association records (the account's own, or its user's: their order
    # in the output varies) may be listed first; the account's carries the limit.
    while not any(
        line.strip().startswith("GrpTRESMins=") and "gres/gpu=60(" in line
        for line in shown.splitlines()
    ):
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)
        shown = slurm.clusters.run(
            "lumi", "scontrol", "show", "assoc_mgr", "flags=assoc", f"accounts={alloc['id']}"
        )
    # A member books 56 of the 60 GPU-minutes directly on the login node (4 GPUs x 14 min),
    # leaving GPUs free: only the limit can hold the next job, not a full node.
    direct = direct_sbatch(
        slurm,
        "lumi",
        alloc["id"],
        "--partition=small-g",  # shared nodes, as the platform's job below
        "--gres=gpu:mi250x:4",
        "--time=14",
        "--wrap=sleep 600",
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # its GPU-minutes count once it runs
        state = slurm.clusters.run("lumi", "squeue", "-h", "-j", direct, "-o", "%T").strip()
        if state == "RUNNING":
            break
        time.sleep(0.5)
    assert state == "RUNNING", f"the direct job {direct} is {state}"
    # The platform still sees 1 GPU-hour (it never saw that job) and hands its job over;
    # Slurm's accounting holds it: 10 more GPU-minutes would go over the limit. (slurmctld
    # floors used and running minutes separately, so the margin must exceed 2 minutes: with a
    # 5-minute job, 56 booked could count as 55 and 55 + 5 fit the 60.)
    job = submit(slurm, lumi_job(pid, "echo ran", accelerators_per_node=1, walltime="10m"))
    waiting = slurm.wait(job["id"], ("submitted",), timeout=60)
    deadline = time.monotonic() + 90  # Slurm names the reason at its next scheduling pass
    while "AssocGrp" not in waiting["reason"] and time.monotonic() < deadline:
        time.sleep(1)
        slurm.step()
        waiting = owner.get(f"/jobs/{job['id']}").json()
    assert waiting["state"] == "submitted", waiting
    assert waiting["reason"].startswith("Slurm: PENDING (AssocGrpGRESMinutes"), waiting["reason"]
    # The direct job ends: its remaining minutes are released and the platform's job runs.
    slurm.clusters.run("lumi", "scancel", direct)
    done = slurm.wait(job["id"])
    assert done["state"] == "completed", done


def test_cancel_timeout_and_a_failing_job_map_to_their_states_and_exit_codes(
    slurm: SlurmPlatform,
) -> None:
    owner, _org, project = slurm.platform.tenant()
    pid = project["id"]
    running = submit(slurm, lumi_job(pid, "sleep 600", accelerators_per_node=1))
    too_long = submit(slurm, leonardo_job(pid, "sleep 600", walltime="1m"))
    failing = submit(slurm, lumi_job(pid, "echo broken >&2; exit 3", accelerators_per_node=1))

    slurm.wait(running["id"], ("running",))
    r = owner.post(f"/jobs/{running['id']}/cancel")
    assert r.status_code == 200, r.text

    cancelled = slurm.wait(running["id"])
    assert cancelled["state"] == "cancelled"
    failed = slurm.wait(failing["id"])
    assert failed["state"] == "failed"
    assert failed["exit_code"] == 3
    assert "exit code 3" in failed["reason"]
    assert "broken" in owner.get(f"/jobs/{failing['id']}/logs?stream=stderr").json()["text"]
    timed_out = slurm.wait(too_long["id"], timeout=180)
    assert timed_out["state"] == "timeout"
    assert "walltime" in timed_out["reason"]

    # Each state as Slurm's accounting has it.
    for job, cluster, state in (
        (running, "lumi", "CANCELLED"),
        (failing, "lumi", "FAILED"),
        (too_long, "leonardo", "TIMEOUT"),
    ):
        slurm_id = owner.get(f"/jobs/{job['id']}").json()["external_id"].rsplit(":", 1)[1]
        assert slurm.clusters.sacct(cluster, slurm_id)["state"].startswith(state)
    # Every ended job has exactly one usage record.
    records = owner.get(f"/projects/{pid}/usage").json()["records"]
    assert sorted(r["job_id"] for r in records) == sorted(
        j["id"] for j in (running, too_long, failing)
    )
