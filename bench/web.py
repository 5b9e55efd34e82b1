"""The portal's pages on a big database (``make bench-web``; issue 12's target: p95 <= 150 ms).

A platform on SQLite (as ``make run``), or on ``--database-url`` (PostgreSQL). One member
creates an organisation and a project through the API, is granted an allocation, and runs one
job to ``completed`` through the local executor. Its rows (organisation, membership, project,
allocation and grant, job with its state history, ledger entries and usage record) are then
copied, with new ids and times spread over the last 90 days, into ``--orgs`` organisations of
``--projects-per-org`` projects, ``--jobs`` jobs in all (100 organisations, 1,000 projects and
100,000 jobs by default; 7 % of them failed, 3 % cancelled).

Then each page is asked for ``--requests`` times (after a warm-up) by two people: the member
(one organisation: 10 projects, 1,000 jobs) and the operator (who sees all 100,000 jobs): the
dashboard, the jobs list (first page, a deep page, filtered by state) and job pages (a random
job of the caller's each time). The time is that of the whole request inside the process
(``TestClient``: routing, session, queries, templates; no network and no browser), which is the
server's share of what a person waits for.

    python bench/web.py [--jobs 100000] [--requests 200] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from aifactory.api.app import create_app
from aifactory.api.asgi import settle_heap
from aifactory.db.tables import (
    Allocation,
    Base,
    Job,
    JobEvent,
    LedgerEntry,
    Membership,
    Organisation,
    Project,
    ProjectMember,
    UsageRecord,
    User,
)
from aifactory.services import identity, sessions
from aifactory.services.bootstrap import init_admin, prepare
from aifactory.services.ids import utcnow
from aifactory.services.runtime import Runtime
from aifactory.settings import load_settings
from aifactory.web.session import COOKIE

TARGET_P95_MS = 150.0
CHUNK = 5_000


def _row(obj: Base, **changes: Any) -> dict[str, Any]:
    """The row as a dict of its columns, some of them changed."""
    out = {c.name: getattr(obj, c.name) for c in type(obj).__table__.columns}
    out.update(changes)
    return out


def _insert(session: Session, table: type[Base], rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        session.execute(insert(table), rows[i : i + CHUNK])


def _seed_one(client: TestClient, runtime: Runtime, admin: dict[str, str]) -> dict[str, str]:
    """Through the API, as a person would: the member, their organisation, project and
    allocation, and one job run to completion. Returns the ids."""

    def call(method: str, path: str, body: dict[str, Any], h: dict[str, str]) -> dict[str, Any]:
        r = client.request(method, f"/api/v1{path}", json=body, headers=h)
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    user = call("POST", "/users", {"email": "ada@example.eu", "name": "Ada"}, admin)
    with runtime.db.write() as session:
        _tok, plain = identity.issue_token(
            session, user_id=user["id"], name="bench", ttl=timedelta(hours=4), actor=user["id"]
        )
    me = {"Authorization": f"Bearer {plain}"}
    org = call(
        "POST",
        "/orgs",
        {"name": "Bench 000", "kind": "sme", "country": "FI", "registration_id": "B-000"},
        me,
    )
    project = call("POST", "/projects", {"org_id": org["id"], "name": "p00"}, me)
    call(
        "POST",
        "/allocations",
        {
            "project_id": project["id"],
            "partition": "local/local",
            "gpu_hours": 1_000_000,
            "ends_at": "2099-01-01T00:00:00Z",
            "reason": "bench",
        },
        admin,
    )
    spec = {
        "name": "train",
        "project": project["id"],
        "run": "echo 'epoch 1 loss 0.93'; echo 'epoch 2 loss 0.71'",
        "resources": {"accelerator": "local-slot", "accelerators_per_node": 1, "walltime": "5m"},
    }
    job = call("POST", "/jobs", spec, me)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runtime.dispatcher.dispatch_once()
        runtime.dispatcher.poll_once()
        if call("GET", f"/jobs/{job['id']}", {}, me)["state"] == "completed":
            break
        time.sleep(0.05)
    else:
        raise SystemExit(f"the seed job did not complete: {job}")
    return {"user": user["id"], "org": org["id"], "project": project["id"], "job": job["id"]}


def _copy(runtime: Runtime, ids: dict[str, str], orgs: int, per_org: int, jobs: int) -> None:
    """The seed's rows copied into the whole federation's worth of organisations and jobs."""
    rng = random.Random(12)
    now = utcnow()
    with runtime.db.write() as session:
        org = session.get(Organisation, ids["org"])
        project = session.get(Project, ids["project"])
        job = session.get(Job, ids["job"])
        assert org is not None and project is not None and job is not None
        membership = session.execute(
            select(Membership).where(Membership.org_id == org.id)
        ).scalar_one()
        project_members = (
            session.execute(select(ProjectMember).where(ProjectMember.project_id == project.id))
            .scalars()
            .all()
        )
        alloc = session.execute(
            select(Allocation).where(Allocation.project_id == project.id)
        ).scalar_one()
        grant = session.execute(
            select(LedgerEntry).where(
                LedgerEntry.allocation_id == alloc.id, LedgerEntry.job_id.is_(None)
            )
        ).scalar_one()
        events = session.execute(select(JobEvent).where(JobEvent.job_id == job.id)).scalars().all()
        charges = (
            session.execute(select(LedgerEntry).where(LedgerEntry.job_id == job.id)).scalars().all()
        )
        usage = session.get(UsageRecord, job.id)
        assert usage is not None and events and charges
        t0 = job.created_at
        if t0.tzinfo is None:  # SQLite gives back naive UTC
            now = now.replace(tzinfo=None)
        operator = session.execute(select(User).where(User.id != ids["user"])).scalars().first()
        assert operator is not None

        new: dict[type[Base], list[dict[str, Any]]] = {
            t: [] for t in (Organisation, Membership, Project, ProjectMember, Allocation)
        }
        ledger: list[dict[str, Any]] = []
        projects: list[tuple[str, str, str]] = [(org.id, project.id, alloc.id)]
        for o in range(orgs):
            org_id = org.id if o == 0 else f"org-bench{o:04d}"
            if o:
                name = f"Bench {o:03d}"
                new[Organisation].append(_row(org, id=org_id, name=name, registration_id=name))
                # Each other organisation has a member of its own: the operator (so that the
                # ``memberships`` table has a federation's worth of rows, not only Ada's).
                new[Membership].append(_row(membership, org_id=org_id, user_id=operator.id))
            for p in range(per_org):
                if o == 0 and p == 0:
                    continue
                pid, aid = f"prj-bench{o:04d}{p:02d}", f"alc-bench{o:04d}{p:02d}"
                new[Project].append(_row(project, id=pid, org_id=org_id, name=f"p{p:02d}"))
                for m in project_members if o == 0 else ():
                    new[ProjectMember].append(_row(m, project_id=pid))
                new[Allocation].append(_row(alloc, id=aid, org_id=org_id, project_id=pid))
                ledger.append(_row(grant, id=None, allocation_id=aid))
                projects.append((org_id, pid, aid))
        for table, rows in new.items():
            _insert(session, table, rows)
        _insert(session, LedgerEntry, [{k: v for k, v in r.items() if k != "id"} for r in ledger])

        job_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        ledger = []
        usage_rows: list[dict[str, Any]] = []
        for i in range(jobs - 1):
            org_id, pid, aid = projects[i % len(projects)]
            jid = f"job-bench{i:07d}"
            shift = (now - timedelta(seconds=rng.uniform(600, 90 * 86400))) - t0
            draw = rng.random()
            state = "failed" if draw < 0.07 else "cancelled" if draw < 0.10 else "completed"
            user_id = ids["user"] if org_id == org.id else operator.id
            job_rows.append(
                _row(
                    job,
                    id=jid,
                    org_id=org_id,
                    project_id=pid,
                    user_id=user_id,
                    allocation_id=aid,
                    name=f"train-{i % 97}",
                    state=state,
                    exit_code=1 if state == "failed" else job.exit_code,
                    idempotency_key=None,
                    created_at=job.created_at + shift,
                    updated_at=job.updated_at + shift,
                    started_at=job.started_at and job.started_at + shift,
                    ended_at=job.ended_at and job.ended_at + shift,
                )
            )
            for e in events:
                last = e is events[-1]
                event_rows.append(
                    {
                        "job_id": jid,
                        "state": state if last else e.state,
                        "at": e.at + shift,
                        "reason": e.reason,
                    }
                )
            for c in charges:
                r = _row(c, allocation_id=aid, job_id=jid, at=c.at + shift)
                del r["id"]
                ledger.append(r)
            usage_rows.append(
                _row(
                    usage,
                    job_id=jid,
                    org_id=org_id,
                    project_id=pid,
                    allocation_id=aid,
                    started_at=usage.started_at and usage.started_at + shift,
                    ended_at=usage.ended_at and usage.ended_at + shift,
                    recorded_at=usage.recorded_at + shift,
                )
            )
        _insert(session, Job, job_rows)
        _insert(session, JobEvent, event_rows)
        _insert(session, LedgerEntry, ledger)
        _insert(session, UsageRecord, usage_rows)
        # The kept sum of the ledger (see Allocation.balance_gpu_seconds).
        sums = select(func.sum(LedgerEntry.gpu_seconds)).where(
            LedgerEntry.allocation_id == Allocation.id
        )
        session.execute(update(Allocation).values(balance_gpu_seconds=sums.scalar_subquery()))


def _cookie(runtime: Runtime, user_id: str) -> str:
    with runtime.db.write() as session:
        user = session.get(User, user_id)
        assert user is not None
        return sessions.open_session(session, user, timedelta(hours=4)).cookie


def _job_ids(runtime: Runtime, org_id: str | None) -> list[str]:
    with runtime.db.read() as session:
        q = select(Job.id)
        if org_id:
            q = q.where(Job.org_id == org_id)
        return list(session.execute(q).scalars())


def _measure(client: TestClient, cookie: str, paths: list[str], n: int) -> list[float]:
    client.cookies.set(COOKIE, cookie)
    for path in paths[:5]:  # warm-up: templates compiled, caches filled
        assert client.get(path).status_code == 200
    times = []
    for i in range(n):
        path = paths[i % len(paths)]
        t = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--orgs", type=int, default=100)
    ap.add_argument("--projects-per-org", type=int, default=10)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aif-bench-web-"))
    settings = load_settings(data_dir=tmp / "data", run_loops=False, database_url=args.database_url)
    prepare(settings)
    runtime = Runtime(settings)
    init_admin(runtime.db, settings)
    token = settings.admin_token_file.read_text().strip()
    admin = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, runtime)) as client:
        t = time.perf_counter()
        ids = _seed_one(client, runtime, admin)
        _copy(runtime, ids, args.orgs, args.projects_per_org, args.jobs)
        seeded = time.perf_counter() - t
        settle_heap()  # as a server process does once its app is built (api/asgi.py)
        with runtime.db.read() as session:
            counts = {
                "jobs": session.execute(select(func.count()).select_from(Job)).scalar_one(),
                "projects": session.execute(select(func.count()).select_from(Project)).scalar_one(),
                "job events": session.execute(
                    select(func.count()).select_from(JobEvent)
                ).scalar_one(),
                "ledger entries": session.execute(
                    select(func.count()).select_from(LedgerEntry)
                ).scalar_one(),
            }
            admin_id = session.execute(select(User.id).where(User.id != ids["user"])).scalar_one()
        rng = random.Random(7)
        people = {
            "member (1 organisation)": (_cookie(runtime, ids["user"]), ids["org"]),
            "operator (all tenants)": (_cookie(runtime, admin_id), None),
        }
        results = []
        for who, (cookie, org_id) in people.items():
            mine = _job_ids(runtime, org_id)
            pages = {
                "dashboard": ["/"],
                "jobs list, page 1": ["/jobs"],
                "jobs list, page 20": ["/jobs?page_no=20"],
                "jobs list, failed only": ["/jobs?state=failed"],
                "job page": [f"/jobs/{j}" for j in rng.sample(mine, min(len(mine), 500))],
            }
            for label, paths in pages.items():
                ms = _measure(client, cookie, paths, args.requests)
                q = statistics.quantiles(ms, n=100)
                results.append((who, label, q[49], q[94], max(ms)))
    runtime.close()
    db = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    sizes = ", ".join(f"{v:,} {k}" for k, v in counts.items())
    print(f"{db}; {sizes} (seeded in {seeded:.0f} s)")
    print(
        f"machine: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; {args.requests} requests per row"
    )
    print("| who | page | p50 ms | p95 ms | max ms | p95 <= 150 ms |")
    print("|---|---|---:|---:|---:|---|")
    for who, label, p50, p95, top in results:
        ok = "met" if p95 <= TARGET_P95_MS else f"missed by {p95 - TARGET_P95_MS:.0f} ms"
        print(f"| {who} | {label} | {p50:.1f} | {p95:.1f} | {top:.1f} | {ok} |")


if __name__ == "__main__":
    main()
