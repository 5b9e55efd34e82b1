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

The model ledger half comes with the model registry (issue 13), as a second section here.

    python bench/compliance.py [--audit-events 1000000] [--database-url postgresql://...]
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

from sqlalchemy import select, update

from aifactory.api.asgi import settle_heap
from aifactory.core.audit_chain import Link, link_hash
from aifactory.db.tables import AuditEvent, AuditHead, table
from aifactory.services import audit
from aifactory.services.bootstrap import init_admin, prepare
from aifactory.services.runtime import Runtime
from aifactory.settings import load_settings

AUDIT_TARGET_S = 10.0
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--audit-events", type=int, default=1_000_000, help="0: skip")
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
    runtime.close()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
