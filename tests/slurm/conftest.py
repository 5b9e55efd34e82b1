"""Real Slurm clusters for the tests: ``scripts/slurm-test-cluster.sh`` (the same script CI
runs) installs Slurm if missing and starts munge, slurmdbd on MariaDB, two clusters (``lumi``:
8 fake MI250X GCDs, partitions ``standard-g`` (default, whole nodes), ``small-g``, ``dev-g``, CLI
transport, and an SSH login node on 127.0.0.1:16822; ``leonardo``: 4 fake A100, partition
``boost_usr_prod`` with the QoS ``boost_qos_dbg``/``bprod``/``lprod``, slurmrestd) on loopback.

Without root and without Slurm the tests skip with the reason; ``AIF_REQUIRE_SLURM=1`` (set in
CI) turns that skip into a failure. Each platform gets its own account tree (``aift-<random>``)
so tests running side by side never reconcile each other's accounts away.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from aifactory.db.tables import Allocation
from tests.conftest import Actor, Databases, Platform, build_platform

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "slurm-test-cluster.sh"
BASE = Path(os.environ.get("AIF_SLURM_TEST_DIR", "/var/lib/aif-slurm-test"))
REQUIRE = os.environ.get("AIF_REQUIRE_SLURM") == "1"
FINAL = ("completed", "failed", "cancelled", "timeout")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist worker runs every Slurm test, one after another (``--dist loadgroup``): a
    test that stops a controller must not pull the cluster from under another one."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.xdist_group("slurm"))


@dataclass
class Clusters:
    info: dict[str, Any]

    def conf(self, cluster: str) -> str:
        return str(self.info[cluster]["slurm_conf"])

    def run(self, cluster: str, *argv: str, check: bool = True) -> str:
        env = {**os.environ, "SLURM_CONF": self.conf(cluster), "SLURM_TIME_FORMAT": "%s"}
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv}: {proc.stderr or proc.stdout}")
        return proc.stdout

    def sacct(self, cluster: str, slurm_id: str) -> dict[str, str]:
        out = self.run(
            cluster,
            "sacct",
            "-X",
            "-P",
            "-n",
            f"-M{cluster}",
            f"-j{slurm_id}",
            "--format=JobIDRaw,State,ExitCode,ElapsedRaw,AllocTRES,Comment",
        )
        line = next(x for x in out.splitlines() if x.split("|")[0] == slurm_id)
        keys = ("id", "state", "exit_code", "elapsed", "tres", "comment")
        return dict(zip(keys, line.split("|"), strict=True))

    def jobs_with_comment(self, cluster: str, comment: str) -> list[str]:
        out = self.run(cluster, "squeue", "-h", "-t", "all", "-o", "%i|%k")
        return [i for i, _, k in (x.partition("|") for x in out.splitlines()) if k == comment]

    def ctld(self, action: str, cluster: str) -> None:
        subprocess.run(["bash", str(SCRIPT), f"{action}-ctld", cluster], check=True, timeout=180)


def _start() -> Clusters | str:
    BASE.parent.mkdir(parents=True, exist_ok=True)
    lock = BASE.parent / "aif-slurm-test.lock"
    with open(lock, "w") as fh:  # xdist workers start the clusters once, one at a time
        fcntl.flock(fh, fcntl.LOCK_EX)
        proc = subprocess.run(
            ["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=900
        )
    if proc.returncode == 3:
        return f"real Slurm unavailable: {proc.stderr.strip() or 'needs root to install'}"
    if proc.returncode != 0:
        return f"slurm-test-cluster.sh start failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return Clusters(json.loads((BASE / "clusters.json").read_text()))


@pytest.fixture(scope="session")
def slurm_clusters() -> Clusters:
    result = _start()
    if isinstance(result, str):
        if REQUIRE:
            pytest.fail(f"AIF_REQUIRE_SLURM=1 but {result}")
        pytest.skip(result)
    return result


def connections(clusters: Clusters, root: str, **lumi_extra: Any) -> dict[str, Any]:
    leo = clusters.info["leonardo"]
    return {
        "lumi": {
            "transport": "cli",
            "cluster": "lumi",
            "account": root,
            "slurm_conf": clusters.conf("lumi"),
            "gres": {
                p: clusters.info["lumi"]["gres_type"] for p in ("standard-g", "small-g", "dev-g")
            },
            "timeout_s": 15,
            **lumi_extra,
        },
        "leonardo": {
            "transport": "rest",
            "cluster": "leonardo",
            "account": root,
            "slurm_conf": clusters.conf("leonardo"),
            "rest_url": leo["rest_url"],
            "rest_user": "root",
            "token_command": [
                "env",
                f"SLURM_CONF={clusters.conf('leonardo')}",
                "scontrol",
                "token",
                "username=root",
                "lifespan=3600",
            ],
            "timeout_s": 15,
        },
    }


@dataclass
class SlurmPlatform:
    platform: Platform
    clusters: Clusters
    root: str

    @property
    def admin(self) -> Actor:
        return self.platform.admin

    def step(self) -> None:
        """One pass of the dispatch and Slurm loops, as the server runs them."""
        rt = self.platform.runtime
        rt.dispatcher.dispatch_once()
        assert rt.slurm is not None
        rt.slurm.step()

    def wait(
        self, job_id: str, states: tuple[str, ...] = FINAL, timeout: float = 120.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self.step()
            job = dict(self.admin.get(f"/jobs/{job_id}").json())
            if job["state"] in states:
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} never reached {states}: {job}")

    def cleanup(self) -> None:
        """Cancel whatever this platform left at the sites and drop its account tree
        (allocations, then projects, then organisations, then the root)."""
        with self.platform.runtime.db.read() as session:
            rows = session.execute(
                select(Allocation.id, Allocation.project_id, Allocation.org_id)
            ).all()
        levels = [{r[0] for r in rows}, {r[1] for r in rows}, {r[2] for r in rows}, {self.root}]
        for cluster in ("lumi", "leonardo"):
            for acct in levels[0]:
                self.clusters.run(cluster, "scancel", f"--account={acct}", check=False)
        for cluster in ("lumi", "leonardo"):
            for names in levels:
                if names:
                    self.clusters.run(
                        cluster,
                        "sacctmgr",
                        "-i",
                        "delete",
                        "account",
                        "where",
                        f"name={','.join(sorted(names))}",
                        f"cluster={cluster}",
                        check=False,
                    )


def make_platform(
    tmp_path: Path, databases: Databases, clusters: Clusters, **lumi_extra: Any
) -> SlurmPlatform:
    root = f"aift-{uuid.uuid4().hex[:8]}"
    sites = tmp_path / "slurm-sites.yaml"
    sites.write_text(yaml.safe_dump(connections(clusters, root, **lumi_extra)))
    platform = build_platform(
        tmp_path,
        databases.sqlite(tmp_path / "data" / "aifactory.db"),
        slurm_sites=sites,
        slurm_sync_interval_s=0.5,
    )
    return SlurmPlatform(platform, clusters, root)


@pytest.fixture
def slurm(
    tmp_path: Path, databases: Databases, slurm_clusters: Clusters
) -> Iterator[SlurmPlatform]:
    sp = make_platform(tmp_path, databases, slurm_clusters)
    with sp.platform.client:
        yield sp
    sp.cleanup()
    sp.platform.runtime.close()
