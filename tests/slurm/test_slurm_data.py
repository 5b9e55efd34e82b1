"""A dataset read by a real Slurm job: the platform stages it to lumi, writes its plaintext
in the job's folder on the cluster over the SSH transport (the login node of the test
cluster), the job reads it through AIF_DATASET_<NAME>, and when the job ends the plaintext is
gone from the cluster; the transfer log shows the copy."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from aifactory.db.tables import Job
from aifactory.sdk import Client
from tests.api.data_helpers import make_dataset
from tests.slurm.conftest import SlurmPlatform
from tests.slurm.test_slurm_jobs import submit
from tests.slurm.test_slurm_scripts import over_ssh  # noqa: F401 - the fixture

READ = """#!/bin/bash
#SBATCH -J read-corpus
#SBATCH -A {project}
#SBATCH -p small-g
#SBATCH --gpus-per-node=1
#SBATCH --mem=1G
#SBATCH -t 5
#AIF --dataset=corpus@1
cd "$AIF_DATASET_CORPUS"
sha256sum train/part-0.txt train/part-1.txt
ls "$AIF_DATASETS"
"""


def _files(root: Path) -> Iterator[tuple[str, bytes]]:
    for i in range(2):
        data = f"line {i}\\n".encode() * (1000 + i)
        path = root / "train" / f"part-{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        yield f"train/part-{i}.txt", data


def test_a_slurm_job_reads_its_dataset_staged_over_ssh_and_it_is_removed_after(
    over_ssh: SlurmPlatform,  # noqa: F811
    tmp_path: Path,
) -> None:
    p = over_ssh.platform
    owner, _org, project = p.tenant()
    ds = make_dataset(
        owner,
        project["id"],
        "corpus",
        home_site="local",
        policy={"kind": "countries", "countries": ["FI", "LU"]},
    )
    folder = tmp_path / "corpus"
    expected = dict(_files(folder))
    client = Client("http://testserver", owner.token, http=p.client)
    client.data.push(ds["id"], folder)
    job = submit(over_ssh, {"script": READ.format(project=project["id"])})
    done = over_ssh.wait(job["id"])
    assert done["state"] == "completed", done
    assert done["site"] == "lumi"
    text = owner.get(f"/jobs/{job['id']}/logs").json()["text"]
    for name, data in expected.items():
        assert f"{hashlib.sha256(data).hexdigest()}  {name}" in text, text
    assert text.rstrip().endswith("corpus")
    log = owner.get(f"/datasets/{ds['id']}/transfers").json()
    stage = [t for t in log if t["kind"] == "stage"]
    assert [(t["from_site"], t["to_site"], t["job_id"]) for t in stage] == [
        ("local", "lumi", job["id"])
    ]
    with p.runtime.db.read() as s:
        workdir = s.get(Job, job["id"]).workdir
    assert workdir and not (Path(workdir) / "datasets").exists()  # plaintext gone after the job
