"""The local executor against real subprocesses (Linux)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from aifactory.domain.execution import LaunchRequest, PollResult, ProcessOutcome, Tracked
from aifactory.executors.local import VANISHED, LocalExecutor, read_log
from aifactory.executors.runner import is_alive

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

GRACE_S = 0.5


@pytest.fixture
def executor() -> LocalExecutor:
    return LocalExecutor(grace_s=GRACE_S)


def launch(
    ex: LocalExecutor,
    workdir: Path,
    command: str,
    *,
    walltime_s: int = 20,
    accelerator_ids: Sequence[int] = (),
    job_id: str = "j-1",
) -> Tracked:
    request = LaunchRequest(
        job_id=job_id,
        command=command,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AIF_TEST": "yes"},
        workdir=workdir,
        walltime_s=walltime_s,
        accelerator_ids=accelerator_ids,
    )
    launched = ex.launch(request)
    return Tracked(job_id=job_id, external_id=launched.external_id, workdir=workdir)


def wait_until(check: Callable[[], bool], timeout_s: float = 8.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.02)


def wait_final(ex: LocalExecutor, job: Tracked, timeout_s: float = 8.0) -> PollResult:
    results: list[PollResult] = []

    def done() -> bool:
        results.append(ex.poll([job])[0])
        return results[-1].outcome is not ProcessOutcome.RUNNING

    wait_until(done, timeout_s)
    return results[-1]


def read_pid(path: Path) -> int:
    wait_until(lambda: path.exists() and path.read_text().strip().isdigit())
    return int(path.read_text().strip())


def runner_info(workdir: Path) -> dict[str, int]:
    wait_until(lambda: (workdir / "runner.json").exists())
    data: dict[str, int] = json.loads((workdir / "runner.json").read_text())
    return data


def test_job_completes_and_its_output_goes_to_the_logs(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    workdir = tmp_path / "a" / "b"  # parents are created
    job = launch(executor, workdir, "python3 -c 'print(6*7)' && echo to-stderr >&2")
    result = wait_final(executor, job)
    assert result.outcome is ProcessOutcome.COMPLETED
    assert result.exit_code == 0
    assert result.ended_at is not None
    assert "42" in (workdir / "stdout.log").read_text()
    assert (workdir / "stderr.log").read_text() == "to-stderr\n"
    assert "python3" in (workdir / "job.sh").read_text()
    result_file = json.loads((workdir / "result.json").read_text())
    assert result_file["outcome"] == "completed"
    assert result_file["started_at"] <= result_file["ended_at"]


def test_non_zero_exit_is_failed_with_that_code(executor: LocalExecutor, tmp_path: Path) -> None:
    result = wait_final(executor, launch(executor, tmp_path, "exit 3"))
    assert result.outcome is ProcessOutcome.FAILED
    assert result.exit_code == 3
    assert "exited with code 3" in result.reason


def test_a_command_that_cannot_run_fails(executor: LocalExecutor, tmp_path: Path) -> None:
    result = wait_final(executor, launch(executor, tmp_path, "/no/such/program"))
    assert result.outcome is ProcessOutcome.FAILED
    assert result.exit_code == 127


def test_environment_carries_devices_job_id_and_request_env(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    command = 'echo "$CUDA_VISIBLE_DEVICES|$ROCR_VISIBLE_DEVICES|$AIF_JOB_ID|$AIF_TEST"'
    job = launch(executor, tmp_path, command, accelerator_ids=(0, 2), job_id="j-env")
    assert wait_final(executor, job).outcome is ProcessOutcome.COMPLETED
    assert (tmp_path / "stdout.log").read_text() == "0,2|0,2|j-env|yes\n"


def test_walltime_stops_the_job_with_timeout(executor: LocalExecutor, tmp_path: Path) -> None:
    start = time.monotonic()
    result = wait_final(executor, launch(executor, tmp_path, "sleep 30", walltime_s=1))
    assert time.monotonic() - start < 5
    assert result.outcome is ProcessOutcome.TIMEOUT
    assert result.exit_code == 128 + signal.SIGTERM
    assert "walltime of 1 s reached" in result.reason


def test_a_job_ignoring_term_is_killed_after_the_grace(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    job = launch(executor, tmp_path, "trap '' TERM; sleep 30", walltime_s=1)
    pgid = runner_info(tmp_path)["child_pgid"]
    start = time.monotonic()
    result = wait_final(executor, job)
    assert time.monotonic() - start < 5
    assert result.outcome is ProcessOutcome.TIMEOUT
    assert result.exit_code == 128 + signal.SIGKILL
    assert "SIGKILL" in result.reason
    wait_until(lambda: not is_alive(pgid))


def test_cancel_kills_the_whole_process_group(executor: LocalExecutor, tmp_path: Path) -> None:
    job = launch(executor, tmp_path, "sleep 300 & echo $! > pid; sleep 300")
    grandchild = read_pid(tmp_path / "pid")
    child = runner_info(tmp_path)["child_pid"]
    assert executor.poll([job])[0].outcome is ProcessOutcome.RUNNING
    executor.cancel(job)
    result = wait_final(executor, job)
    assert result.outcome is ProcessOutcome.CANCELLED
    assert "cancelled on request" in result.reason
    wait_until(lambda: not is_alive(grandchild) and not is_alive(child))
    executor.cancel(job)  # cancelling an ended job changes nothing
    assert executor.poll([job])[0].outcome is ProcessOutcome.CANCELLED


def test_cancel_right_after_launch_is_not_lost(executor: LocalExecutor, tmp_path: Path) -> None:
    job = launch(executor, tmp_path, "sleep 300")
    executor.cancel(job)  # the runner may not even have started Python yet
    assert wait_final(executor, job).outcome is ProcessOutcome.CANCELLED


def test_stragglers_are_stopped_when_the_main_process_exits(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    job = launch(executor, tmp_path, "sleep 300 & echo $! > pid; exit 0")
    result = wait_final(executor, job)
    assert result.outcome is ProcessOutcome.COMPLETED
    assert "leftover" in result.reason
    wait_until(lambda: not is_alive(int((tmp_path / "pid").read_text())))


def test_a_new_executor_adopts_a_running_job(executor: LocalExecutor, tmp_path: Path) -> None:
    job = launch(executor, tmp_path, "while [ ! -e go ]; do sleep 0.05; done; echo done")
    after_restart = LocalExecutor(grace_s=GRACE_S)
    assert after_restart.poll([job])[0].outcome is ProcessOutcome.RUNNING
    (tmp_path / "go").touch()
    result = wait_final(after_restart, job)
    assert result.outcome is ProcessOutcome.COMPLETED
    assert (tmp_path / "stdout.log").read_text() == "done\n"


def test_a_killed_runner_is_reported_vanished_and_its_group_killed(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    job = launch(executor, tmp_path, "sleep 300 & echo $! > pid; sleep 300")
    grandchild = read_pid(tmp_path / "pid")
    info = runner_info(tmp_path)
    os.kill(info["runner_pid"], signal.SIGKILL)
    after_restart = LocalExecutor(grace_s=GRACE_S)
    # The killed runner stays a zombie of this test process until `executor` reaps it:
    # a zombie must not count as alive.
    wait_until(lambda: after_restart.poll([job])[0].outcome is not ProcessOutcome.RUNNING)
    result = (tmp_path / "result.json").read_text()
    assert VANISHED in result
    assert f"killed its orphaned process group {info['child_pgid']}" in result
    wait_until(lambda: not is_alive(grandchild) and not is_alive(info["child_pid"]))
    again = executor.poll([job])[0]  # the answer is recorded: the same from any executor
    assert again.outcome is ProcessOutcome.FAILED
    assert again.reason.startswith(VANISHED)


def test_cancel_when_the_runner_is_gone_kills_the_group(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    job = launch(executor, tmp_path, "sleep 300")
    info = runner_info(tmp_path)
    os.kill(info["runner_pid"], signal.SIGKILL)
    wait_until(lambda: not is_alive(info["runner_pid"]))
    LocalExecutor().cancel(job)
    result = executor.poll([job])[0]
    assert result.outcome is ProcessOutcome.CANCELLED
    assert result.exit_code is None
    assert "runner was already gone" in result.reason
    wait_until(lambda: not is_alive(info["child_pid"]))


def test_poll_of_a_bad_external_id_fails(executor: LocalExecutor, tmp_path: Path) -> None:
    job = Tracked(job_id="j-x", external_id="nonsense", workdir=tmp_path)
    result = executor.poll([job])[0]
    assert result.outcome is ProcessOutcome.FAILED
    assert "bad external id" in result.reason


def test_read_log_tail_and_offset(tmp_path: Path) -> None:
    assert read_log(tmp_path, "stdout") == ("", 0)
    assert read_log(tmp_path, "stderr", tail_lines=5, offset=7) == ("", 7)
    log = tmp_path / "stdout.log"
    log.write_text("one\ntwo\nthree\n")
    assert read_log(tmp_path, "stdout", tail_lines=2) == ("two\nthree\n", 14)
    assert read_log(tmp_path, "stdout", tail_lines=10) == ("one\ntwo\nthree\n", 14)
    assert read_log(tmp_path, "stdout", tail_lines=0) == ("", 14)
    assert read_log(tmp_path, "stdout", offset=4) == ("two\nthree\n", 14)
    assert read_log(tmp_path, "stdout", offset=14) == ("", 14)
    with log.open("ab") as fh:
        fh.write("four é".encode()[:-1])  # the last character cut in half
    text, offset = read_log(tmp_path, "stdout", offset=14)
    assert (text, offset) == ("four ", 19)
    with log.open("ab") as fh:
        fh.write("é\n".encode()[1:])
    assert read_log(tmp_path, "stdout", offset=offset) == ("é\n", 22)
    assert read_log(tmp_path, "stdout", offset=999) == (log.read_text(), 22)  # rewritten log
    with pytest.raises(ValueError, match="tail_lines"):
        read_log(tmp_path, "stdout", tail_lines=-1)


def test_read_log_tail_of_a_large_log(tmp_path: Path) -> None:
    lines = [f"line {i}\n" for i in range(50_000)]
    (tmp_path / "stderr.log").write_text("".join(lines))
    text, offset = read_log(tmp_path, "stderr", tail_lines=3)
    assert text == "".join(lines[-3:])
    assert offset == (tmp_path / "stderr.log").stat().st_size
