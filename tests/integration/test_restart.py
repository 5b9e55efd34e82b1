"""After a restart, jobs of the previous server process are re-adopted if still alive,
else marked failed with the reason; a crash mid-launch never starts a job twice."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from aifactory.db.tables import Job
from aifactory.services.runtime import Runtime
from tests.conftest import Platform, job_spec


def _wait_state(rt: Runtime, job_id: str, states: set[str], timeout: float = 15.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rt.dispatcher.dispatch_once()
        rt.dispatcher.poll_once()
        with rt.db.read() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.state in states:
                return job
        time.sleep(0.1)
    raise AssertionError(f"{job_id} stayed {job.state}: {job.reason}")


def _restart(platform: Platform) -> Runtime:
    """A new server process's runtime on the same settings (the old one is closed)."""
    platform.runtime.close()
    return Runtime(platform.settings)


def test_a_job_still_running_is_readopted_and_completes(sqlite_platform: Platform) -> None:
    user, _org, project = sqlite_platform.tenant()
    spec = job_spec(project["id"], "sleep 1.5; echo survived")
    job_id = user.post("/jobs", spec).json()["id"]
    _wait_state(sqlite_platform.runtime, job_id, {"running"})

    rt = _restart(sqlite_platform)
    try:
        job = _wait_state(rt, job_id, {"completed", "failed"})
        assert job.state == "completed", job.reason
        assert (Path(job.workdir or "") / "stdout.log").read_text() == "survived\n"
    finally:
        rt.close()


def test_a_job_whose_process_died_is_failed_with_the_reason(sqlite_platform: Platform) -> None:
    user, _org, project = sqlite_platform.tenant()
    job_id = user.post("/jobs", job_spec(project["id"], "sleep 30")).json()["id"]
    job = _wait_state(sqlite_platform.runtime, job_id, {"running"})
    workdir = Path(job.workdir or "")
    deadline = time.monotonic() + 5
    while not (workdir / "runner.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    info = json.loads((workdir / "runner.json").read_text())
    rt = _restart(sqlite_platform)
    try:
        os.kill(info["runner_pid"], signal.SIGKILL)  # died while no server was watching
        job = _wait_state(rt, job_id, {"failed", "completed"})
        assert job.state == "failed"
        assert "vanished" in job.reason
        # its orphaned job process was killed too
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and Path(f"/proc/{info['child_pid']}").exists():
            time.sleep(0.05)
        stat = Path(f"/proc/{info['child_pid']}/stat")
        assert not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z"
    finally:
        rt.close()


def test_a_crash_between_launch_and_commit_does_not_start_the_job_twice(
    sqlite_platform: Platform,
) -> None:
    user, _org, project = sqlite_platform.tenant()
    job_id = user.post("/jobs", job_spec(project["id"], "echo run >> runs.txt; sleep 1")).json()[
        "id"
    ]
    d = sqlite_platform.runtime.dispatcher
    # The first process places the job and starts it, then dies before recording the launch.
    original = d._launch
    d._launch = lambda *a, **k: False  # type: ignore[method-assign]
    d.dispatch_once()
    d._launch = original  # type: ignore[method-assign]
    with d.db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.state == "placed"
        workdir = Path(job.workdir or "")
    from aifactory.domain.execution import LaunchRequest

    d.executors[next(iter(d.executors))].launch(  # type: ignore[attr-defined]
        LaunchRequest(job_id, "echo run >> runs.txt; sleep 1", {}, workdir, 60, (0,))
    )
    rt = _restart(sqlite_platform)
    try:
        assert rt.dispatcher.recover() == 1
        job = _wait_state(rt, job_id, {"completed", "failed"})
        assert job.state == "completed", job.reason
        assert (workdir / "runs.txt").read_text() == "run\n", "the job ran exactly once"
    finally:
        rt.close()


def test_a_placed_job_never_launched_is_launched_by_the_next_leader(
    sqlite_platform: Platform,
) -> None:
    user, _org, project = sqlite_platform.tenant()
    job_id = user.post("/jobs", job_spec(project["id"], "echo once")).json()["id"]
    d = sqlite_platform.runtime.dispatcher
    original = d._launch
    d._launch = lambda *a, **k: False  # type: ignore[method-assign]
    d.dispatch_once()
    d._launch = original  # type: ignore[method-assign]
    rt = _restart(sqlite_platform)
    try:
        assert rt.dispatcher.recover() == 1
        job = _wait_state(rt, job_id, {"completed", "failed"})
        assert job.state == "completed"
    finally:
        rt.close()
