"""The ``cli`` transport: Slurm's own commands, run here or on a login node over SSH.

Every read asks for machine-readable output (``--parsable2``/``-P``, ``--noheader``, named
columns, epoch times), never a human table. The commands run with a clean environment, so the
platform's own secrets never reach a job.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from aifactory.domain.execution import LogChunk
from aifactory.executors import logs
from aifactory.executors.slurm import files
from aifactory.executors.slurm.client import (
    AccountingRow,
    QueueRow,
    SiteUnavailable,
    SlurmRefused,
    Submission,
)
from aifactory.executors.slurm.connection import SiteConnection
from aifactory.executors.slurm.states import parse_epoch, parse_exit_code

_BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
# What Slurm's clients print when the daemon, not the request, is the problem.
_UNREACHABLE = (
    "unable to contact slurm controller",
    "connection refused",
    "socket timed out",
    "problem talking to the database",
    "transport endpoint is not connected",
    "connection timed out",
    "no route to host",
    "ssh: ",
    "zero bytes were transmitted or received",
    "slurm_persist_conn_open",
)
SQUEUE_FORMAT = "%i|%T|%r|%N|%S|%k"
SACCT_FORMAT = "JobIDRaw,State,ExitCode,Start,End,ElapsedRaw,AllocTRES,NodeList"
# Job ids per sacct call: one call for a whole pass, while --jobs=<ids> stays well below
# Linux's 128 KiB limit on one argument (10,000 ids of 9 digits: 100 KB).
_CHUNK = 10_000


class CliClient:
    def __init__(self, conn: SiteConnection) -> None:
        self.conn = conn

    # -- running a command ----------------------------------------------------------------
    def _argv(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        platform_env: Mapping[str, str] | None = None,
        dirs: Sequence[str] = (),
    ) -> tuple[list[str], dict[str, str]]:
        cmd = list(argv)
        if self.conn.bin_dir is not None and not cmd[0].startswith("/"):
            cmd[0] = str(self.conn.bin_dir / cmd[0])
        # The job's variables first, the platform's over them: a job's env never chooses which
        # sbatch runs (PATH) or which cluster it talks to (SLURM_CONF); Slurm's own variables
        # are refused in job specs, and dropped here too (the platform's own, such as an
        # array task's SLURM_ARRAY_TASK_ID, come in platform_env).
        full_env = {
            k: v for k, v in env.items() if not k.startswith(("SLURM_", "SBATCH_", "SALLOC_"))
        }
        full_env.update(platform_env or {})
        full_env.update(_BASE_ENV)
        full_env["HOME"] = os.environ.get("HOME", "/")
        if self.conn.slurm_conf is not None:
            full_env["SLURM_CONF"] = str(self.conn.slurm_conf)
        if "SLURM_TIME_FORMAT" in env:  # ours, for epoch times in squeue and sacct
            full_env["SLURM_TIME_FORMAT"] = env["SLURM_TIME_FORMAT"]
        if self.conn.ssh:
            remote = shlex.join(["env", *(f"{k}={v}" for k, v in full_env.items()), *cmd])
            if dirs:  # one round trip: the job's directories, then the command
                remote = shlex.join(["mkdir", "-p", "--", *dirs]) + " && " + remote
            local_env = dict(_BASE_ENV, HOME=os.environ.get("HOME", "/"))
            return self.ssh_argv(remote), local_env
        for d in dirs:
            os.makedirs(d, exist_ok=True)
        return cmd, full_env

    def ssh_argv(self, remote: str) -> list[str]:
        assert self.conn.ssh
        return ["ssh", "-o", "BatchMode=yes", *self.conn.ssh_options, self.conn.ssh, remote]

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: str = "",
        platform_env: Mapping[str, str] | None = None,
        dirs: Sequence[str] = (),
    ) -> str:
        cmd, full_env = self._argv(argv, env or {}, platform_env, dirs)
        try:
            proc = subprocess.run(
                cmd,
                input=stdin,
                capture_output=True,
                text=True,
                env=full_env,
                timeout=self.conn.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SiteUnavailable(
                f"{argv[0]} did not answer within {self.conn.timeout_s:g} s"
            ) from None
        except OSError as exc:
            raise SiteUnavailable(f"{argv[0]}: {exc}") from None
        if proc.returncode != 0:
            err = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}")[:500]
            if (proc.returncode == 255 and self.conn.ssh) or any(
                m in err.lower() for m in _UNREACHABLE
            ):
                raise SiteUnavailable(err)
            raise SlurmRefused(err)
        return proc.stdout

    # -- the client ----------------------------------------------------------------------
    def submit(self, job: Submission) -> str:
        options = [*job.options, f"--comment={job.comment}", "--parsable"]
        out = self.run(
            ["sbatch", *options],
            env=job.env,
            stdin=job.script,
            platform_env=job.platform_env,
            dirs=job.dirs,
        )
        # --parsable prints "<id>" or "<id>;<cluster>"
        slurm_id = out.strip().split(";", 1)[0]
        if not slurm_id.isdigit():
            raise SlurmRefused(f"sbatch printed no job id: {out.strip()[:200]!r}")
        return slurm_id

    def queue(self) -> list[QueueRow]:
        out = self.run(
            [
                "squeue",
                "--noheader",
                "--all",
                "--states=all",
                f"--user={self.conn.submit_user}",
                f"--format={SQUEUE_FORMAT}",
            ],
            env={"SLURM_TIME_FORMAT": "%s"},
        )
        return parse_squeue(out)

    def accounting(self, slurm_ids: Sequence[str]) -> list[AccountingRow]:
        rows: list[AccountingRow] = []
        for i in range(0, len(slurm_ids), _CHUNK):
            chunk = slurm_ids[i : i + _CHUNK]
            out = self.run(
                [
                    "sacct",
                    "--noheader",
                    "--parsable2",
                    "--allocations",
                    f"--clusters={self.conn.cluster}",
                    f"--jobs={','.join(chunk)}",
                    f"--format={SACCT_FORMAT}",
                ],
                env={"SLURM_TIME_FORMAT": "%s"},
            )
            rows.extend(parse_sacct(out))
        return rows

    def find(self, comment: str, since: float) -> str | None:
        for row in self.queue():
            if row.comment == comment:
                return row.slurm_id
        # Finished and purged from the queue: slurmdbd keeps the comment when the site
        # stores it (AccountingStoreFlags=job_comment).
        out = self.run(
            [
                "sacct",
                "--noheader",
                "--parsable2",
                "--allocations",
                f"--clusters={self.conn.cluster}",
                f"--user={self.conn.submit_user}",
                # sacct takes Slurm's time strings (local time), not epoch seconds.
                f"--starttime={time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(since))}",
                "--format=JobIDRaw,Comment",
                "--state=CA,CD,F,PD,R,TO,NF,PR,OOM,BF,DL",
            ],
            env={"SLURM_TIME_FORMAT": "%s"},
        )
        for line in out.splitlines():
            slurm_id, _, found = line.partition("|")
            if found == comment:
                return slurm_id
        return None

    def cancel(self, slurm_id: str) -> None:
        self.run(["scancel", f"--clusters={self.conn.cluster}", slurm_id])

    def write_files(
        self, folder: str, filename: str | None, chunks: Iterable[bytes], size: int
    ) -> None:
        """A job's input at the site: one file, or (``filename`` None) a tar unpacked."""
        if not self.conn.ssh:
            files.write_local(folder, filename, chunks)
        else:
            files.write_over_ssh(self.conn, self.ssh_argv, folder, filename, chunks, size)

    def remove_files(self, folder: str) -> None:
        if not self.conn.ssh:
            files.remove_local(folder)
        else:
            files.remove_over_ssh(self.conn, self.ssh_argv, folder)

    def read_file(self, path: str, *, offset: int = 0, tail_lines: int | None = None) -> LogChunk:
        """A log file at the site: here, or on the login node over SSH (its size, then the
        bytes asked for, in one round trip)."""
        if not self.conn.ssh:
            return logs.read_file(Path(path), offset=offset, tail_lines=tail_lines)
        # From the offset on, or (a tail) at most the last 4 MiB, cut to lines here.
        remote = (
            f'f={shlex.quote(path)}; s=$(stat -L -c %s -- "$f" 2>/dev/null) || '
            '{ echo missing; exit 0; }; echo "$s"; o=' + str(offset) + "; "
            '[ "$o" -gt "$s" ] && o=0; '
            + (
                "[ $((s - o)) -gt 4194304 ] && o=$((s - 4194304)); "
                if tail_lines is not None
                else ""
            )
            + 'echo "$o"; tail -c +$((o + 1)) -- "$f" | head -c $((s - o))'
        )
        try:
            proc = subprocess.run(
                self.ssh_argv(remote),
                capture_output=True,
                env=dict(_BASE_ENV, HOME=os.environ.get("HOME", "/")),
                timeout=self.conn.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SiteUnavailable(f"ssh did not answer within {self.conn.timeout_s:g} s") from None
        except OSError as exc:
            raise SiteUnavailable(f"ssh: {exc}") from None
        if proc.returncode != 0:
            raise SiteUnavailable(
                proc.stderr.decode(errors="replace").strip()[:500] or "ssh failed"
            )
        head, _, rest = proc.stdout.partition(b"\n")
        if head == b"missing":
            return LogChunk("", offset)
        start, _, data = rest.partition(b"\n")
        size = int(head)
        if tail_lines is not None:
            data = logs.tail(data, tail_lines)
        del start
        return logs.decode(data, size, offset)


def parse_squeue(text: str) -> list[QueueRow]:
    rows = []
    for line in text.splitlines():
        parts = line.split("|", 5)
        if len(parts) == 6 and parts[0].isdigit():
            slurm_id, state, reason, nodes, start, comment = parts
            rows.append(QueueRow(slurm_id, state, reason, nodes, parse_epoch(start), comment))
    return rows


def parse_sacct(text: str) -> list[AccountingRow]:
    rows = []
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) != 8 or not parts[0].isdigit():
            continue
        slurm_id, state, exit_code, start, end, elapsed, tres, nodes = parts
        code, sig = parse_exit_code(exit_code)
        rows.append(
            AccountingRow(
                slurm_id=slurm_id,
                state=state,
                exit_code=code,
                signal=sig,
                start=parse_epoch(start),
                end=parse_epoch(end),
                elapsed_s=int(elapsed) if elapsed.isdigit() else 0,
                alloc_tres=tres,
                nodes=nodes,
            )
        )
    return rows
