"""Real users' scripts on the real Slurm test clusters, on the factories' real partitions: a
throttled job array through lumi (each task a Slurm job of its own, never more than the
throttle at the site at once), a log that ``-o logs/%x-%j.out`` put on the cluster read back
over the SSH transport, a QoS variant of a partition (Leonardo's boost_qos_dbg) submitted
with its QoS, and LUMI's standard-g giving (and billing) whole nodes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aifactory.executors import logs as local_logs
from tests.conftest import Databases
from tests.slurm.conftest import FINAL, Clusters, SlurmPlatform, make_platform
from tests.slurm.test_slurm_jobs import lumi_job, submit

SWEEP = """#!/bin/bash
#SBATCH --job-name=sweep
#SBATCH --account={project}
#SBATCH --partition=small-g
#SBATCH --array=0-5%2
#SBATCH --gpus-per-node=1
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=5
#SBATCH --output=logs/%x-%A_%a.out
echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT on $SLURM_JOB_PARTITION"
sleep 3
"""


def _at_slurm(sp: SlurmPlatform, array_id: str) -> int:
    """How many of the array's tasks Slurm holds now (pending or running)."""
    out = sp.clusters.run("lumi", "squeue", "-h", "-M", "lumi", "-o", "%k")
    return sum(1 for comment in out.split() if comment.startswith(f"aif:{array_id}_"))


def test_a_throttled_array_runs_through_slurm_and_one_cancelled_task_leaves_the_others(
    slurm: SlurmPlatform,
) -> None:
    owner, _org, project = slurm.platform.tenant()
    array = submit(slurm, {"script": SWEEP.format(project=project["id"])})
    assert array["array_tasks"] == 6
    r = owner.post(f"/jobs/{array['id']}_5/cancel")
    assert r.status_code == 200, r.text
    most_at_slurm, most_active = 0, 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        slurm.step()
        most_at_slurm = max(most_at_slurm, _at_slurm(slurm, array["id"]))
        job = owner.get(f"/jobs/{array['id']}").json()
        active = sum(n for s, n in job["array"]["states"].items() if s not in FINAL)
        most_active = max(most_active, active - job["array"]["states"].get("pending", 0))
        if job["state"] in FINAL:
            break
        time.sleep(0.3)
    assert job["array"]["states"] == {"completed": 5, "cancelled": 1}, job
    assert job["state"] == "cancelled"  # any task cancelled and none failed
    assert 1 <= most_at_slurm <= 2 and most_active <= 2, (most_at_slurm, most_active)
    for i in range(5):
        task = owner.get(f"/jobs/{array['id']}_{i}").json()
        assert (task["site"], task["partition"], task["state"]) == ("lumi", "small-g", "completed")
        slurm_id = task["external_id"].split(":")[1]
        acct = slurm.clusters.sacct("lumi", slurm_id)  # one Slurm job, not an array of six
        assert acct["state"] == "COMPLETED" and "_" not in acct["id"]
        assert task["logs"]["stdout"].endswith(f"logs/sweep-{array['id']}_{i}.out")
        text = owner.get(f"/jobs/{array['id']}_{i}/logs").json()["text"]
        assert text.startswith(f"task {i} of 6 on small-g"), text
    cancelled = owner.get(f"/jobs/{array['id']}_5").json()
    assert cancelled["state"] == "cancelled" and cancelled["external_id"] is None
    # What Slurm ran: the script with the array line commented out, the rest as written.
    workdir = Path(slurm.platform.runtime.settings.jobs_dir) / f"{array['id']}_0"
    sent = (workdir / "job.sbatch").read_text().split("\n")
    assert sent[4].startswith("##SBATCH --array=0-5%2  # aifactory:")
    assert sent[:4] == SWEEP.format(project=project["id"]).split("\n")[:4]


@pytest.fixture
def over_ssh(
    tmp_path: Path, databases: Databases, slurm_clusters: Clusters
) -> Iterator[SlurmPlatform]:
    """A platform whose lumi connection runs every Slurm command, and reads every log, on the
    test cluster's login node over SSH (sshd on 127.0.0.1, key-only)."""
    ssh: dict[str, Any] = slurm_clusters.info["lumi"]["ssh"]
    sp = make_platform(
        tmp_path,
        databases,
        slurm_clusters,
        ssh=f"{ssh['user']}@{ssh['host']}",
        ssh_options=list(ssh["options"]),
    )
    with sp.platform.client:
        yield sp
    sp.cleanup()
    sp.platform.runtime.close()


TRAIN = """#!/bin/bash
#SBATCH -J pretrain
#SBATCH -A {project}
#SBATCH -p small-g
#SBATCH --gpus-per-node=2
#SBATCH -c 1
#SBATCH --mem=1G
#SBATCH -t 5
#SBATCH -o logs/%x-%j.out
echo "rank 0 of $SLURM_NNODES node(s), GPUs $SLURM_GPUS_ON_NODE"
echo "done"
"""


def test_the_log_of_a_slurm_job_is_read_over_ssh_where_o_put_it(
    over_ssh: SlurmPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, _org, project = over_ssh.platform.tenant()
    job = submit(over_ssh, {"script": TRAIN.format(project=project["id"])})
    done = over_ssh.wait(job["id"])
    assert done["state"] == "completed", done
    slurm_id = done["external_id"].split(":")[1]
    detail = owner.get(f"/jobs/{job['id']}").json()
    assert detail["logs"]["stdout"].endswith(f"/logs/pretrain-{slurm_id}.out")

    # The API host must not read the file itself: only the site's transport may.
    def no_local_read(*args: object, **kwargs: object) -> object:
        raise AssertionError("the log was read from the API host's filesystem")

    monkeypatch.setattr(local_logs, "read_file", no_local_read)
    body = owner.get(f"/jobs/{job['id']}/logs").json()
    assert body["text"] == "rank 0 of 1 node(s), GPUs 2\ndone\n", body
    assert body["final"] is True
    tail = owner.get(f"/jobs/{job['id']}/logs?tail=1").json()
    assert tail["text"] == "done\n"


QOS_SCRIPT = """#!/bin/bash
#SBATCH -J debug-run
#SBATCH -A {project}
#SBATCH -p boost_usr_prod
#SBATCH -q boost_qos_dbg
#SBATCH --gres=gpu:a100:1
#SBATCH --mem=1G
#SBATCH -t 10
echo "debug QoS"
"""


def test_a_qos_variant_is_placed_on_its_entry_and_runs_with_its_qos(slurm: SlurmPlatform) -> None:
    owner, _org, project = slurm.platform.tenant()
    job = submit(slurm, {"script": QOS_SCRIPT.format(project=project["id"])})
    detail = owner.get(f"/jobs/{job['id']}").json()
    assert detail["spec"]["constraints"]["partitions"] == ["boost_qos_dbg"]  # -p with -q
    done = slurm.wait(job["id"])
    assert done["state"] == "completed", done
    assert (done["site"], done["partition"]) == ("leonardo", "boost_qos_dbg")
    slurm_id = done["external_id"].split(":")[1]
    out = slurm.clusters.run(
        "leonardo",
        "sacct",
        "-X",
        "-P",
        "-n",
        "-M",
        "leonardo",
        f"-j{slurm_id}",
        "--format=Partition,QOS",
    )
    assert out.split() == ["boost_usr_prod|boost_qos_dbg"]


def test_a_job_on_a_partition_of_whole_nodes_gets_and_is_billed_the_whole_node(
    slurm: SlurmPlatform,
) -> None:
    """LUMI's standard-g is allocated by node (shared: false; OverSubscribe=EXCLUSIVE on the
    test cluster too): 2 GCDs asked, 8 given, 8 reserved and 8 billed, as sacct says."""
    owner, _org, project = slurm.platform.tenant()
    spec = lumi_job(project["id"], "echo gpus $SLURM_GPUS_ON_NODE", accelerators_per_node=2)
    spec["constraints"]["partitions"] = ["standard-g"]
    job = submit(slurm, spec)
    done = slurm.wait(job["id"])
    assert done["state"] == "completed", done
    detail = owner.get(f"/jobs/{job['id']}").json()
    assert detail["resolved"]["accelerators"] == 8 and detail["resolved"]["whole_nodes"] is True
    assert owner.get(f"/jobs/{job['id']}/logs").json()["text"] == "gpus 8\n"
    acct = slurm.clusters.sacct("lumi", done["external_id"].split(":")[1])
    assert "gres/gpu=8" in acct["tres"]
    (record,) = [
        r
        for r in owner.get(f"/projects/{project['id']}/usage").json()["records"]
        if r["job_id"] == job["id"]
    ]
    assert record["gpus"] == 8 and record["gpu_seconds"] == 8 * int(acct["elapsed"])
