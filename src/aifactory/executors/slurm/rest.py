"""The ``rest`` transport: slurmrestd with a JWT.

The OpenAPI plugin version is read from the server (``/openapi/v3``), never assumed: the
highest ``/slurm/vX/job/submit`` it serves, and the matching ``/slurmdb/vX/jobs``. Field
names follow v0.0.38 (Slurm 22.05); where later versions wrap numbers as
``{"set": true, "number": n}`` or states as lists, the readers below accept both.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from aifactory.domain.execution import LogChunk
from aifactory.domain.sbatch import ScriptError
from aifactory.domain.sbatch.header import directives
from aifactory.executors import logs
from aifactory.executors.slurm.batch import PLATFORM_RUN
from aifactory.executors.slurm.cli import CliClient
from aifactory.executors.slurm.client import (
    AccountingRow,
    QueueRow,
    SiteUnavailable,
    SlurmRefused,
    Submission,
)
from aifactory.executors.slurm.connection import SiteConnection

_VERSION = re.compile(r"^/slurm/(v\d+\.\d+\.\d+)/job/submit$")
TOKEN_LIFESPAN_S = 1800
# slurmdbd cannot filter by a list of job ids: ask for everything submitted since the
# oldest job still followed (remembered per client), else this far back.
LOOKBACK_S = 7 * 86400


def _number(value: Any) -> int | None:
    if isinstance(value, dict):
        if value.get("set") is False or value.get("infinite"):
            return None
        value = value.get("number")
    return int(value) if isinstance(value, int | float) else None


def _state(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("current")
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value or "")


def _option(options: Sequence[str], name: str) -> str | None:
    prefix = f"--{name}="
    for opt in options:
        if opt.startswith(prefix):
            return opt[len(prefix) :]
    return None


def parse_minutes(text: str) -> int:
    """sbatch's --time as rendered by the platform (HH:MM:SS or D-HH:MM:SS), in minutes
    rounded up: slurmrestd takes whole minutes."""
    days, _, rest = text.rpartition("-")
    h, m, s = (int(x) for x in rest.split(":"))
    total = (int(days) if days else 0) * 86400 + h * 3600 + m * 60 + s
    return max(1, -(-total // 60))


class RestClient:
    def __init__(self, conn: SiteConnection, *, http: httpx.Client | None = None) -> None:
        assert conn.rest_url is not None
        self.conn = conn
        self.http = http or httpx.Client(base_url=conn.rest_url, timeout=conn.timeout_s)
        self._version: str | None = None
        self._token: tuple[str, float] | None = None
        self._oldest: float | None = None

    # -- plumbing ----------------------------------------------------------------------------
    def _jwt(self) -> str:
        if self.conn.token_file is not None:
            try:
                text = self.conn.token_file.read_text().strip()
            except OSError as exc:
                raise SiteUnavailable(f"token_file: {exc}") from None
            return text.removeprefix("SLURM_JWT=")
        if self._token and self._token[1] > time.time() + 60:
            return self._token[0]
        assert self.conn.token_command
        try:
            out = subprocess.run(
                self.conn.token_command,
                capture_output=True,
                text=True,
                timeout=self.conn.timeout_s,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise SiteUnavailable(f"token_command failed: {exc}") from None
        token = out.strip().removeprefix("SLURM_JWT=")
        self._token = (token, time.time() + TOKEN_LIFESPAN_S)
        return token

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {
            "X-SLURM-USER-NAME": self.conn.rest_user or self.conn.submit_user,
            "X-SLURM-USER-TOKEN": self._jwt(),
        }
        try:
            resp = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise SiteUnavailable(f"slurmrestd {self.conn.rest_url}: {exc}") from None
        try:
            body: dict[str, Any] = resp.json()
        except ValueError:
            body = {}
        errors = [e for e in body.get("errors", []) if isinstance(e, dict)]
        text = (
            "; ".join(str(e.get("error") or e.get("description") or e) for e in errors)
            or resp.text[:300]
        )
        if resp.status_code in (502, 503, 504) or "unable to contact" in text.lower():
            raise SiteUnavailable(f"slurmrestd {resp.status_code}: {text}")
        if resp.status_code >= 400 or errors:
            raise SlurmRefused(f"slurmrestd {resp.status_code}: {text}")
        return body

    def version(self) -> str:
        if self._version is None:
            spec = self._request("GET", "/openapi/v3")
            found = sorted(
                (m.group(1) for p in spec.get("paths", {}) if (m := _VERSION.match(p))),
                key=lambda v: tuple(int(x) for x in v[1:].split(".")),
            )
            if not found:
                raise SlurmRefused("slurmrestd serves no /slurm/v*/job/submit endpoint")
            self._version = found[-1]
        return self._version

    # -- the client ------------------------------------------------------------------------
    def submit(self, job: Submission) -> str:
        opts = job.options
        for d in job.dirs:  # a REST site shares the platform's jobs_dir (docs/slurm.md)
            os.makedirs(d, exist_ok=True)
        env = {k: v for k, v in job.env.items() if not k.startswith(("SLURM_", "SBATCH_"))}
        job_props: dict[str, Any] = {
            # slurmrestd does not read a script's #SBATCH lines: they are sent as the job's
            # properties, each value as written, parsed by Slurm's own option code.
            **script_properties(job.script),
            "account": _option(opts, "account"),
            "partition": _option(opts, "partition"),
            "current_working_directory": _option(opts, "chdir") or job.workdir,
            "comment": job.comment,
            "environment": {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                **env,
                **job.platform_env,
            },
        }
        for name, key in (
            ("qos", "qos"),
            ("job-name", "name"),
            ("output", "standard_output"),
            ("error", "standard_error"),
            ("mail-type", "mail_type"),
        ):
            value = _option(opts, name)
            if value is not None:
                job_props[key] = value
        if _option(opts, "time") is not None:
            job_props["time_limit"] = parse_minutes(_option(opts, "time") or "1:00:00")
        if _option(opts, "cpus-per-task") is not None:
            job_props["cpus_per_task"] = int(_option(opts, "cpus-per-task") or 1)
        if _option(opts, "mem") is not None:
            job_props["memory_per_node"] = int((_option(opts, "mem") or "1G").rstrip("G")) * 1024
        if _option(opts, "nodes") is not None:
            nodes = int(_option(opts, "nodes") or 1)
            job_props["nodes"] = [nodes, nodes]
        gres = _option(opts, "gres")
        if gres:
            job_props["gres"] = gres
        if "--exclusive" in opts:
            job_props["exclusive"] = "exclusive"
        version = self.version()
        if version != "v0.0.38":
            # Later plugins take the environment as a list of K=V strings.
            job_props["environment"] = [f"{k}={v}" for k, v in job_props["environment"].items()]
        body = self._request(
            "POST", f"/slurm/{version}/job/submit", json={"script": job.script, "job": job_props}
        )
        slurm_id = body.get("job_id")
        if not isinstance(slurm_id, int):
            raise SlurmRefused(f"slurmrestd returned no job id: {body}")
        self._seen(time.time())
        return str(slurm_id)

    def _seen(self, at: float) -> None:
        self._oldest = at if self._oldest is None else min(self._oldest, at)

    def queue(self) -> list[QueueRow]:
        body = self._request("GET", f"/slurm/{self.version()}/jobs")
        user = self.conn.submit_user
        rows = []
        for job in body.get("jobs", []):
            if job.get("user_name") not in (None, user):
                continue
            start = _number(job.get("start_time"))
            state = _state(job.get("job_state"))
            rows.append(
                QueueRow(
                    slurm_id=str(job.get("job_id")),
                    state=state,
                    reason=str(job.get("state_reason") or ""),
                    nodes=str(job.get("nodes") or ""),
                    start=float(start) if start and state != "PENDING" else None,
                    comment=str(job.get("comment") or ""),
                )
            )
        return rows

    def _db_jobs(self, since: float) -> list[dict[str, Any]]:
        # slurmdbd parses Slurm's time strings (local time), not epoch seconds.
        params = {
            "start_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since)),
            "cluster": self.conn.cluster,
        }
        body = self._request("GET", f"/slurmdb/{self.version()}/jobs", params=params)
        return [j for j in body.get("jobs", []) if isinstance(j, dict)]

    def accounting(self, slurm_ids: Sequence[str]) -> list[AccountingRow]:
        wanted = set(slurm_ids)
        since = (self._oldest or time.time() - LOOKBACK_S) - 3600
        rows = []
        for job in self._db_jobs(since):
            if str(job.get("job_id")) not in wanted:
                continue
            rows.append(_accounting_row(job))
        return rows

    def find(self, comment: str, since: float) -> str | None:
        for row in self.queue():
            if row.comment == comment:
                return row.slurm_id
        for job in self._db_jobs(since):
            found = job.get("comment")
            text = found.get("job") if isinstance(found, Mapping) else found
            if text == comment:
                return str(job.get("job_id"))
        return None

    def cancel(self, slurm_id: str) -> None:
        self._request("DELETE", f"/slurm/{self.version()}/job/{slurm_id}")

    def write_files(
        self, folder: str, filename: str | None, chunks: Iterable[bytes], size: int
    ) -> None:
        """slurmrestd takes no files: over SSH, or into the jobs_dir the site shares."""
        CliClient(self.conn).write_files(folder, filename, chunks, size)

    def remove_files(self, folder: str) -> None:
        CliClient(self.conn).remove_files(folder)

    def read_file(self, path: str, *, offset: int = 0, tail_lines: int | None = None) -> LogChunk:
        """slurmrestd serves no files: over SSH when the connection has a login node,
        else from the jobs_dir the platform shares with the site."""
        if self.conn.ssh:
            return CliClient(self.conn).read_file(path, offset=offset, tail_lines=tail_lines)
        return logs.read_file(Path(path), offset=offset, tail_lines=tail_lines)


# sbatch option -> slurmrestd job property (v0.0.38's table in src/plugins/openapi/v0.0.38/
# jobs.c; later versions take the same names). Options without one are not sent.
REST_KEYS = {
    "account": "account",
    "acctg-freq": "account_gather_frequency",
    "array": "array",
    "batch": "batch_features",
    "begin": "begin_time",
    "bb": "burst_buffer",
    "cluster-constraint": "cluster_constraint",
    "constraint": "constraint",
    "container": "container",
    "core-spec": "core_specification",
    "cores-per-socket": "cores_per_socket",
    "hint": "cpu_binding_hint",
    "cpu-freq": "cpu_frequency",
    "cpus-per-gpu": "cpus_per_gpu",
    "cpus-per-task": "cpus_per_task",
    "chdir": "current_working_directory",
    "deadline": "deadline",
    "delay-boot": "delay_boot",
    "dependency": "dependency",
    "distribution": "distribution",
    "exclude": "exclude_nodes",
    "exclusive": "exclusive",
    "gpu-bind": "gpu_binding",
    "gpu-freq": "gpu_frequency",
    "gpus": "gpus",
    "gpus-per-node": "gpus_per_node",
    "gpus-per-socket": "gpus_per_socket",
    "gpus-per-task": "gpus_per_task",
    "gres-flags": "gres_flags",
    "gres": "gres",
    "job-name": "name",
    "licenses": "licenses",
    "mail-type": "mail_type",
    "mail-user": "mail_user",
    "mcs-label": "mcs_label",
    "mem-bind": "memory_binding",
    "mem-per-cpu": "memory_per_cpu",
    "mem-per-gpu": "memory_per_gpu",
    "mem": "memory_per_node",
    "mincpus": "minimum_cpus_per_node",
    "nice": "nice",
    "nodelist": "nodelist",
    "nodes": "nodes",
    "no-kill": "no_kill",
    "no-requeue": "no_requeue",
    "open-mode": "open_mode",
    "oversubscribe": "oversubscribe",
    "partition": "partition",
    "prefer": "prefer",
    "profile": "profile",
    "qos": "qos",
    "requeue": "requeue",
    "reservation": "reservation",
    "signal": "signal",
    "sockets-per-node": "sockets_per_node",
    "spread-job": "spread_job",
    "error": "standard_error",
    "input": "standard_input",
    "output": "standard_output",
    "ntasks": "tasks",
    "ntasks-per-core": "tasks_per_core",
    "ntasks-per-gpu": "ntasks_per_gpu",
    "ntasks-per-node": "tasks_per_node",
    "tasks-per-node": "tasks_per_node",
    "ntasks-per-socket": "tasks_per_socket",
    "tmp": "temporary_disk_per_node",
    "thread-spec": "thread_specification",
    "threads-per-core": "threads_per_core",
    "time": "time_limit",
    "time-min": "time_minimum",
    "wckey": "wckey",
}
# The platform mails, and runs arrays and dependencies itself (batch.PLATFORM_RUN).
_PLATFORM_RUNS = frozenset({"mail-type", "mail-user"}) | PLATFORM_RUN
_FLAGS = {"exclusive": "exclusive", "requeue": True, "no-requeue": True, "spread-job": True}


def script_properties(script: str) -> dict[str, Any]:
    """A batch script's #SBATCH options as slurmrestd job properties (values as written)."""
    try:
        found = directives(script)
    except ScriptError:
        return {}
    props: dict[str, Any] = {}
    for d in found:
        key = REST_KEYS.get(d.name)
        if key is None or d.name in _PLATFORM_RUNS:
            continue
        props[key] = d.value if d.value is not None else _FLAGS.get(d.name, True)
    return props


def _accounting_row(job: Mapping[str, Any]) -> AccountingRow:
    times = job.get("time") or {}
    exit_code = job.get("exit_code") or {}
    signal = exit_code.get("signal") or {}
    tres = (job.get("tres") or {}).get("allocated") or []
    # As sacct prints AllocTRES: name=count, sorted by name, counts only.
    alloc = ",".join(
        sorted(
            "/".join(str(t[k]) for k in ("type", "name") if t.get(k)) + f"={t['count']}"
            for t in tres
            if isinstance(t, Mapping) and isinstance(t.get("count"), int) and t["count"] >= 0
        )
    )
    start, end = _number(times.get("start")), _number(times.get("end"))
    return AccountingRow(
        slurm_id=str(job.get("job_id")),
        state=_state(job.get("state")),
        exit_code=_number(exit_code.get("return_code")),
        # v0.0.38 names it signal_id; v0.0.40 and later, id.
        signal=_number(signal.get("signal_id", signal.get("id")))
        if isinstance(signal, Mapping)
        else None,
        start=float(start) if start else None,
        end=float(end) if end else None,
        elapsed_s=_number(times.get("elapsed")) or 0,
        alloc_tres=alloc,
        nodes=str(job.get("nodes") or ""),
    )
