"""Issue 13's compliance benchmark (``make bench-compliance``; targets on this machine: the
audit chain of 1,000,000 events verified in <= 10 s, every model's ledger over 1,000,000 usage
records recomputed in <= 5 s).

Audit chain: a platform on SQLite (as ``make run``), or on ``--database-url`` (PostgreSQL; use
a fresh database). Its own start-up writes the first events (the admin, their token); the chain
is then filled to ``--audit-events`` events in all with links made by the platform's hashing
(``core.audit_chain.link_hash``), of the kinds the platform writes most (``job.submit``,
``job.placement``, ``job.cancel``, ``allocation.*``, ``login``, ``project.create``), with the
head row set to the last one, bulk inserted. Then ``services.audit.verify_chain`` is timed end
to end (reading the rows from the database and hashing each), as ``aif audit verify`` runs it;
then one event in the middle has its data edited and verify must name that event (timed too:
it stops there).

Model ledgers: one organisation and project made through the API, ``--versions`` model
versions (models of 10 versions, each version built on the one before, so cumulative compute
walks lineages), and ``--usage-records`` ended jobs with their usage records, copied from one
real job: spread over the versions, over four partitions of the catalog (H100, MI250X GCD,
A100, the local slot), a third with a measured utilisation, nine in ten training and the rest
evaluations. Then ``services.compliance.ledger.recompute_all`` (every version's training FLOP,
GPU-hours, time, kWh and kg CO2e) and ``cumulative_all`` (each version's lineage) are timed.

    python bench/compliance.py [--audit-events 1000000] [--usage-records 1000000]
                               [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from aifactory.api.app import create_app
from aifactory.api.asgi import settle_heap
from aifactory.core.audit_chain import Link, link_hash
from aifactory.db.compliance_tables import Model, ModelVersion
from aifactory.db.tables import AuditEvent, AuditHead, Job, UsageRecord, table
from aifactory.services import audit
from aifactory.services.bootstrap import init_admin, prepare
from aifactory.services.compliance import ledger
from aifactory.services.runtime import Runtime
from aifactory.settings import load_settings

AUDIT_TARGET_S = 10.0
LEDGER_TARGET_S = 5.0
PARTITIONS = (
    ("marenostrum5", "acc"),
    ("lumi", "standard-g"),
    ("leonardo", "boost_usr_prod"),
    ("local", "local"),
)
CHUNK = 5_000
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _ids(rng: random.Random, prefix: str, n: int) -> list[str]:
    return [prefix + "-" + "".join(rng.choices(_ALPHABET, k=12)) for _ in range(n)]


def _events(first_seq: int, prev_hash: str, count: int) -> Iterator[list[dict[str, Any]]]:
    """``count`` chain links from ``first_seq`` on, as rows of ``audit_events``, in chunks.

    Made as ``services.audit.append`` makes them (a ``Link``, its hash by ``link_hash``, the
    time hashed as ``_iso`` gives it), only without a transaction per event."""
    rng = random.Random(13)
    users = _ids(rng, "usr", 2_000)
    orgs = _ids(rng, "org", 100)
    projects = _ids(rng, "prj", 1_000)
    allocs = _ids(rng, "alc", 1_500)
    partitions = ["local/local", "lumi/standard-g", "leonardo/boost", "mn5/acc"]
    states = ["pending", "placed", "running"]
    at = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(seconds=365 * 86_400 / max(count, 1))
    job = "job-000000000000"
    rows: list[dict[str, Any]] = []
    for seq in range(first_seq, first_seq + count):
        at += step
        kind = rng.random()
        org = rng.choice(orgs)
        actor = rng.choice(users)
        if kind < 0.40:
            job = "job-" + "".join(rng.choices(_ALPHABET, k=12))
            action, otype, oid = "job.submit", "job", job
            data: dict[str, Any] = {
                "project_id": rng.choice(projects),
                "name": f"train-{rng.randrange(10_000)}",
                "spec_hash": f"{rng.getrandbits(256):064x}",
            }
            if kind < 0.05:
                data["array"] = {"spec": "0-99%8", "tasks": 100}
            if kind < 0.10:
                data["datasets"] = [f"ds-{rng.randrange(500)}@{rng.randrange(1, 9)}"]
        elif kind < 0.80:
            action, otype, oid, actor = "job.placement", "job", job, audit.SYSTEM_ACTOR
            site, part = rng.choice(partitions).split("/")
            data = {
                "site": site,
                "partition": part,
                "allocation_id": rng.choice(allocs),
                "reserved_gpu_seconds": rng.randrange(3_600, 8 * 86_400),
            }
        elif kind < 0.88:
            action, otype, oid = "job.cancel", "job", job
            data = {"state": rng.choice(states)}
        elif kind < 0.93:
            action, otype, oid, data = "login", "user", actor, {}
        elif kind < 0.96:
            action, otype, oid = "allocation.grant", "allocation", rng.choice(allocs)
            data = {
                "project_id": rng.choice(projects),
                "partition": rng.choice(partitions),
                "gpu_hours": rng.randrange(100, 50_000),
                "starts_at": at.isoformat(),
                "ends_at": (at + timedelta(days=365)).isoformat(),
                "reason": "call EuroHPC-AI-2026-03, proposal accepted",
            }
        elif kind < 0.98:
            action, otype, oid = "allocation.adjust", "allocation", rng.choice(allocs)
            data = {"gpu_seconds": rng.randrange(-36_000, 360_000), "reason": "Grüße: correction"}
        else:
            action, otype, oid = "project.create", "project", rng.choice(projects)
            data = {"name": f"projekt-{rng.randrange(10_000)}", "org_id": org}
        link = Link(
            seq=seq,
            at=audit._iso(at),
            actor=actor,
            action=action,
            object_type=otype,
            object_id=oid,
            org_id=org,
            data=data,
            prev_hash=prev_hash,
        )
        prev_hash = link_hash(link)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "object_type": otype,
                "object_id": oid,
                "org_id": org,
                "data": data,
                "prev_hash": link.prev_hash,
                "hash": prev_hash,
            }
        )
        if len(rows) == CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def _fill_chain(runtime: Runtime, total: int) -> tuple[int, float]:
    """Fill the chain to ``total`` events; returns (events inserted, seconds)."""
    t0 = time.perf_counter()
    with runtime.db.write() as session:
        seq, prev = audit.head(session)
    if seq > total:
        raise SystemExit(f"the chain has {seq:,} events already: use a fresh database")
    events, heads = table(AuditEvent), table(AuditHead)
    last = (seq, prev)
    for rows in _events(seq + 1, prev, total - seq):
        with runtime.db.write() as session:
            session.execute(events.insert(), rows)
            last = (rows[-1]["seq"], rows[-1]["hash"])
            session.execute(
                heads.update().where(heads.c.id == 1), {"seq": last[0], "hash": last[1]}
            )
    return total - seq, time.perf_counter() - t0


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def audit_section(runtime: Runtime, n: int, db: str) -> list[str]:
    inserted, fill_s = _fill_chain(runtime, n)
    print(f"audit chain: {inserted:,} events inserted in {fill_s:.0f} s")
    settle_heap()  # as a server process does once its app is built (api/asgi.py)
    rss_before = _maxrss_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    with runtime.db.read() as session:
        report = audit.verify_chain(session)
    verify_s, verify_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_after = _maxrss_mib()
    assert report.ok, report
    assert report.checked == n, report
    mid = n // 2
    with runtime.db.write() as session:
        session.execute(
            update(AuditEvent).where(AuditEvent.seq == mid).values(data={"forged": True})
        )
    t0 = time.perf_counter()
    with runtime.db.read() as session:
        tampered = audit.verify_chain(session)
    tamper_s = time.perf_counter() - t0
    assert not tampered.ok and tampered.broken_seq == mid, tampered
    assert "altered" in tampered.problem, tampered
    with runtime.db.read() as session:  # the head row still names the last event
        assert session.execute(select(AuditHead.seq)).scalar_one() == n
    ok = "met" if verify_s <= AUDIT_TARGET_S else f"missed by {verify_s - AUDIT_TARGET_S:.1f} s"
    print(f"peak RSS {rss_before:.0f} MiB before verify, {rss_after:.0f} MiB after")
    return [
        "| database | events | verify s | its CPU s | events/s | tampered at | verify then s "
        "| <= 10 s |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| {db} | {n:,} | {verify_s:.2f} | {verify_cpu:.2f} | {n / verify_s:,.0f} "
        f"| {tampered.broken_seq:,} | {tamper_s:.2f} | {ok} |",
    ]


def _seed_ledger(runtime: Runtime, records: int, versions: int) -> float:
    """The rows the ledger reads; returns the seconds it took."""
    t0 = time.perf_counter()
    token = runtime.settings.admin_token_file.read_text().strip()
    with TestClient(create_app(runtime.settings, runtime)) as client:
        h = {"Authorization": f"Bearer {token}"}

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            r = client.post(f"/api/v1{path}", json=body, headers=h)
            assert r.status_code == 201, r.text
            return dict(r.json())

        org = post(
            "/orgs", {"name": "Bench", "kind": "sme", "country": "FI", "registration_id": "B"}
        )
        project = post("/projects", {"org_id": org["id"], "name": "bench"})
        model = post(
            "/models",
            {
                "project_id": project["id"],
                "name": "m0",
                "architecture": "decoder-only transformer",
                "modality_in": ["text"],
                "modality_out": ["text"],
            },
        )
        first = post(f"/models/{model['id']}/versions", {"version": "0"})
        job = post("/jobs", {"name": "seed", "project": project["id"], "run": "true"})
    with runtime.db.write() as session:
        m_row = session.get(Model, model["id"])
        v_row = session.get(ModelVersion, first["id"])
        j_row = session.get(Job, job["id"])
        assert m_row is not None and v_row is not None and j_row is not None
        m_base = {c.name: getattr(m_row, c.name) for c in Model.__table__.columns}
        v_base = {c.name: getattr(v_row, c.name) for c in ModelVersion.__table__.columns}
        j_base = {c.name: getattr(j_row, c.name) for c in Job.__table__.columns}
        j_base.update(placement=None, state="completed", exit_code=0)
        model_rows, version_rows = [], []
        ids = [first["id"]]
        for i in range(1, versions):
            vid = f"mdv-bench{i:07d}"
            if i % 10 == 0:
                mid = f"mdl-bench{i:07d}"
                model_rows.append({**m_base, "id": mid, "name": f"m{i}"})
                base = None
            else:
                mid, base = version_rows[-1]["model_id"] if version_rows else model["id"], ids[-1]
            version_rows.append(
                {**v_base, "id": vid, "model_id": mid, "version": str(i), "base_version_id": base}
            )
            ids.append(vid)
        session.execute(table(Model).insert(), model_rows)
        session.execute(table(ModelVersion).insert(), version_rows)
    rng = random.Random(5)
    start = j_base["created_at"]
    for lo in range(0, records, CHUNK):
        jobs_rows, usage_rows = [], []
        for i in range(lo, min(records, lo + CHUNK)):
            jid = f"job-bench{i:07d}"
            site, part = PARTITIONS[i % len(PARTITIONS)]
            gpus, elapsed = rng.choice((1, 4, 8)), rng.randint(60, 86_400)
            at = start + timedelta(seconds=i)
            jobs_rows.append(
                {
                    **j_base,
                    "id": jid,
                    "idempotency_key": None,
                    "created_at": at,
                    "site_id": site,
                    "partition_id": part,
                    "model_version_id": ids[i % len(ids)],
                    "purpose": "evaluation" if i % 10 == 9 else "pretraining",
                    "utilisation": round(rng.uniform(0.2, 0.6), 2) if i % 3 == 0 else None,
                }
            )
            usage_rows.append(
                {
                    "job_id": jid,
                    "org_id": org["id"],
                    "project_id": project["id"],
                    "allocation_id": None,
                    "site_id": site,
                    "partition_id": part,
                    "source": "sacct",
                    "external_id": None,
                    "gpus": gpus,
                    "elapsed_s": elapsed,
                    "gpu_seconds": gpus * elapsed,
                    "alloc_tres": None,
                    "started_at": at,
                    "ended_at": at + timedelta(seconds=elapsed),
                    "recorded_at": at + timedelta(seconds=elapsed),
                    "model_version_id": jobs_rows[-1]["model_version_id"],
                    "purpose": jobs_rows[-1]["purpose"],
                    "utilisation": jobs_rows[-1]["utilisation"],
                }
            )
        with runtime.db.write() as session:
            session.execute(table(Job).insert(), jobs_rows)
            session.execute(table(UsageRecord).insert(), usage_rows)
    return time.perf_counter() - t0


def ledger_section(runtime: Runtime, records: int, versions: int, db: str) -> list[str]:
    seed_s = _seed_ledger(runtime, records, versions)
    print(f"ledger: {records:,} usage records over {versions:,} versions seeded in {seed_s:.0f} s")
    settle_heap()
    rules = ledger.rules_of(runtime.settings)
    t0, c0 = time.perf_counter(), time.process_time()
    with runtime.db.read() as session:
        sums = ledger.recompute_all(session, runtime.catalog, rules)
        lineage = ledger.cumulative_all(session, sums, rules)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    counted = sum(x.jobs for x in sums.values())
    assert counted == records - records // 10, counted  # one in ten is an evaluation
    assert len(lineage) == versions
    total = sum(x.flop for x in sums.values())
    ok = "met" if took <= LEDGER_TARGET_S else f"missed by {took - LEDGER_TARGET_S:.1f} s"
    return [
        "| database | usage records | versions | training jobs counted | recompute s | its CPU s "
        "| FLOP in all | <= 5 s |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| {db} | {records:,} | {versions:,} | {counted:,} | {took:.2f} | {cpu:.2f} "
        f"| {total:.3g} | {ok} |",
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--audit-events", type=int, default=1_000_000, help="0: skip")
    ap.add_argument("--usage-records", type=int, default=1_000_000, help="0: skip")
    ap.add_argument("--versions", type=int, default=1_000)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aif-bench-compliance-"))
    settings = load_settings(data_dir=tmp / "data", run_loops=False, database_url=args.database_url)
    prepare(settings)
    runtime = Runtime(settings)
    init_admin(runtime.db, settings)
    db = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    print(
        f"{db}; machine: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    lines: list[str] = []
    if args.audit_events:
        lines += audit_section(runtime, args.audit_events, db)
    if args.usage_records:
        lines += ledger_section(runtime, args.usage_records, args.versions, db)
    runtime.close()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
