"""``make bench-slurm``: the platform against plain ``sbatch`` on one real Slurm cluster.

Against the local test cluster ``lumi`` (``scripts/slurm-test-cluster.sh``), in one run:

1. **Submission.** ``--jobs`` (2,000) jobs with plain ``sbatch --parsable ... --wrap=true``, one
   process per job and the same clean environment the platform's CLI transport uses, and as
   many through the platform: ``POST /api/v1/jobs`` (timed apart), then
   ``Dispatcher.dispatch_once()`` until all are ``submitted`` (placement, reservation, sbatch,
   commit). The two alternate in blocks of the dispatcher's batch (500), so both see the same
   queue length in slurmctld. Target: the platform's rate >= 50% of raw sbatch's.
2. **Sync.** ``--sync-jobs`` (10,000) Slurm jobs the platform tracks: its own, the raw ones and
   more plain sbatch jobs, inserted as ``submitted`` rows shaped like a real one. All are
   cancelled; once sacct shows them CANCELLED, ONE ``poll_once({SLURM})`` is timed: squeue,
   sacct in chunks, 10,000 final states and usage records written (target <= 2 s), with its
   parts. Also timed: passes while the jobs are pending, and one when nothing is tracked.

No job runs and nobody else is held up: the run's own root account (``aifbench-<random>``)
gets ``GrpTRES=gres/gpu=0``, so its jobs stay PENDING (AssocGrpGRES) while the node stays
usable. Everything is cancelled and the account tree deleted at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from aifactory.api.app import create_app
from aifactory.db.tables import Job, UsageRecord, table
from aifactory.domain.catalog import ExecutorKind
from aifactory.executors.slurm.executor import SlurmExecutor
from aifactory.services.bootstrap import init_admin, prepare
from aifactory.services.ids import new_id
from aifactory.services.runtime import Runtime
from aifactory.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "slurm-test-cluster.sh"
BASE = Path(os.environ.get("AIF_SLURM_TEST_DIR", "/var/lib/aif-slurm-test"))
CLUSTER, PARTITION = "lumi", "standard-g"
TARGET_RATIO, TARGET_SYNC_S = 0.5, 2.0


class Slurm:
    """Slurm's commands against one cluster, with the CLI transport's clean environment."""

    def __init__(self, conf: str) -> None:
        home = os.environ.get("HOME", "/")
        self.env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home}
        self.env.update(SLURM_CONF=conf, SLURM_TIME_FORMAT="%s")

    def run(self, line: str, check: bool = True, timeout: float = 600) -> str:
        argv = line.split()
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{line}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def sbatch(self, account: str, gres: str) -> str:
        opts = f"--account={account} --partition={PARTITION} --gres=gpu:{gres}:1 --time=5"
        out = self.run(f"sbatch --parsable {opts} --output=/dev/null --wrap=true")
        return out.strip().split(";")[0]

    def live(self, account: str) -> int:
        return len(self.run(f"squeue -h -A{account} -tPD,R,CG,CF,S -o%i").split())

    def cancelled(self, account: str, since: datetime) -> set[str]:
        window = f"-S{since:%Y-%m-%dT%H:%M:%S} -Enow"
        out = self.run(f"sacct -X -n -P -M{CLUSTER} -A{account} -sCA {window} -oJobIDRaw")
        return set(out.split())


class Timers:
    """Wall time and calls, by name, of methods wrapped on live objects."""

    def __init__(self) -> None:
        self.s: dict[str, float] = {}
        self.n: dict[str, int] = {}

    def wrap(self, obj: object, attr: str) -> None:
        fn: Callable[..., Any] = getattr(obj, attr)

        def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                self.s[attr] = self.s.get(attr, 0.0) + time.perf_counter() - t0
                self.n[attr] = self.n.get(attr, 0) + 1

        setattr(obj, attr, timed)


def wait_for(what: str, ok: Callable[[], bool], timeout: float) -> float:
    t0 = time.monotonic()
    while not ok():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)
    return time.monotonic() - t0


def machine(slurm: Slurm) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((x.split(":", 1)[1].strip() for x in cpuinfo if x.startswith("model name")), "")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "slurm": slurm.run("sbatch --version").strip(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def build(tmp: Path, conf: str, gres: str, root: str) -> tuple[Runtime, TestClient]:
    """The platform, as tests/slurm/conftest.py builds it: SQLite, one site connection."""
    sites = tmp / "slurm-sites.yaml"
    conn = {"transport": "cli", "cluster": CLUSTER, "account": root, "slurm_conf": conf}
    sites.write_text(yaml.safe_dump({CLUSTER: {**conn, "gres": {PARTITION: gres}}}))
    db_url = f"sqlite:///{tmp / 'data' / 'aifactory.db'}"
    # The bench measures hand-over speed, so the in-flight window may not hold jobs back.
    settings = load_settings(
        data_dir=tmp / "data",
        database_url=db_url,
        run_loops=False,
        slurm_sites=sites,
        slurm_window=100_000,
    )
    prepare(settings)
    runtime = Runtime(settings)
    init_admin(runtime.db, settings)
    client = TestClient(create_app(settings, runtime))
    client.headers["Authorization"] = "Bearer " + settings.admin_token_file.read_text().strip()
    return runtime, client


def post(client: TestClient, path: str, body: dict[str, Any]) -> str:
    r = client.post("/api/v1" + path, json=body)
    if r.status_code != 201:
        raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:500]}")
    return str(r.json()["id"])


class Bench:
    def __init__(self, args: argparse.Namespace, info: dict[str, Any], tmp: Path) -> None:
        self.n, self.sync_jobs = args.jobs, args.sync_jobs
        conf, self.gres = str(info[CLUSTER]["slurm_conf"]), str(info[CLUSTER]["gres_type"])
        self.slurm, self.tag = Slurm(conf), uuid.uuid4().hex[:8]
        self.root = f"aifbench-{self.tag}"
        self.runtime, self.client = build(tmp, conf, self.gres, self.root)
        self.accounts = [self.root]  # what to delete at the end, leaf first
        self.timers = Timers()
        self.report: dict[str, Any] = {"machine": machine(self.slurm), "jobs": self.n}

    def count(self, state: str) -> int:
        with self.runtime.db.read() as session:
            return int(session.scalar(select(func.count()).where(Job.state == state)) or 0)

    def tenant(self) -> str:
        """An organisation, a project, a grant on lumi/standard-g and N jobs; the project."""
        org = post(self.client, "/orgs", {"name": f"Bench {self.tag}", "kind": "research",
                   "country": "FI", "registration_id": f"BENCH-{self.tag}"})  # fmt: skip
        project = post(self.client, "/projects", {"org_id": org, "name": "bench"})
        self.alloc = post(self.client, "/allocations", {
            "project_id": project, "partition": f"{CLUSTER}/{PARTITION}", "gpu_hours": 10_000,
            "ends_at": "2099-01-01T00:00:00Z", "reason": "bench"})  # fmt: skip
        self.accounts[:0] = [self.alloc, project, org]
        res = {"accelerator": "MI250X-GCD", "accelerators_per_node": 1, "cpus": 1, "memory_gb": 1}
        spec = {
            "name": "bench",
            "project": project,
            "run": "true",
            "software_stack": "rocm",
            "constraints": {"sites": [CLUSTER]},
            "resources": {**res, "walltime": "5m"},
        }
        t0 = time.perf_counter()
        for _ in range(self.n):
            post(self.client, "/jobs", spec)
        self.report["api_per_s"] = self.n / (time.perf_counter() - t0)
        return project

    def accounts_and_hold(self) -> None:
        """Reconcile once (not timed), then GrpTRES=gres/gpu=0 on the run's root account, and
        wait until slurmctld enforces it: from now on no job of this run can start."""
        assert self.runtime.slurm is not None
        result = self.runtime.slurm.reconcile(CLUSTER)
        if result.error:
            raise RuntimeError(f"reconcile: {result.error}")
        where = f"where name={self.root} cluster={CLUSTER}"
        self.slurm.run(f"sacctmgr -i modify account {where} set GrpTRES=gres/gpu=0")
        show = f"scontrol show assoc_mgr flags=assoc accounts={self.root}"
        wait_for("the GrpTRES hold", lambda: "gres/gpu=0(" in self.slurm.run(show), 60)
        executor = self.runtime.executors[ExecutorKind.SLURM]
        assert isinstance(executor, SlurmExecutor)
        for attr in ("submit", "queue", "accounting"):
            self.timers.wrap(executor.clients[CLUSTER], attr)
        self.timers.wrap(self.runtime.dispatcher, "apply")

    def submissions(self) -> list[str]:
        """Raw sbatch and platform dispatch in alternating blocks; the raw jobs' ids."""
        raw: list[str] = []
        raw_s = plat_s = 0.0
        # The dispatcher places every pending job per cycle (batch None): blocks of 500.
        launched, block = 0, self.runtime.dispatcher.batch or 500
        while len(raw) < self.n or launched < self.n:
            t0 = time.perf_counter()
            for _ in range(min(block, self.n - len(raw))):
                raw.append(self.slurm.sbatch(self.alloc, self.gres))
            t1 = time.perf_counter()
            got = self.runtime.dispatcher.dispatch_once() if launched < self.n else 0
            raw_s += t1 - t0
            plat_s += time.perf_counter() - t1
            launched += got
            if got == 0 and launched < self.n:
                raise RuntimeError(f"dispatch_once launched nothing after {launched} jobs")
        if self.count("submitted") != self.n:
            raise RuntimeError(f"{self.count('submitted')} jobs submitted, not {self.n}")
        r = self.report
        r["raw_per_s"], r["platform_per_s"] = self.n / raw_s, self.n / plat_s
        r["ratio"] = r["platform_per_s"] / r["raw_per_s"]
        r["raw_ms"], r["dispatch_ms"] = 1000 * raw_s / self.n, 1000 * plat_s / self.n
        r["sbatch_in_dispatch_ms"] = 1000 * self.timers.s["submit"] / self.n
        return raw

    def insert_tracked(self, slurm_ids: list[str]) -> None:
        """Plain sbatch jobs as ``submitted`` rows, copied from a real submitted job."""
        jobs = table(Job)
        with self.runtime.db.write() as session:
            one = select(jobs).where(jobs.c.state == "submitted").limit(1)
            model = dict(session.execute(one).mappings().one())
            rows = [{**model, "id": new_id("job"), "external_id": f"{CLUSTER}:{sid}",
                     "idempotency_key": None} for sid in slurm_ids]  # fmt: skip
            session.execute(jobs.insert(), rows)

    def sync_pass(self, name: str) -> None:
        """One Slurm sync pass, timed with its parts."""
        self.timers.s.clear()
        self.timers.n.clear()
        t0 = time.perf_counter()
        changed = self.runtime.dispatcher.poll_once({ExecutorKind.SLURM})
        total = time.perf_counter() - t0
        parts = {k: self.timers.s.get(k, 0.0) for k in ("queue", "accounting", "apply")}
        parts["other"] = total - sum(parts.values())
        self.report.setdefault("passes", {})[name] = {
            "total_s": total, **parts, "changed": changed, "calls": dict(self.timers.n)
        }  # fmt: skip

    def sync(self, raw: list[str]) -> None:
        started = datetime.now()
        extra = max(0, self.sync_jobs - 2 * self.n)
        t0 = time.perf_counter()
        more = [self.slurm.sbatch(self.alloc, self.gres) for _ in range(extra)]
        self.report["extra_raw_per_s"] = extra / (time.perf_counter() - t0) if extra else None
        self.insert_tracked(raw + more)
        with self.runtime.db.read() as session:
            ids = session.scalars(select(Job.external_id).where(Job.state == "submitted"))
            want = {str(e).rsplit(":", 1)[1] for e in ids}
        self.report["tracked"] = len(want)
        self.sync_pass("10k pending, 1st pass")
        self.sync_pass("10k pending, 2nd pass")
        t0 = time.perf_counter()
        self.slurm.run(f"scancel --account={self.alloc}")
        self.report["scancel_s"] = time.perf_counter() - t0
        alloc, slurm = self.alloc, self.slurm
        self.report["wait_squeue_s"] = wait_for("squeue", lambda: slurm.live(alloc) == 0, 300)
        self.report["wait_sacct_s"] = wait_for(
            "sacct to show CANCELLED", lambda: want <= slurm.cancelled(alloc, started), 600
        )
        self.sync_pass("10k cancelled (the target)")
        self.sync_pass("nothing tracked any more")
        with self.runtime.db.read() as session:
            usage = session.execute(select(func.count(), func.count(UsageRecord.job_id.distinct())))
            records, jobs_with = usage.one()
        self.report["check"] = {"tracked": len(want), "cancelled": self.count("cancelled"),
                                "usage_records": records, "jobs_with_usage": jobs_with}  # fmt: skip
        self.report["sync_s"] = self.report["passes"]["10k cancelled (the target)"]["total_s"]

    def cleanup(self) -> None:
        """Cancel every job of the run, wait until none is left, delete its accounts."""
        for acct in self.accounts:
            self.slurm.run(f"scancel --account={acct}", check=False)
        try:
            wait_for(
                "the end of all jobs", lambda: not sum(map(self.slurm.live, self.accounts)), 300
            )
        except RuntimeError as exc:
            print(f"cleanup: {exc}; accounts kept: {self.accounts}", file=sys.stderr)
            return
        for acct in self.accounts:
            where = f"where name={acct} cluster={CLUSTER}"
            self.slurm.run(f"sacctmgr -i delete account {where}", check=False)

    def run(self) -> dict[str, Any]:
        try:
            with self.client:
                self.tenant()
                self.accounts_and_hold()
                self.sync(self.submissions())
        finally:
            self.cleanup()
            self.runtime.close()
        return self.report


def print_report(r: dict[str, Any]) -> None:
    m, n = r["machine"], r["jobs"]
    print(f"aifactory Slurm bench: cluster {CLUSTER}, {m['date']}")
    print(f"  machine   {m['nproc']} CPUs, {m['cpu_model']}, {m['slurm']}, load {m['load_avg_1m']}")
    print(f"  API       {n} POST /jobs: {r['api_per_s']:.1f}/s (not part of the target)")
    print(f"  raw       {n} sbatch: {r['raw_per_s']:.1f}/s ({r['raw_ms']:.1f} ms each)")
    print(
        f"  platform  {n} dispatched: {r['platform_per_s']:.1f}/s ({r['dispatch_ms']:.1f} ms "
        f"each, of which sbatch {r['sbatch_in_dispatch_ms']:.1f} ms)"
    )
    verdict = "met" if r["ratio"] >= TARGET_RATIO else "NOT met"
    print(f"  ratio     {r['ratio']:.3f} platform/raw (target >= {TARGET_RATIO}: {verdict})")
    print(
        f"  sync set  {r['tracked']} tracked; scancel {r['scancel_s']:.1f} s, squeue clear "
        f"{r['wait_squeue_s']:.1f} s later, sacct all CANCELLED {r['wait_sacct_s']:.1f} s later"
    )
    print(f"  {'pass':26s} total s  squeue s  sacct s  apply s  other s  changed")
    for name, p in r["passes"].items():
        cols = (p["total_s"], p["queue"], p["accounting"], p["apply"], p["other"])
        print(f"  {name:26s}" + "".join(f"{c:8.3f} " for c in cols) + f"{p['changed']:8d}")
    verdict = "met" if r["sync_s"] <= TARGET_SYNC_S else "NOT met"
    print(f"  sync      {r['sync_s']:.3f} s over {r['tracked']} jobs (target <= 2 s: {verdict})")
    print(f"  check     {r['check']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2000, help="Jobs each way (raw, platform).")
    ap.add_argument("--sync-jobs", type=int, default=10_000, help="Jobs in the sync pass.")
    ap.add_argument("--json-out", type=Path, help="Also write the figures here as JSON.")
    args = ap.parse_args(argv)
    proc = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True)
    if proc.returncode == 3:
        print(f"no real Slurm here: {proc.stderr.strip() or 'needs root'}", file=sys.stderr)
        return 2
    if proc.returncode != 0:
        print(f"slurm-test-cluster.sh start failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return 1
    info = json.loads((BASE / "clusters.json").read_text())
    with tempfile.TemporaryDirectory(prefix="aif-bench-slurm-") as tmp:
        report = Bench(args, info, Path(tmp)).run()
    print_report(report)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    c = report["check"]
    good = c["tracked"] == c["cancelled"] == c["usage_records"] == c["jobs_with_usage"]
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
