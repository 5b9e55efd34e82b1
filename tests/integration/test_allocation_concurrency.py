"""Allocations under concurrency: the issue's case — 200 simultaneous submissions against an
allocation with room for 10 jobs place exactly 10, on SQLite and PostgreSQL, even with two
dispatchers that both believe they lead — and a property test of the ledger's arithmetic."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from aifactory.db.engine import Database
from aifactory.db.tables import (
    Allocation,
    AuditEvent,
    Job,
    JobEvent,
    LedgerEntry,
    Organisation,
    Project,
)
from aifactory.domain.catalog import ExecutorKind
from aifactory.domain.execution import Executor, Tracked
from aifactory.domain.identity import PlatformRole
from aifactory.executors.local import LocalExecutor
from aifactory.executors.simulated import SimulatedExecutor
from aifactory.services import allocations
from aifactory.services.dispatch import Dispatcher
from aifactory.services.errors import Invalid
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow
from tests.conftest import (
    FINAL_STATES,
    Databases,
    Platform,
    build_platform,
    job_spec,
    quick_user,
)

LOCAL = "local/local"
SUBMISSIONS = 200
ROOM_JOBS = 10  # the grant: 10 GPU-hours = 10 jobs of 1 GPU x 1 h
THREADS = 16
HOUR = 3600
ACTIVE = ("placed", "submitted", "running")


def _roomy_catalog(tmp_path: Path) -> Path:
    """The default federation with 64 CPUs on this machine's partition. Its 8 CPUs (1 per
    job) would otherwise hold the 9th and 10th job for capacity, and the subject here is the
    allocation, not the machine."""
    text = resources.files("aifactory.catalog").joinpath("default.yaml").read_text("utf-8")
    local_cpus = "        cpus_per_node: 8\n"
    assert text.count(local_cpus) == 1, "the default catalog's local partition changed"
    path = tmp_path / "catalog.yaml"
    path.write_text(text.replace(local_cpus, "        cpus_per_node: 64\n"), "utf-8")
    return path


@pytest.fixture
def roomy(tmp_path: Path, db_url: str) -> Iterator[Platform]:
    """A platform with 16 local slots and 64 CPUs: neither limits the 10 jobs."""
    p = build_platform(tmp_path, db_url, local_slots=16, catalog=_roomy_catalog(tmp_path))
    try:
        with p.client:
            yield p
    finally:
        _stop_leftovers(p)
        p.runtime.close()


def _stop_leftovers(p: Platform) -> None:
    """Never leave a `sleep 60` behind, whatever the test did."""
    with p.runtime.db.read() as session:
        rows = session.execute(
            select(Job.id, Job.external_id, Job.workdir).where(
                Job.state.in_(("submitted", "running")), Job.external_id.is_not(None)
            )
        ).all()
    local = p.runtime.executors[ExecutorKind.LOCAL]
    for job_id, external_id, workdir in rows:
        if external_id and workdir:
            local.cancel(Tracked(job_id, external_id, Path(workdir)))


def _in_threads(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(0..n-1)`` in ``n`` threads released together; re-raise the first failure."""
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _second_process_dispatcher(p: Platform) -> tuple[Dispatcher, Database]:
    """A dispatcher as another process would build it: its own engine (connection pool, and
    on SQLite its own descriptor of the write lock file) and its own executors."""
    db = Database(p.settings.effective_database_url)
    executors: dict[ExecutorKind, Executor] = {
        ExecutorKind.LOCAL: LocalExecutor(grace_s=p.settings.kill_grace_s),
        ExecutorKind.SIMULATED: SimulatedExecutor(),
    }
    return Dispatcher(db, p.runtime.catalog, executors, p.settings.jobs_dir), db


def _snapshot(p: Platform) -> list[tuple[str, str, str]]:
    with p.runtime.db.read() as session:
        return [
            (j, s, r)
            for j, s, r in session.execute(
                select(Job.id, Job.state, Job.reason).order_by(Job.id)
            ).all()
        ]


def test_200_simultaneous_submissions_against_room_for_10_place_exactly_10(
    roomy: Platform,
) -> None:
    p = roomy
    t0 = time.monotonic()
    owner = quick_user(p, "owner")
    org = p.org(owner)
    project = p.project(owner, org["id"], gpu_hours=None)  # no default grant anywhere
    (alloc,) = p.grant(project["id"], ROOM_JOBS, (LOCAL,))
    alloc_id = alloc["id"]

    # 1. 200 submissions fired from 16 threads at once, through the API.
    def submit_slice(t: int) -> list[str]:
        ids = []
        for i in range(t, SUBMISSIONS, THREADS):
            spec = job_spec(
                project["id"],
                run="sleep 60",
                name=f"j{i}",
                resources={"accelerators_per_node": 1, "walltime": "1h"},
            )
            r = owner.post("/jobs", spec)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        return ids

    job_ids = [j for chunk in _in_threads(THREADS, submit_slice) for j in chunk]
    assert len(set(job_ids)) == SUBMISSIONS

    # 2. Two dispatchers, as two processes that both believe they lead, until nothing changes.
    other, other_db = _second_process_dispatcher(p)
    first = p.runtime.dispatcher
    try:

        def dispatch_until_quiet(i: int) -> int:
            d = (first, other)[i]
            launched, quiet = 0, 0
            for _ in range(50):
                n = d.dispatch_once()
                launched += n
                quiet = quiet + 1 if n == 0 else 0
                if quiet >= 2:
                    break
            return launched

        launched = _in_threads(2, dispatch_until_quiet)
        # Once both are quiet, passes one after the other change nothing (the first may still
        # restate a reason the other wrote from its older snapshot).
        assert first.dispatch_once() == 0
        before = _snapshot(p)
        assert first.dispatch_once() == 0
        assert other.dispatch_once() == 0
        assert _snapshot(p) == before, "a pass after quiet still changed jobs"
    finally:
        other_db.dispose()

    # 3. No job was placed twice (one `placed` event, one placement audit event and one
    # reservation each), and exactly 10 were placed and launched.
    with p.runtime.db.read() as session:
        placed_events = Counter(
            session.execute(select(JobEvent.job_id).where(JobEvent.state == "placed")).scalars()
        )
        placement_audits = Counter(
            session.execute(
                select(AuditEvent.object_id).where(AuditEvent.action == "job.placement")
            ).scalars()
        )
        reserved_for = Counter(
            session.execute(
                select(LedgerEntry.job_id).where(
                    LedgerEntry.allocation_id == alloc_id, LedgerEntry.kind == "reservation"
                )
            ).scalars()
        )
        started = set(session.execute(select(Job.id).where(Job.state.in_(ACTIVE))).scalars())
    twice = {j: n for j, n in reserved_for.items() if n > 1}
    assert not twice, f"jobs reserved (and placed) more than once: {twice}"
    assert set(placed_events.values()) == {1}, placed_events
    assert set(placement_audits.values()) == {1}, placement_audits
    assert set(placed_events) == set(placement_audits) == set(reserved_for) == started
    assert sum(launched) == ROOM_JOBS, launched

    # Exactly 10 placed and started; 190 pending, each naming the allocation's hours.
    states = Counter(s for _, s, _ in _snapshot(p))
    assert sum(states[s] for s in ACTIVE) == ROOM_JOBS, states
    assert states["pending"] == SUBMISSIONS - ROOM_JOBS, states
    pending = owner.get(f"/jobs?project_id={project['id']}&state=pending&limit=500").json()
    assert pending["total"] == SUBMISSIONS - ROOM_JOBS
    for job in pending["items"]:
        assert f"allocation {alloc_id}" in job["reason"], job["reason"]
        assert f"0 of {ROOM_JOBS} GPU-hours left" in job["reason"], job["reason"]

    # 4. The ledger: one grant, exactly 10 reservations of 1 GPU x 1 h, balance 0.
    detail = owner.get(f"/allocations/{alloc_id}").json()
    ledger = detail["ledger"]
    reservations = [e for e in ledger if e["kind"] == "reservation"]
    assert [e["kind"] for e in ledger].count("grant") == 1
    assert len(reservations) == ROOM_JOBS
    assert all(e["gpu_seconds"] == -HOUR for e in reservations)
    assert {e["job_id"] for e in reservations} == set(started)
    assert detail["balance_gpu_hours"] == 0
    assert detail["reserved_gpu_hours"] == ROOM_JOBS
    assert sum(e["gpu_seconds"] for e in ledger) == 0 == detail["balance_gpu_hours"] * HOUR
    assert detail["state"] == "exhausted"

    # 5. Cancel everything; every reservation is settled exactly once, returning what the
    # job did not use (all of it for a job that never started).
    def cancel_slice(t: int) -> None:
        for job_id in job_ids[t::THREADS]:
            r = owner.post(f"/jobs/{job_id}/cancel")
            assert r.status_code == 200, r.text

    _in_threads(THREADS, cancel_slice)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        first.poll_once()
        if all(s in FINAL_STATES for _, s, _ in _snapshot(p)):
            break
        time.sleep(0.05)
    assert Counter(s for _, s, _ in _snapshot(p)) == Counter({"cancelled": SUBMISSIONS})

    detail = owner.get(f"/allocations/{alloc_id}").json()
    ledger = detail["ledger"]
    settlements = {e["job_id"]: e for e in ledger if e["kind"] == "settlement"}
    assert len([e for e in ledger if e["kind"] == "settlement"]) == ROOM_JOBS
    assert set(settlements) == set(started)
    used_total = 0
    for job_id, entry in settlements.items():
        job = owner.get(f"/jobs/{job_id}").json()
        used = entry["used_gpu_seconds"]
        assert entry["gpu_seconds"] + used == HOUR, entry
        if job["started_at"] is None:
            assert used == 0 and entry["gpu_seconds"] == HOUR, entry  # settled back in full
        else:
            ran = datetime.fromisoformat(job["ended_at"]) - datetime.fromisoformat(
                job["started_at"]
            )
            assert used == max(0, int(ran.total_seconds())), (entry, job)
        used_total += used
    assert used_total < ROOM_JOBS * 30, "the cancelled jobs ran for seconds, not minutes"
    balance = ROOM_JOBS * HOUR - used_total
    assert sum(e["gpu_seconds"] for e in ledger) == balance
    assert detail["balance_gpu_hours"] == allocations.hours(balance)
    assert detail["reserved_gpu_hours"] == 0
    assert detail["used_gpu_hours"] == allocations.hours(used_total)
    assert time.monotonic() - t0 < 60


# -- the ledger's arithmetic, as a property -------------------------------------------------
OPERATOR = Principal(
    user_id="usr_operator", email="op@example.eu", roles=frozenset({PlatformRole.OPERATOR})
)


@dataclass
class _Reserved:
    alloc_id: str
    job_id: str
    need: int
    gpus: int


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(1, 4)),
        st.tuples(st.just("adjust"), st.integers(0, 7), st.integers(-3 * HOUR, 3 * HOUR)),
        st.tuples(
            st.just("reserve"), st.integers(0, 7), st.integers(1, 4), st.integers(1, 2 * HOUR)
        ),
        # the fraction of the walltime the job ran (up to twice), None: it never started
        st.tuples(st.just("settle"), st.integers(0, 31), st.none() | st.floats(0, 2)),
    ),
    max_size=30,
)


def test_ledger_sequences_keep_balance_sum_and_never_overspend(
    tmp_path: Path, databases: Databases
) -> None:
    """Random grant / adjust / reserve / settle: the balance is always the sum of the ledger,
    never negative, and a reservation succeeds exactly when the balance covers it."""
    db = Database(databases.sqlite(tmp_path / "ledger" / "aifactory.db"))
    now = utcnow()
    with db.write() as session:
        org = Organisation(
            id=new_id("org"),
            name="Ledger Org",
            kind="sme",
            country="FI",
            registration_id="R-1",
            created_at=now,
        )
        session.add(org)
        session.flush()
        project = Project(id=new_id("prj"), org_id=org.id, name="p", created_at=now)
        session.add(project)
    org_id, project_id = org.id, project.id

    def balance_and_sum(alloc_id: str) -> tuple[int, int]:
        """The balance placement reads (kept on the allocation row) and the ledger's sum."""
        with db.read() as session:
            t = allocations.totals(session, [alloc_id])[alloc_id]
            stored = session.get(Allocation, alloc_id)
            assert stored is not None
            rows = session.execute(
                select(func.sum(LedgerEntry.gpu_seconds)).where(
                    LedgerEntry.allocation_id == alloc_id
                )
            ).scalar_one()
            assert t.balance == int(rows or 0)
            return stored.balance_gpu_seconds, int(rows or 0)

    @settings(max_examples=25, deadline=None)
    @given(ops=_ops, first_hours=st.integers(1, 4))
    def check(ops: list[tuple[Any, ...]], first_hours: int) -> None:
        expected: dict[str, int] = {}
        open_reservations: list[_Reserved] = []

        def grant(gpu_hours: int) -> None:
            with db.write() as session:
                a = allocations.grant(
                    session,
                    actor="usr_operator",
                    org_id=org_id,
                    project_id=project_id,
                    site_id="local",
                    partition_id="local",
                    gpu_hours=gpu_hours,
                    starts_at=now - timedelta(days=1),
                    ends_at=now + timedelta(days=365),
                    report_due_on=(now + timedelta(days=400)).date(),
                    reason="property test",
                )
            expected[a.id] = gpu_hours * HOUR

        grant(first_hours)
        for op in ops:
            ids = list(expected)
            if op[0] == "grant":
                grant(op[1])
            elif op[0] == "adjust":
                alloc_id, amount = ids[op[1] % len(ids)], op[2]
                try:
                    with db.write() as session:
                        allocations.adjust(
                            session, OPERATOR, alloc_id, gpu_seconds=amount, reason="property"
                        )
                except Invalid:
                    assert expected[alloc_id] + amount < 0
                else:
                    assert expected[alloc_id] + amount >= 0
                    expected[alloc_id] += amount
            elif op[0] == "reserve":
                alloc_id, gpus, walltime = ids[op[1] % len(ids)], op[2], op[3]
                need = gpus * walltime
                job_id = new_id("job")
                with db.write() as session:
                    refused = allocations.reserve(session, alloc_id, job_id, need, utcnow())
                if refused is None:
                    assert need <= expected[alloc_id], "reserved past the balance"
                    expected[alloc_id] -= need
                    open_reservations.append(_Reserved(alloc_id, job_id, need, gpus))
                else:
                    assert need > expected[alloc_id], refused
                    assert alloc_id in refused
            elif op[0] == "settle" and open_reservations:
                r = open_reservations.pop(op[1] % len(open_reservations))
                ran = 0 if op[2] is None else int(op[2] * r.need / r.gpus)
                at = utcnow()
                job = Job(
                    id=r.job_id,
                    allocation_id=r.alloc_id,
                    reserved_gpu_seconds=r.need,
                    spec={"resources": {"accelerators_per_node": r.gpus, "nodes": 1}},
                    started_at=None if op[2] is None else at - timedelta(seconds=ran),
                )
                with db.write() as session:
                    allocations.settle(session, job, at)
                used = min(r.gpus * ran, r.need)
                expected[r.alloc_id] += r.need - used
            for alloc_id, want in expected.items():
                balance, ledger_sum = balance_and_sum(alloc_id)
                assert balance == ledger_sum == want
                assert balance >= 0
        with db.read() as session:
            sums = allocations.totals(session, list(expected))
        for alloc_id in expected:
            outstanding = sum(r.need for r in open_reservations if r.alloc_id == alloc_id)
            assert sums[alloc_id].reserved == outstanding

    try:
        check()
    finally:
        db.dispose()
