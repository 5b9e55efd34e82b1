"""Operators' view: an existing #SBATCH script runs unchanged; `aif slurm reconcile
--dry-run` on a cluster with drift prints exactly the commands that fix it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from aifactory.cli import config
from aifactory.cli.main import app
from aifactory.sdk import Client
from tests.slurm.conftest import SlurmPlatform
from tests.slurm.test_slurm_jobs import submit

SCRIPT = """#!/bin/bash
#SBATCH -J legacy-train
#SBATCH -A {project}
#SBATCH -p boost_usr_prod
#SBATCH -N 1
#SBATCH -t 00:05:00
#SBATCH --gres=gpu:a100:2
#SBATCH --mem=1G
#SBATCH -c 1
#SBATCH --mail-type=END
# an ordinary comment
echo "nodes: $SLURM_JOB_NUM_NODES gpus: $SLURM_GPUS_ON_NODE"
echo "script ran unchanged"
"""


def test_an_existing_sbatch_script_runs_unchanged(slurm: SlurmPlatform) -> None:
    owner, _org, project = slurm.platform.tenant()
    text = SCRIPT.format(project=project["id"])
    job = submit(slurm, {"script": text})
    assert job["name"] == "legacy-train"
    assert job["project_id"] == project["id"]
    assert job["warnings"] == []  # --mail-type is the platform's own mail now
    detail = owner.get(f"/jobs/{job['id']}").json()
    res = detail["spec"]["resources"]
    assert (res["accelerator"], res["accelerators_per_node"], res["walltime"]) == ("A100", 2, 300)
    assert detail["spec"]["constraints"]["partitions"] == ["boost_usr_prod"]

    done = slurm.wait(job["id"])
    assert done["state"] == "completed", done
    assert done["site"] == "leonardo"
    logs = owner.get(f"/jobs/{job['id']}/logs").json()["text"]
    assert "script ran unchanged" in logs
    assert "nodes: 1" in logs
    # The script Slurm ran is the user's, byte for byte.
    workdir = Path(slurm.platform.runtime.settings.jobs_dir) / job["id"]
    assert (workdir / "job.sbatch").read_text() == text


def test_reconcile_dry_run_prints_exactly_the_commands_that_fix_drift(
    slurm: SlurmPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = slurm.platform.client
    monkeypatch.setattr(config, "client_factory", lambda url, token: Client(url, token, http=http))

    def _cli(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            app, ["--url", "http://testserver", "--token", slurm.admin.token, *args]
        )
        return result.exit_code, result.stdout

    owner, org, project = slurm.platform.tenant()
    rt = slurm.platform.runtime
    assert rt.slurm is not None
    assert not rt.slurm.reconcile("lumi").error
    alloc = next(
        a
        for a in owner.get(f"/allocations?project_id={project['id']}").json()
        if (a["site"], a["partition"]) == ("lumi", "standard-g")
    )
    minutes = 10_000 * 60
    # Drift: somebody changed the limit by hand and blocked the project's submissions.
    slurm.clusters.run(
        "lumi",
        "sacctmgr",
        "-i",
        "modify",
        "account",
        "where",
        f"name={alloc['id']}",
        "cluster=lumi",
        "set",
        "GrpTRESMins=gres/gpu=5",
    )
    slurm.clusters.run(
        "lumi",
        "sacctmgr",
        "-i",
        "modify",
        "account",
        "where",
        f"name={project['id']}",
        "cluster=lumi",
        "set",
        "GrpSubmitJobs=0",
    )
    code, out = _cli("slurm", "reconcile", "--site", "lumi", "--dry-run")
    assert code == 0, out
    assert sorted(out.splitlines()) == sorted(
        [
            f"sacctmgr -i modify account where name={project['id']} cluster=lumi set "
            "GrpSubmitJobs=-1",
            f"sacctmgr -i modify account where name={alloc['id']} cluster=lumi set "
            f"GrpTRESMins=gres/gpu={minutes}",
        ]
    )
    # A dry run changed nothing; the real run fixes it; a second run has nothing to do.
    assert _cli("slurm", "reconcile", "--site", "lumi", "--dry-run")[1] == out
    code, applied = _cli("slurm", "reconcile", "--site", "lumi")
    assert code == 0 and applied == out
    assert _cli("slurm", "reconcile", "--site", "lumi") == (0, "")
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
    assert f"|gres/gpu={minutes}" in limits
    _ = org

    # An operator suspends the project: its account refuses submissions at the site.
    operator = slurm.admin
    assert (
        operator.post(f"/projects/{project['id']}/suspend", {"reason": "audit"}).status_code == 200
    )
    code, out = _cli("slurm", "reconcile", "--site", "lumi")
    assert out.splitlines() == [
        f"sacctmgr -i modify account where name={project['id']} cluster=lumi set GrpSubmitJobs=0"
    ]
    refused = slurm.clusters.run(
        "lumi",
        "sbatch",
        "--output=/dev/null",
        f"--account={alloc['id']}",
        "--gres=gpu:mi250x:1",
        "--wrap=true",
        check=False,
    )
    assert refused == ""  # sbatch refused: the association's GrpSubmitJobs is 0
