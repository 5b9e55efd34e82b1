"""The live dispatcher's pass over a big queue (``make bench-sched`` runs it after the cycle).

A platform on SQLite (as ``make run``): one project with its grants, and ``--jobs`` pending jobs
(1 local slot, 10 minutes each) inserted as rows copied from one submitted through the API.
Then three ``Dispatcher.dispatch_once()`` passes are timed: the first (every waiting job gets
its reason and placement record written), the second (nothing changed: nothing is written),
and the third (one job cancelled: the next one starts). The cycle alone is in bench/sched.py.

    python bench/sched_live.py [--jobs 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from aifactory.api.app import create_app
from aifactory.db.tables import Job
from aifactory.services.bootstrap import init_admin, prepare
from aifactory.services.runtime import Runtime
from aifactory.settings import load_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aif-sched-live-"))
    settings = load_settings(data_dir=tmp / "data", run_loops=False)
    prepare(settings)
    runtime = Runtime(settings)
    init_admin(runtime.db, settings)
    token = settings.admin_token_file.read_text().strip()
    with TestClient(create_app(settings, runtime)) as client:
        h = {"Authorization": f"Bearer {token}"}

        def post(path: str, body: dict[str, object]) -> dict[str, object]:
            r = client.post(f"/api/v1{path}", json=body, headers=h)
            assert r.status_code == 201, r.text
            return dict(r.json())

        org = post(
            "/orgs", {"name": "Bench", "kind": "sme", "country": "FI", "registration_id": "B-1"}
        )
        project = post("/projects", {"org_id": org["id"], "name": "bench"})
        post(
            "/allocations",
            {
                "project_id": project["id"],
                "partition": "local/local",
                "gpu_hours": 1_000_000,
                "ends_at": "2099-01-01T00:00:00Z",
                "reason": "bench",
            },
        )
        spec = {
            "name": "wait",
            "project": project["id"],
            "run": "sleep 600",
            "resources": {
                "accelerator": "local-slot",
                "accelerators_per_node": 1,
                "walltime": "10m",
            },
        }
        first = post("/jobs", spec)
        with runtime.db.write() as session:
            row = session.get(Job, first["id"])
            assert row is not None
            base = {c.name: getattr(row, c.name) for c in Job.__table__.columns}
            rows = []
            for i in range(args.jobs - 1):
                r = dict(base)
                r["id"] = f"job-bench{i:07d}"
                r["idempotency_key"] = None
                r["created_at"] = base["created_at"] + timedelta(microseconds=i + 1)
                rows.append(r)
            session.execute(insert(Job), rows)
        d = runtime.dispatcher
        timings = []
        for label in ("first pass (reasons written)", "second pass (nothing changed)"):
            t0 = time.perf_counter()
            d.dispatch_once()
            timings.append((label, time.perf_counter() - t0))
        with runtime.db.read() as session:
            running = (
                session.execute(select(Job.id).where(Job.state == "submitted")).scalars().all()
            )
        r = client.post(f"/api/v1/jobs/{running[0]}/cancel", headers=h)
        assert r.status_code == 200, r.text
        d.poll_once()
        t0 = time.perf_counter()
        d.dispatch_once()
        timings.append(("third pass (one slot freed, one job placed)", time.perf_counter() - t0))
        for jid in running:
            client.post(f"/api/v1/jobs/{jid}/cancel", headers=h)
        d.poll_once()
    print(f"pending jobs: {args.jobs:,} (SQLite, local executor with 4 slots)")
    for label, seconds in timings:
        print(f"| {label} | {seconds:.2f} s |")
    runtime.close()


if __name__ == "__main__":
    main()
