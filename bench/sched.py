"""Benchmark of one scheduling cycle (``make bench-sched``).

Builds synthetic snapshots on the default federation (8 sites, 14 partitions; ``--catalog``
for another) with 10,000 projects in 2,000 organisations, a quarter of the accelerators busy,
and 1k / 10k / 100k / 1M pending jobs of
mixed shapes (1-64 accelerators, pinned models or any, CUDA/ROCm/both, 1-48 h, all three
objectives), each project with allocations on 1-3 partitions. Each size runs in a fresh
process: the median time of a full cycle, decisions per second, and the process's peak
memory (snapshot and decisions included).

    python bench/sched.py [--sizes 1000,10000,100000,1000000] [--repeat 3] [--catalog PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import resource
import statistics
import subprocess
import sys
import time

from aifactory.catalog.loader import load_catalog
from aifactory.domain.access import AccessMode
from aifactory.domain.jobs import JobStack, Objective
from aifactory.scheduling.cycle import cycle
from aifactory.scheduling.model import (
    Active,
    Budget,
    Demand,
    PartitionState,
    PendingJob,
    Snapshot,
)
from aifactory.scheduling.priority import Account

PROJECTS = 10_000
ORGS = 2_000
NOW = 1_800_000_000.0


def build(n: int, seed: int = 7, catalog_path: str | None = None) -> Snapshot:
    rng = random.Random(seed)
    catalog = load_catalog(catalog_path)
    parts = tuple(PartitionState(s, p) for s, p in catalog.partitions())
    usable = [ps for ps in parts if ps.site.is_operational and ps.partition.total_accelerators > 4]
    # Job shapes: a few hundred distinct ones, as a real queue has (people reuse scripts).
    shapes = []
    models = sorted({ps.partition.accelerator for ps in usable})
    for _ in range(300):
        ps = rng.choice(usable)
        per_node = min(rng.choice((1, 2, 4, 4, 8)), ps.partition.accelerators_per_node)
        nodes = rng.choice((1, 1, 1, 2, 4, 8))
        pinned = rng.random() < 0.4
        shapes.append(
            Demand(
                accelerator=rng.choice(models) if pinned else "any",
                accelerators_per_node=per_node,
                nodes=nodes,
                cpus=8,
                memory_gb=64,
                walltime_s=rng.choice((1, 2, 4, 12, 24, 48)) * 3600,
                stack=JobStack.ANY if not pinned else rng.choice((JobStack.ANY, JobStack.CUDA)),
                objective=rng.choice(list(Objective)),
                simulate=True,
            )
        )
    projects = [f"prj-{i:05d}" for i in range(PROJECTS)]
    org_of = {p: f"org-{i % ORGS:04d}" for i, p in enumerate(projects)}
    budgets: dict[str, dict[tuple[str, str], Budget]] = {}
    for i, p in enumerate(projects):
        mine = rng.sample(usable, rng.randint(1, 3))
        budgets[p] = {
            ps.key: Budget(((f"alc-{i:05d}-{j}", rng.randint(0, 200_000) * 3600),))
            for j, ps in enumerate(mine)
        }
    modes = {p: rng.choice(list(AccessMode)) for p in projects}
    accounts = tuple(
        Account(org_of[p], p, rng.uniform(1, 100), rng.uniform(0, 1e6)) for p in projects
    )
    active = []
    for ps in usable:
        busy = ps.partition.total_accelerators // 4
        k = 0
        while busy > 0:
            take = min(busy, 8)
            active.append(Active(f"run-{ps.site.id}-{k}", ps.key, take, 8, rng.uniform(60, 86400)))
            busy -= take
            k += 1
    pending = tuple(
        PendingJob(
            f"job-{i:07d}",
            p,
            org_of[p],
            rng.choice(shapes),
            NOW - rng.uniform(0, 14 * 86400),
        )
        for i, p in ((i, rng.choice(projects)) for i in range(n))
    )
    return Snapshot(
        partitions=parts,
        pending=pending,
        active=tuple(active),
        budgets=budgets,
        accounts=accounts,
        modes=modes,
    )


def one(n: int, repeat: int, catalog_path: str | None = None) -> dict[str, float]:
    snap = build(n, catalog_path=catalog_path)
    times = []
    placed = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        decisions = cycle(snap, NOW)
        times.append(time.perf_counter() - t0)
        placed = len(decisions.placed)
        del decisions
    median = statistics.median(times)
    return {
        "pending": n,
        "median_s": median,
        "decisions_per_s": n / median,
        "placed": placed,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--catalog", help="a federation catalog (default: the default one)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.repeat, args.catalog)))
        return
    more = ["--catalog", args.catalog] if args.catalog else []
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        repeat = args.repeat if n < 1_000_000 else 1
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--repeat", str(repeat), *more],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"machine: {platform.machine()}, {platform.python_version()}, cpus: 2 (make bench-sched)")
    print(
        "| pending | median cycle | decisions/s | placed | peak memory | "
        "time / (n log2 n), relative to 1k |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    base = rows[0]["median_s"] / (rows[0]["pending"] * math.log2(rows[0]["pending"]))
    for r in rows:
        n = r["pending"]
        rel = r["median_s"] / (n * math.log2(n)) / base
        print(
            f"| {n:,} | {r['median_s']:.3f} s | {r['decisions_per_s']:,.0f} | {r['placed']:,} | "
            f"{r['peak_mib']:,.0f} MiB | {rel:.2f} |"
        )


if __name__ == "__main__":
    main()
