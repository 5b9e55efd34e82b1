"""The issue's seven scripts in short: what a new user's EuroHPC scripts met before, and what
they meet now, through the API — --mem=0 accepted, a LUMI script with no stack runs ROCm on
its partition, LUMI's small-g and dev-g exist, and a script's stack follows what it loads."""

from __future__ import annotations

import pytest

from tests.api.test_arrays import submit
from tests.conftest import Platform

LUMI = """#!/bin/bash -l
#SBATCH --job-name=pretrain
#SBATCH --account={project}
#SBATCH --partition={partition}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=7
#SBATCH --mem=0
#SBATCH --time=1:00:00
srun python train.py
"""


@pytest.mark.parametrize(
    ("partition", "nodes", "whole", "ok"),
    [
        ("standard-g", 2, True, True),
        ("small-g", 2, False, True),
        ("dev-g", 2, False, True),
        ("small-g", 5, False, False),  # small-g takes at most 4 nodes per job
    ],
)
def test_a_lumi_script_with_no_stack_runs_rocm_on_its_partition(
    platform: Platform, partition: str, nodes: int, whole: bool, ok: bool
) -> None:
    owner, _org, project = platform.tenant()
    script = LUMI.format(project=project["id"], partition=partition, nodes=nodes)
    r = owner.post("/jobs?dry_run=true", {"script": script, "simulate": True})
    assert r.status_code == 200, r.text
    p = r.json()
    if not ok:
        assert p["outcome"] == "refused"
        assert "takes at most 4 nodes per job, the job needs 5" in p["reason"]
        return
    assert p["outcome"] == "place", p
    assert p["placement"]["chosen"] == {"site": "lumi", "partition": partition}
    need = p["needs"][f"lumi/{partition}"]
    # --mem=0 is the node's 512 GB; 8 tasks x 7 CPUs, or the whole node on standard-g
    assert (need["accelerators"], need["memory_gb"]) == (16, 512)
    assert (need["cpus"], need["whole_nodes"]) == ((64, True) if whole else (56, False))
    job = submit(owner, {"script": script, "simulate": True})
    assert job["warnings"] == []
    detail = owner.get(f"/jobs/{job['id']}").json()
    assert detail["spec"]["software_stack"] is None  # the partition's stack, not assumed CUDA


CUDA_SCRIPT = """#!/bin/bash
#SBATCH --job-name=cuda-train
#SBATCH --account={project}
#SBATCH {partition}
#SBATCH --gres=gpu:4
#SBATCH -t 30
module load cuda/12.1 nccl
srun python train.py
"""


def test_a_script_that_loads_cuda_goes_where_cuda_is_served_and_says_why(
    platform: Platform,
) -> None:
    owner, _org, project = platform.tenant()
    anywhere = CUDA_SCRIPT.format(project=project["id"], partition="--ntasks-per-node=1")
    r = owner.post("/jobs?dry_run=true", {"script": anywhere, "simulate": True})
    p = r.json()
    assert p["stack"] == "cuda" and p["stack_reason"].startswith("line 7: loads a CUDA module")
    chosen = p["placement"]["chosen"]
    lumi = [c for c in p["placement"]["candidates"] if c["site"] == "lumi"]
    assert chosen["site"] != "lumi" and all(c["filter"] == "stack" for c in lumi), lumi
    on_lumi = CUDA_SCRIPT.format(project=project["id"], partition="-p standard-g")
    refused = owner.post("/jobs", {"script": on_lumi, "simulate": True})
    assert refused.status_code == 422, refused.text
    assert "cuda" in refused.text and "rocm" in refused.text
