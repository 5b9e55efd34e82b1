"""The supervisor that runs one local job: ``python -m aifactory.executors.runner``.

Usage::

    python -P -m aifactory.executors.runner --workdir W --walltime S --grace G \
        [--stdout PATH --stderr PATH --append --signal NUM:BEFORE_S:batch|steps] -- /bin/sh -c CMD

:class:`~aifactory.executors.local.LocalExecutor` starts it in a session of its own, so it
outlives the server and a restarted server can adopt it again. The runner

1. starts the job as a child in a new process group (cwd ``W``, stdout/stderr to
   ``W/stdout.log`` / ``W/stderr.log`` or the given paths (one file when they are the same;
   appended to with ``--append``), the runner's own environment) and writes
   ``W/runner.json`` (runner pid, child pid and pgid, the child's start ticks, ``started_at``);
2. waits. ``--signal`` sends a signal BEFORE_S seconds before the walltime, to the batch
   shell alone (``batch``) or to the job's other processes (``steps``), as sbatch --signal.
   At the walltime, on SIGTERM/SIGINT/SIGHUP sent to the runner, or when the file
   ``W/cancel.requested`` appears, it sends SIGTERM to the job's whole process group and
   SIGKILL after ``G`` seconds;
3. when the job's main process has exited and the group is stopped, writes ``W/result.json``
   atomically and exits.

Result file: ``{"exit_code", "outcome", "reason", "started_at", "ended_at"}``. Exit codes use
the shell convention: ``0..255`` as returned by the process, ``128 + N`` when it was killed by
signal N (so ``sh -c`` reports the same code whether or not it exec'ed the last command).

When the main process exits on its own, processes it left running in its group are stopped too
(TERM, grace, KILL), as a batch system would; the outcome still follows the main process's
exit code. Processes that leave the group (``setsid``) escape; stopping them needs cgroups.

Stdlib only: it starts for every job and must not import the application.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

RESULT_FILE = "result.json"
RUNNER_FILE = "runner.json"
CANCEL_FILE = "cancel.requested"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
RUNNER_LOG_FILE = "runner.log"

_TICK_S = 0.05


class ProcStat(NamedTuple):
    state: str  # one letter, 'Z' for a zombie
    pgrp: int
    start_ticks: int  # field 22 of /proc/<pid>/stat: start time in clock ticks since boot


def proc_stat(pid: int) -> ProcStat | None:
    """State, process group and start time of ``pid``, or ``None`` when there is no such pid."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 2 (comm) is in parentheses and may hold spaces or ')': split after the last ')'.
    rest = raw[raw.rfind(")") + 2 :].split()
    try:
        return ProcStat(state=rest[0], pgrp=int(rest[2]), start_ticks=int(rest[19]))
    except (IndexError, ValueError):
        return None


def is_alive(pid: int, start_ticks: int | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, started at ``start_ticks``."""
    st = proc_stat(pid)
    if st is None or st.state in ("Z", "X"):
        return False
    return start_ticks is None or st.start_ticks == start_ticks


def live_group_members(pgid: int) -> list[int]:
    """Pids of the non-zombie processes whose process group is ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st is not None and st.pgrp == pgid and st.state not in ("Z", "X"):
                members.append(int(entry))
    return members


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def write_json_atomic(path: Path, data: dict[str, Any], *, exclusive: bool = False) -> bool:
    """Write ``data`` to ``path`` via a fsynced temporary file.

    With ``exclusive`` an existing ``path`` is kept and ``False`` returned (first writer wins).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    if not exclusive:
        os.replace(tmp, path)
        return True
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def exit_code_of(returncode: int) -> int:
    """Popen's returncode (negative for a signal) in the shell convention (128 + signal)."""
    return returncode if returncode >= 0 else 128 - returncode


def describe_exit(exit_code: int) -> str:
    if exit_code > 128:
        with contextlib.suppress(ValueError):
            name = signal.Signals(exit_code - 128).name
            return f"killed by signal {name} (exit code {exit_code})"
    return f"exited with code {exit_code}"


def _has_exited(pid: int) -> bool:
    """True once ``pid`` (our child) has exited; it stays unreaped so its pid/pgid stay reserved."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def stop_group(pgid: int, child_pid: int, grace_s: float) -> str:
    """SIGTERM the group, SIGKILL it after ``grace_s`` unless everything in it has ended."""
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if _has_exited(child_pid) and not live_group_members(pgid):
            return "process group stopped with SIGTERM"
        time.sleep(_TICK_S)
    signal_group(pgid, signal.SIGKILL)
    return f"process group killed with SIGKILL after {grace_s:g} s grace"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m aifactory.executors.runner")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--walltime", type=float, required=True, help="seconds")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds from TERM to KILL")
    parser.add_argument("--stdout", type=Path, default=None, help="default: W/stdout.log")
    parser.add_argument("--stderr", type=Path, default=None, help="default: W/stderr.log")
    parser.add_argument("--append", action="store_true", help="append to the log files")
    parser.add_argument("--signal", default=None, help="NUM:BEFORE_S:batch|steps")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- argv of the job")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given after --")
    return args


class Warning_(NamedTuple):
    number: int
    before_s: float
    batch: bool


def parse_signal(text: str | None) -> Warning_ | None:
    if not text:
        return None
    number, before, target = text.split(":")
    return Warning_(int(number), float(before), target == "batch")


def _warn(pgid: int, child_pid: int, warning: Warning_) -> None:
    """sbatch --signal: the batch shell only (B:), else every other process of the job."""
    if warning.batch:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child_pid, warning.number)
        return
    for pid in live_group_members(pgid):
        if pid != child_pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, warning.number)


def run(
    workdir: Path,
    command: list[str],
    walltime_s: float,
    grace_s: float,
    *,
    stdout: Path | None = None,
    stderr: Path | None = None,
    append: bool = False,
    warning: Warning_ | None = None,
) -> dict[str, Any]:
    """Run ``command`` under supervision and return what goes into ``result.json``."""
    requested: list[int] = []
    out_path = stdout or workdir / STDOUT_FILE
    err_path = stderr or workdir / STDERR_FILE
    mode = "ab" if append else "wb"

    def on_signal(signum: int, frame: FrameType | None) -> None:
        requested.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    started_at = time.time()
    try:
        with contextlib.ExitStack() as files:
            out = files.enter_context(open(out_path, mode))
            # One file for both streams when they are the same (sbatch's default).
            same = err_path == out_path
            err = out if same else files.enter_context(open(err_path, mode))
            child = subprocess.Popen(
                command,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
    except OSError as exc:
        return {
            "exit_code": 127,
            "outcome": "failed",
            "reason": f"could not start the job: {exc}",
            "started_at": started_at,
            "ended_at": time.time(),
        }
    pgid = child.pid
    st = proc_stat(child.pid)
    write_json_atomic(
        workdir / RUNNER_FILE,
        {
            "runner_pid": os.getpid(),
            "child_pid": child.pid,
            "child_pgid": pgid,
            "child_start_ticks": st.start_ticks if st else None,
            "started_at": started_at,
        },
    )
    # runner.json is written before the cancel marker is first checked: LocalExecutor.cancel
    # writes the marker before it looks for runner.json, so one of the two sides sees the other.
    deadline = time.monotonic() + walltime_s
    warn_at = None if warning is None else deadline - warning.before_s
    outcome: str | None = None
    reason = ""
    while not _has_exited(child.pid):
        if warn_at is not None and warning is not None and time.monotonic() >= warn_at:
            _warn(pgid, child.pid, warning)
            warn_at = None
        if requested or (workdir / CANCEL_FILE).exists():
            outcome = "cancelled"
            reason = "cancelled on request; " + stop_group(pgid, child.pid, grace_s)
            break
        if time.monotonic() >= deadline:
            outcome = "timeout"
            reason = f"walltime of {walltime_s:g} s reached; " + stop_group(
                pgid, child.pid, grace_s
            )
            break
        time.sleep(_TICK_S)
    leftovers = ""
    if outcome is None and live_group_members(pgid):
        leftovers = "; leftover processes in its group: " + stop_group(pgid, child.pid, grace_s)
    exit_code = exit_code_of(child.wait())
    if outcome is None:
        outcome = "completed" if exit_code == 0 else "failed"
        reason = describe_exit(exit_code) + leftovers
    return {
        "exit_code": exit_code,
        "outcome": outcome,
        "reason": reason,
        "started_at": started_at,
        "ended_at": time.time(),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    workdir: Path = args.workdir.resolve()
    os.chdir("/")  # hold no directory of the server busy; the job runs in its workdir
    result = run(
        workdir,
        args.command,
        args.walltime,
        args.grace,
        stdout=args.stdout,
        stderr=args.stderr,
        append=args.append,
        warning=parse_signal(args.signal),
    )
    write_json_atomic(workdir / RESULT_FILE, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
