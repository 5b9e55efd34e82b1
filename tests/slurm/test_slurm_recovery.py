"""What must survive: a worker killed between sbatch and its commit, a cluster that stops
answering. The worker here is a real ``aif serve`` process, killed with SIGKILL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from aifactory.db.tables import Job
from tests.conftest import Databases
from tests.slurm.conftest import Clusters, SlurmPlatform, make_platform
from tests.slurm.test_slurm_jobs import lumi_job, submit

AIF = Path(sys.executable).with_name("aif")
SLURM_COMMANDS = ("squeue", "sacct", "scancel", "sacctmgr", "scontrol")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(sp: SlurmPlatform, sites: Path) -> subprocess.Popen[bytes]:
    s = sp.platform.settings
    env = {
        **os.environ,
        "AIF_DATA_DIR": str(s.data_dir),
        "AIF_DATABASE_URL": s.effective_database_url,
        "AIF_SLURM_SITES": str(sites),
        "AIF_LOOP_INTERVAL_S": "0.2",
        "AIF_SLURM_SYNC_INTERVAL_S": "0.5",
        "AIF_DEFAULT_CALLS": "false",
    }
    log = open(s.data_dir / f"serve-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [str(AIF), "serve", "--port", str(_free_port())], env=env, stdout=log, stderr=log
    )


def _killing_sbatch(bin_dir: Path) -> None:
    """sbatch that submits for real, prints the id, then kills the process that called it:
    the worker dies after Slurm accepted the job and before the database heard of it."""
    bin_dir.mkdir()
    for name in SLURM_COMMANDS:
        (bin_dir / name).symlink_to(f"/usr/bin/{name}")
    wrapper = bin_dir / "sbatch"
    wrapper.write_text(
        '#!/bin/bash\nout=$(/usr/bin/sbatch "$@")\nrc=$?\necho "$out"\nkill -9 $PPID\nexit $rc\n'
    )
    wrapper.chmod(0o755)


def _job(sp: SlurmPlatform, job_id: str) -> Job:
    with sp.platform.runtime.db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def test_a_worker_killed_between_sbatch_and_commit_leaves_exactly_one_slurm_job(
    tmp_path: Path, databases: Databases, slurm_clusters: Clusters
) -> None:
    bin_dir = tmp_path / "bin"
    _killing_sbatch(bin_dir)
    sp = make_platform(tmp_path, databases, slurm_clusters, bin_dir=str(bin_dir))
    sites = sp.platform.settings.slurm_sites
    assert sites is not None
    try:
        with sp.platform.client:
            _owner, _org, project = sp.platform.tenant()
            job = submit(sp, lumi_job(project["id"], "sleep 2; echo once", accelerators_per_node=1))
            comment = f"aif:{job['id']}"

            worker = _serve(sp, sites)
            assert worker.wait(timeout=120) == -9  # killed by its own sbatch
            left = _job(sp, job["id"])
            assert left.state == "placed" and left.external_id is None
            assert len(slurm_clusters.jobs_with_comment("lumi", comment)) == 1

            # Restart with the real sbatch: the job is found by its comment, not resubmitted.
            plain: dict[str, Any] = yaml.safe_load(sites.read_text())
            del plain["lumi"]["bin_dir"]
            plain_sites = tmp_path / "sites-plain.yaml"
            plain_sites.write_text(yaml.safe_dump(plain))
            worker = _serve(sp, plain_sites)
            try:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and _job(sp, job["id"]).state != "completed":
                    time.sleep(0.5)
            finally:
                worker.terminate()
                worker.wait(timeout=30)
            done = _job(sp, job["id"])
            assert done.state == "completed", done.reason
            (slurm_id,) = slurm_clusters.jobs_with_comment("lumi", comment)
            assert done.external_id == f"lumi:{slurm_id}"
    finally:
        sp.cleanup()
        sp.platform.runtime.close()


def test_a_cluster_that_stops_answering_is_degraded_and_recovers(
    slurm: SlurmPlatform,
) -> None:
    owner, _org, project = slurm.platform.tenant()
    pid = project["id"]
    either = {
        "name": "either",
        "project": pid,
        "run": "sleep 1; echo done",
        "software_stack": "any",
        "constraints": {"sites": ["lumi", "leonardo"]},
        "resources": {"accelerators_per_node": 1, "cpus": 1, "memory_gb": 1, "walltime": "5m"},
    }
    # Running at lumi when its controller stops.
    early = submit(slurm, lumi_job(pid, "sleep 8; echo survived", accelerators_per_node=1))
    slurm.wait(early["id"], ("running",))
    slurm.clusters.ctld("stop", "lumi")
    try:
        # Placed before anyone noticed: sbatch does not answer, the job keeps its place and
        # is tried again later (with backoff), not failed.
        placed = submit(slurm, lumi_job(pid, "echo retried", accelerators_per_node=1))
        slurm.platform.runtime.dispatcher.dispatch_once()
        retrying = owner.get(f"/jobs/{placed['id']}").json()
        assert retrying["state"] == "placed", retrying
        assert retrying["reason"].startswith("waiting for site lumi to answer (attempt 1")
        slurm.step()
        site = owner.get("/sites/lumi").json()
        assert site["health"]["state"] == "degraded", site["health"]
        assert site["health"]["error"]
        assert owner.get("/sites/leonardo").json()["health"]["state"] == "ok"
        # New work goes to the cluster that answers ...
        moved = submit(slurm, either)
        assert slurm.wait(moved["id"])["site"] == "leonardo"
        # ... and a job only lumi can run waits for it, with the reason.
        stuck = submit(slurm, lumi_job(pid, "echo later", accelerators_per_node=1))
        for _ in range(3):
            slurm.step()
        waiting = owner.get(f"/jobs/{stuck['id']}").json()
        assert waiting["state"] == "pending"
        assert "degraded" in waiting["reason"]
        assert owner.get(f"/jobs/{early['id']}").json()["state"] == "running"
    finally:
        slurm.clusters.ctld("start", "lumi")
    slurm.step()
    assert owner.get("/sites/lumi").json()["health"]["state"] == "ok"
    for job in (early, stuck, placed):
        done = slurm.wait(job["id"])
        assert done["state"] == "completed", done
    assert "survived" in owner.get(f"/jobs/{early['id']}/logs").json()["text"]
    # Nothing lost, nothing twice: one Slurm job per platform job.
    for job in (early, stuck, placed):
        assert len(slurm.clusters.jobs_with_comment("lumi", f"aif:{job['id']}")) == 1
    events = slurm.admin.get("/audit/events?limit=1000").json()["items"]
    site_events = [e["action"] for e in events if e["object_id"] == "lumi"]
    assert "site.degraded" in site_events and "site.ok" in site_events
