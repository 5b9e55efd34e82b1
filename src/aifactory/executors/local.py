"""The local executor: every job is a real subprocess on this machine.

Each job runs under its own supervisor (:mod:`aifactory.executors.runner`) in a session of its
own, so jobs outlive the server. Everything the executor needs later lives in the job's work
directory (``runner.json``, ``result.json``) and in its external id ``"<runner pid>:<start
ticks>"``, so a fresh :class:`LocalExecutor` in another process (after a server restart) can
poll and cancel jobs launched by an earlier one.

Work directory layout: ``job.sh`` (the command, for reference), ``stdout.log``, ``stderr.log``,
``runner.log`` (the supervisor's own output), ``runner.json``, ``result.json`` and
``cancel.requested`` (present once a cancel was asked for).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import aifactory
from aifactory.domain.execution import (
    Launched,
    LaunchRequest,
    LogChunk,
    PollResult,
    ProcessOutcome,
    Tracked,
)
from aifactory.executors import logs
from aifactory.executors.runner import (
    CANCEL_FILE,
    RESULT_FILE,
    RUNNER_FILE,
    RUNNER_LOG_FILE,
    is_alive,
    live_group_members,
    proc_stat,
    read_json,
    signal_group,
    write_json_atomic,
)

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
LAUNCH_FILE = "launch.json"
VANISHED = "runner process vanished without a result (server restart or kill -9)"
_SRC_DIR = Path(aifactory.__file__).resolve().parent.parent


def _inheritable_fds() -> list[int]:
    """Our inheritable descriptors above stderr, which the runner must not hold open."""
    fds = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        with contextlib.suppress(OSError):
            if fd > 2 and os.get_inheritable(fd):
                fds.append(fd)
    return fds


def _parse_external_id(external_id: str) -> tuple[int, int] | None:
    pid, sep, ticks = external_id.partition(":")
    if not sep or not pid.isdigit() or not ticks.isdigit():
        return None
    return int(pid), int(ticks)


def _orphan_group(workdir: Path) -> int | None:
    """The job's process group from ``runner.json`` if it still has live members and is ours."""
    info = read_json(workdir / RUNNER_FILE)
    if info is None or not isinstance(info.get("child_pgid"), int):
        return None
    pgid: int = info["child_pgid"]
    leader = proc_stat(pgid)
    # A pid in use as a process group id is never handed out again, so the group can only be
    # someone else's if its leader pid now belongs to a process that started at another time.
    if leader is not None and leader.start_ticks != info.get("child_start_ticks"):
        return None
    return pgid if live_group_members(pgid) else None


def _runs_in(pid: int, workdir: Path) -> bool:
    """True when ``pid`` is a runner supervising ``workdir`` (not a stranger with a reused pid)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"aifactory.executors.runner" in argv and str(workdir.resolve()).encode() in argv


def _result_of(job_id: str, data: dict[str, Any]) -> PollResult:
    try:
        outcome = ProcessOutcome(str(data.get("outcome")))
    except ValueError:
        outcome = ProcessOutcome.FAILED
    exit_code = data.get("exit_code")
    ended_at = data.get("ended_at")
    return PollResult(
        job_id=job_id,
        outcome=outcome,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        reason=str(data.get("reason", "")),
        ended_at=float(ended_at) if isinstance(ended_at, int | float) else None,
    )


class LocalExecutor:
    """Runs jobs as local subprocesses; implements :class:`aifactory.domain.execution.Executor`."""

    def __init__(self, *, python: str = sys.executable, grace_s: float = 10.0) -> None:
        self._python = python
        self._grace_s = grace_s
        # Runners this instance started, reaped once they end so they do not linger as zombies.
        self._children: set[int] = set()

    def launch(self, request: LaunchRequest) -> Launched:
        self._reap()
        workdir = request.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in (RESULT_FILE, RUNNER_FILE, CANCEL_FILE, LAUNCH_FILE):
            (workdir / stale).unlink(missing_ok=True)
        if request.script is not None:
            # A batch script runs unchanged, as sbatch would run it (its #SBATCH lines are
            # comments to bash).
            (workdir / "job.sbatch").write_text(request.script, encoding="utf-8")
            job_argv = ["/bin/bash", str(workdir / "job.sbatch")]
        else:
            (workdir / "job.sh").write_text(request.command + "\n", encoding="utf-8")
            job_argv = ["/bin/sh", "-c", request.command]
        # The job's id stands for %j here: this machine has no Slurm job ids.
        paths = logs.log_paths(request, str(workdir), request.job_id, getpass.getuser())
        base = logs.base_dir(request, str(workdir))
        for parent in logs.parents_to_create(paths, base):
            Path(parent).mkdir(parents=True, exist_ok=True)
        options = ["--stdout", paths["stdout"], "--stderr", paths["stderr"]]
        if request.append:
            options.append("--append")
        if request.signal is not None:
            sig = request.signal
            target = "batch" if sig.batch else "steps"
            options += ["--signal", f"{sig.number}:{sig.before_s}:{target}"]
        argv = [
            self._python,
            "-P",  # no cwd on sys.path: nothing may shadow the runner's imports
            "-m",
            "aifactory.executors.runner",
            "--workdir",
            str(workdir),
            "--walltime",
            str(request.walltime_s),
            "--grace",
            str(self._grace_s),
            *options,
            "--",
            *job_argv,
        ]
        # posix_spawn rather than Popen: the runner is deliberately never waited for, and a
        # dropped Popen of a live child warns (ResourceWarning). We reap by pid instead.
        pid = os.posix_spawnp(
            self._python,
            argv,
            self._env(request),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (
                    os.POSIX_SPAWN_OPEN,
                    1,
                    str(workdir / RUNNER_LOG_FILE),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                    0o644,
                ),
                (os.POSIX_SPAWN_DUP2, 1, 2),
                *((os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()),
            ],
            setsid=True,
        )
        self._children.add(pid)
        st = proc_stat(pid)
        ticks = st.start_ticks if st is not None else 0
        started = time.time()
        # Written at once (the runner's own runner.json follows only after its interpreter
        # starts): a process that dies after this line leaves enough for adopt().
        write_json_atomic(
            workdir / LAUNCH_FILE, {"runner_pid": pid, "runner_ticks": ticks, "started_at": started}
        )
        return Launched(external_id=f"{pid}:{ticks}", started_at=started, logs=paths)

    def read_log(
        self, job: Tracked, stream: str, *, offset: int = 0, tail_lines: int | None = None
    ) -> LogChunk:
        path = job.logs.get(stream) or str(
            job.workdir / (logs.STDOUT_FILE if stream == "stdout" else logs.STDERR_FILE)
        )
        return logs.read_file(Path(path), offset=offset, tail_lines=tail_lines)

    def adopt(
        self, job_id: str, workdir: Path, *, site: str = "", since: float = 0.0
    ) -> Launched | None:
        """A job an earlier process launched but died before recording: its handle, from
        ``runner.json``; None when no runner was ever started there (launch it again)."""
        info = read_json(workdir / LAUNCH_FILE) or read_json(workdir / RUNNER_FILE)
        if info is None or not isinstance(info.get("runner_pid"), int):
            return None
        pid: int = info["runner_pid"]
        st = proc_stat(pid)
        ticks = 0  # no live runner: poll then reports its result, or that it vanished
        if st is not None and is_alive(pid) and _runs_in(pid, workdir):
            ticks = st.start_ticks
        started = info.get("started_at")
        return Launched(
            external_id=f"{pid}:{ticks}",
            started_at=float(started) if isinstance(started, int | float) else time.time(),
        )

    def poll(self, jobs: Sequence[Tracked]) -> list[PollResult]:
        self._reap()
        return [self._poll_one(job) for job in jobs]

    def cancel(self, job: Tracked) -> None:
        """Ask the job to stop (TERM, grace, KILL of its group); returns without waiting.

        The next polls report ``cancelled`` once the runner has stopped the job. A job that has
        already ended is left as it is.
        """
        self._reap()
        workdir = job.workdir
        if not workdir.is_dir() or (workdir / RESULT_FILE).exists():
            return  # nothing to record it in, or it has already ended
        (workdir / CANCEL_FILE).touch()
        ident = _parse_external_id(job.external_id)
        if ident is not None and is_alive(*ident):
            # Before runner.json exists the runner may not handle SIGTERM yet; it checks the
            # marker file right after writing runner.json, and then every tick.
            if (workdir / RUNNER_FILE).exists():
                # ProcessLookupError: it ended meanwhile and has written its result.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(ident[0], signal.SIGTERM)
            return
        if (workdir / RESULT_FILE).exists():  # it ended between the two checks
            return
        pgid = _orphan_group(workdir)
        if pgid is not None:
            signal_group(pgid, signal.SIGKILL)
        write_json_atomic(
            workdir / RESULT_FILE,
            {
                "exit_code": None,
                "outcome": ProcessOutcome.CANCELLED.value,
                "reason": "cancelled on request; the runner was already gone"
                + (f"; killed its process group {pgid}" if pgid is not None else ""),
                "started_at": None,
                "ended_at": time.time(),
            },
            exclusive=True,
        )

    def _poll_one(self, job: Tracked) -> PollResult:
        result_path = job.workdir / RESULT_FILE
        data = read_json(result_path)
        if data is not None:
            return _result_of(job.job_id, data)
        ident = _parse_external_id(job.external_id)
        if ident is None:  # not ours to judge: touch nothing
            reason = f"bad external id {job.external_id!r}, expected '<pid>:<start ticks>'"
            return PollResult(job_id=job.job_id, outcome=ProcessOutcome.FAILED, reason=reason)
        if is_alive(*ident):
            return PollResult(job_id=job.job_id, outcome=ProcessOutcome.RUNNING)
        data = read_json(result_path)  # the runner may have finished between the two checks
        if data is not None:
            return _result_of(job.job_id, data)
        reason = VANISHED
        pgid = _orphan_group(job.workdir)
        if pgid is not None:
            signal_group(pgid, signal.SIGKILL)
            reason += f"; killed its orphaned process group {pgid}"
        failed = {
            "exit_code": None,
            "outcome": ProcessOutcome.FAILED.value,
            "reason": reason,
            "started_at": None,
            "ended_at": time.time(),
        }
        # Recorded so that later polls (from any process) give the same answer.
        if job.workdir.is_dir() and not write_json_atomic(result_path, failed, exclusive=True):
            data = read_json(result_path)
            if data is not None:
                return _result_of(job.job_id, data)
        return _result_of(job.job_id, failed)

    def _env(self, request: LaunchRequest) -> dict[str, str]:
        env = dict(request.env)
        env.setdefault("PATH", DEFAULT_PATH)
        devices = ",".join(str(i) for i in request.accelerator_ids)
        env["CUDA_VISIBLE_DEVICES"] = devices
        env["ROCR_VISIBLE_DEVICES"] = devices
        env["AIF_JOB_ID"] = request.job_id
        if request.script is not None:
            env.update(slurm_env(request))
        env.update(request.platform_env)
        paths = [str(_SRC_DIR), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        return env

    def _reap(self) -> None:
        for pid in list(self._children):
            try:
                done = os.waitpid(pid, os.WNOHANG)[0] != 0
            except ChildProcessError:  # reaped elsewhere
                done = True
            if done:
                self._children.discard(pid)


def slurm_env(request: LaunchRequest) -> dict[str, str]:
    """What Slurm sets for a batch script that scripts commonly read, for a script run on
    this machine (one node; the platform's job id stands for the Slurm job id)."""
    host = socket.gethostname().split(".", 1)[0]
    env = {
        "SLURM_JOB_ID": request.job_id,
        "SLURM_JOBID": request.job_id,
        "SLURM_JOB_NAME": request.name,
        "SLURM_NNODES": "1",
        "SLURM_JOB_NUM_NODES": "1",
        "SLURM_JOB_NODELIST": host,
        "SLURM_NODELIST": host,
        "SLURMD_NODENAME": host,
        "SLURM_SUBMIT_DIR": str(request.workdir),
        "SLURM_CPUS_ON_NODE": str(request.cpus),
        "SLURM_GPUS_ON_NODE": str(request.accelerators_per_node),
        "SLURM_JOB_PARTITION": request.info.get("partition", ""),
        "SLURM_JOB_ACCOUNT": request.info.get("account", ""),
        "SLURM_CLUSTER_NAME": request.info.get("site", ""),
    }
    return env


def read_log(
    workdir: Path,
    stream: Literal["stdout", "stderr"],
    *,
    tail_lines: int | None = None,
    offset: int = 0,
) -> tuple[str, int]:
    """A command's log in ``workdir`` (``stdout.log`` / ``stderr.log``): its text from byte
    ``offset`` (or its last ``tail_lines`` lines) and the offset to continue from."""
    name = logs.STDOUT_FILE if stream == "stdout" else logs.STDERR_FILE
    chunk = logs.read_file(workdir / name, offset=offset, tail_lines=tail_lines)
    return chunk.text, chunk.offset
