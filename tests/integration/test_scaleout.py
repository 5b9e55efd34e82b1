"""Scale-out on PostgreSQL: two real `aif serve` processes share one database; exactly one
runs each background loop, no job is dispatched twice, and the survivor takes over."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from aifactory.db.engine import normalise_url
from tests.conftest import Databases

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, db_url: str, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "AIF_DATA_DIR": str(data_dir),
            "AIF_DATABASE_URL": db_url,
            "AIF_LOOP_INTERVAL_S": "0.1",
            "AIF_KILL_GRACE_S": "1",
        }
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from aifactory.cli.main import main; main()",
             "serve", "--port", str(self.port)],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_healthy(self, timeout: float = 30) -> dict:  # type: ignore[type-arg]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                return dict(httpx.get(f"{self.url}/api/v1/health", timeout=2).json())
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"server did not start: {self.log.read_text()[-3000:]}")

    def health(self) -> dict:  # type: ignore[type-arg]
        return dict(httpx.get(f"{self.url}/api/v1/health", timeout=5).json())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def pg_url(databases: Databases) -> str:
    return databases.postgres()


@pytest.fixture
def servers(tmp_path: Path, pg_url: str) -> Iterator[list[Server]]:
    data = tmp_path / "data"
    first = Server(data, pg_url, tmp_path / "a.log")
    first.wait_healthy()  # the first one migrates and creates the admin
    second = Server(data, pg_url, tmp_path / "b.log")
    second.wait_healthy()
    yield [first, second]
    for s in (first, second):
        s.stop()


def _leaders(servers: list[Server], loop: str) -> list[Server]:
    return [s for s in servers if s.proc.poll() is None and loop in s.health()["leads"]]


def _wait(cond, timeout: float = 30, what: str = ""):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_servers_share_one_database_and_never_dispatch_a_job_twice(
    servers: list[Server], tmp_path: Path, pg_url: str
) -> None:
    token = (tmp_path / "data" / "admin-token").read_text().strip()
    h = {"Authorization": f"Bearer {token}"}
    a, b = servers
    for loop in ("dispatch", "executor"):
        _wait(lambda loop=loop: len(_leaders(servers, loop)) == 1, what=f"one {loop} leader")
    body = {"name": "Scale", "kind": "research", "country": "DE", "registration_id": "R1"}
    org = httpx.post(f"{a.url}/api/v1/orgs", headers=h, json=body).json()
    project = httpx.post(
        f"{b.url}/api/v1/projects", headers=h, json={"org_id": org["id"], "name": "p"}
    ).json()
    grant = {"project_id": project["id"], "partition": "local/local", "gpu_hours": 10,
             "ends_at": "2099-01-01T00:00:00Z", "reason": "scale-out test"}  # fmt: skip
    assert httpx.post(f"{a.url}/api/v1/allocations", headers=h, json=grant).status_code == 201

    def submit(server: Server, i: int) -> str:
        r = httpx.post(f"{server.url}/api/v1/jobs", headers=h, json={
            "name": f"j{i}", "project": project["id"], "run": "echo ran",
            "resources": {"accelerators_per_node": 0}})  # fmt: skip
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    ids = [submit(servers[i % 2], i) for i in range(40)]

    def all_final(job_ids: list[str], via: Server = a) -> bool:
        states = [
            httpx.get(f"{via.url}/api/v1/jobs/{j}", headers=h).json()["state"] for j in job_ids
        ]
        return all(s == "completed" for s in states)

    _wait(lambda: all_final(ids), timeout=60, what="all jobs completed")

    # Kill the dispatch leader outright: the other server takes the loops over.
    leader = _leaders(servers, "dispatch")[0]
    survivor = b if leader is a else a
    leader.stop(signal.SIGKILL)
    _wait(lambda: "dispatch" in survivor.health()["leads"], what="takeover of dispatch")
    _wait(lambda: "executor" in survivor.health()["leads"], what="takeover of executor")
    more = [submit(survivor, 100 + i) for i in range(10)]
    _wait(lambda: all_final(more, survivor), timeout=60, what="jobs after takeover completed")

    engine = create_engine(normalise_url(pg_url))
    with engine.connect() as conn:
        placed = conn.execute(text(
            "SELECT job_id, count(*) FROM job_events WHERE state = 'placed' GROUP BY job_id"
        )).all()  # fmt: skip
        audits = conn.execute(text(
            "SELECT object_id, count(*) FROM audit_events WHERE action = 'job.placement' "
            "GROUP BY object_id")).all()  # fmt: skip
    engine.dispose()
    assert {j for j, _ in placed} == set(ids + more)
    assert all(n == 1 for _, n in placed), "a job was placed twice"
    assert all(n == 1 for _, n in audits)
    for job_id in ids + more:
        out = (tmp_path / "data" / "jobs" / job_id / "stdout.log").read_text()
        assert out == "ran\n", f"{job_id} ran {out.count('ran')} times"
