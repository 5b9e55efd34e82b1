"""``make bench``: real HTTP job submissions against a running ``aif serve``.

Concurrent clients (16 by default), each with its own keep-alive connection, POST
/api/v1/jobs with a small spec and a unique Idempotency-Key. Only 201s count as accepted;
everything else is reported by status. The figures: accepted submissions per second,
p50/p90/p99/max latency, the client's own CPU use (so a saturated client shows), and the
server's when this script started it.

    python bench/submit.py --start-server                 # a fresh server, loops on
    python bench/submit.py --start-server --no-loops      # API only: no dispatch
    python bench/submit.py --url http://host:8000 --token-file data/admin-token

With ``--start-server`` the server is uvicorn on the platform's app in a subprocess, built the
way ``aif serve`` builds it (migrate, first admin, runtime, ``create_app``) on a fresh data
directory; the background loops run unless ``--no-loops``, so the dispatcher places the
submitted jobs and the local executor runs them while the submissions go on.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

API = "/api/v1"
# The target on a 2-core machine with SQLite.
TARGET_PER_S, TARGET_P99_MS = 500.0, 100.0
REPO = Path(__file__).resolve().parent.parent

# The server, as `aif serve` builds it, without depending on the CLI. With workers > 1
# uvicorn imports the app in each worker: the factory module below is written next to it.
LAUNCHER = """
import os, sys, uvicorn
from aifactory.settings import load_settings
from aifactory.services.bootstrap import prepare, init_admin
from aifactory.services.runtime import Runtime
from aifactory.api.app import create_app

settings = load_settings()
prepare(settings)
workers = int(os.environ["BENCH_WORKERS"])
runtime = Runtime(settings)
try:
    init_admin(runtime.db, settings)
    if workers == 1:
        app = create_app(settings, runtime)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
        sys.exit(0)
finally:
    runtime.close()
uvicorn.run(
    "bench_app:app", factory=True, app_dir=os.environ["BENCH_APP_DIR"],
    host=settings.host, port=settings.port, workers=workers, log_level="warning",
)
"""

FACTORY_MODULE = """
from aifactory.api.app import create_app
from aifactory.settings import load_settings


def app():
    return create_app(load_settings())
"""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path

    def cpu_seconds(self) -> float:
        """CPU time of the server and its worker processes, from /proc."""
        return sum(_proc_cpu(pid) for pid in _process_tree(self.process.pid))

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _process_tree(root: int) -> list[int]:
    """``root`` and its descendants (uvicorn workers, job processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime: fields 14 and 15 of stat(5), i.e. 11 and 12 after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int, workers: int, loops: bool) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "bench_app.py").write_text(FACTORY_MODULE)
    env = dict(os.environ)
    env.update(
        AIF_DATA_DIR=str(data_dir),
        AIF_HOST="127.0.0.1",
        AIF_PORT=str(port),
        AIF_RUN_LOOPS="true" if loops else "false",
        BENCH_WORKERS=str(workers),
        BENCH_APP_DIR=str(data_dir),
        # Importable whether or not the package is installed into this interpreter.
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p),
    )
    log = data_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals stay ours
        )
    return Server(process, data_dir, log)


def wait_healthy(url: str, server: Server | None, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Exception | str = "no answer"
    while time.monotonic() < deadline:
        if server is not None and server.process.poll() is not None:
            raise SystemExit(f"the server exited:\n{server.log.read_text()[-4000:]}")
        try:
            r = httpx.get(f"{url}{API}/health", timeout=2)
            if r.status_code == 200:
                return dict(r.json())
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise SystemExit(f"{url} did not become healthy in {timeout:.0f} s: {last}")


def wait_for_leadership(url: str, want: set[str], timeout: float = 10.0) -> dict[str, Any]:
    """With loops on, wait until this server leads them (so the run measures them too)."""
    deadline = time.monotonic() + timeout
    health = httpx.get(f"{url}{API}/health", timeout=2).json()
    while not want <= set(health.get("leads", [])) and time.monotonic() < deadline:
        time.sleep(0.2)
        health = httpx.get(f"{url}{API}/health", timeout=2).json()
    return dict(health)


def setup_tenant(url: str, token: str) -> str:
    """An organisation and a project to submit into; returns the project id."""
    tag = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        org = c.post(
            f"{API}/orgs",
            json={
                "name": f"Bench {tag}",
                "kind": "research",
                "country": "FI",
                "registration_id": f"BENCH-{tag}",
            },
        )
        if org.status_code != 201:
            raise SystemExit(f"creating the organisation: {org.status_code} {org.text}")
        project = c.post(f"{API}/projects", json={"org_id": org.json()["id"], "name": "bench"})
        if project.status_code != 201:
            raise SystemExit(f"creating the project: {project.status_code} {project.text}")
        project_id = str(project.json()["id"])
        # Jobs are placed only against an allocation: an operator's grant on this machine.
        grant = c.post(
            f"{API}/allocations",
            json={
                "project_id": project_id,
                "partition": "local/local",
                "gpu_hours": 1000,
                "ends_at": "2099-01-01T00:00:00Z",
                "reason": "benchmark",
            },
        )
        if grant.status_code != 201:
            raise SystemExit(f"granting an allocation: {grant.status_code} {grant.text}")
        return project_id


def job_spec(project_id: str) -> dict[str, Any]:
    # No accelerator: the local site runs it on a CPU slot (accelerators_per_node may be 0).
    return {
        "name": "bench",
        "project": project_id,
        "run": "true",
        "resources": {"accelerators_per_node": 0, "cpus": 1, "memory_gb": 1, "walltime": "5m"},
    }


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, measured requests only
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    first: str = ""  # the first unexpected answer, to show

    def add(self, status: str, seconds: float, body: str, measured: bool) -> None:
        if not measured:
            return
        self.latencies.append(seconds)
        self.statuses[status] += 1
        if status == "201":
            self.accepted += 1
        elif not self.first:
            self.first = f"{status}: {body[:300]}"


class Plan:
    """Hands out submission numbers: the first ``warmup`` are not measured."""

    def __init__(self, warmup: int, jobs: int) -> None:
        self.warmup, self.total = warmup, warmup + jobs
        self._next = itertools.count()
        self._lock = threading.Lock()
        self.started = 0.0  # perf_counter when the first measured request went out

    def take(self) -> int | None:
        with self._lock:
            n = next(self._next)
            if n == self.warmup:
                self.started = time.perf_counter()
            return n if n < self.total else None


def run_threads(url: str, token: str, project: str, clients: int, plan: Plan, run_id: str) -> Tally:
    tally, lock = Tally(), threading.Lock()
    spec = job_spec(project)

    def client() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
            while (n := plan.take()) is not None:
                t0 = time.perf_counter()
                try:
                    r = c.post(
                        f"{API}/jobs", json=spec, headers={"Idempotency-Key": f"{run_id}-{n}"}
                    )
                    status, body = str(r.status_code), r.text
                except httpx.HTTPError as exc:
                    status, body = type(exc).__name__, str(exc)
                dt = time.perf_counter() - t0
                with lock:
                    tally.add(status, dt, body, n >= plan.warmup)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally


def run_async(url: str, token: str, project: str, clients: int, plan: Plan, run_id: str) -> Tally:
    tally = Tally()
    spec = job_spec(project)

    async def client(c: httpx.AsyncClient) -> None:
        while (n := plan.take()) is not None:
            t0 = time.perf_counter()
            try:
                r = await c.post(
                    f"{API}/jobs", json=spec, headers={"Idempotency-Key": f"{run_id}-{n}"}
                )
                status, body = str(r.status_code), r.text
            except httpx.HTTPError as exc:
                status, body = type(exc).__name__, str(exc)
            tally.add(status, time.perf_counter() - t0, body, n >= plan.warmup)

    async def main() -> None:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as c:
            await asyncio.gather(*(client(c) for _ in range(clients)))

    asyncio.run(main())
    return tally


def run_raw(url: str, token: str, project: str, clients: int, plan: Plan, run_id: str) -> Tally:
    """asyncio streams and hand-written HTTP/1.1: the least client CPU per request."""
    tally = Tally()
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    body = json.dumps(job_spec(project)).encode()
    head = (
        f"POST {API}/jobs HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    ).encode()

    async def exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> tuple[str, str, bool]:
        writer.write(head + f"Idempotency-Key: {run_id}-{n}\r\n\r\n".encode() + body)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("the server closed the connection")
        length, keep = 0, True
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
        text = (await reader.readexactly(length)).decode(errors="replace")
        return status_line.split()[1].decode(), text, keep

    async def client() -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while (n := plan.take()) is not None:
            t0 = time.perf_counter()
            try:
                conn = conn or await asyncio.open_connection(host, port)
                status, text, keep = await exchange(*conn, n)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                status, text, keep = type(exc).__name__, str(exc), False
            tally.add(status, time.perf_counter() - t0, text, n >= plan.warmup)
            if not keep and conn is not None:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    async def main() -> None:
        await asyncio.gather(*(client() for _ in range(clients)))

    asyncio.run(main())
    return tally


MODES = {"threads": run_threads, "async": run_async, "raw": run_raw}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine skews the figures: the 1-minute load before the run.
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def job_states(url: str, token: str, project: str) -> dict[str, int]:
    out = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        for state in ("pending", "placed", "submitted", "running", "completed", "failed"):
            r = c.get(f"{API}/jobs", params={"project_id": project, "state": state, "limit": 1})
            if r.status_code == 200 and r.json()["total"]:
                out[state] = r.json()["total"]
    return out


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(p * 10) - 1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="A running server (default with --start-server: its own).")
    ap.add_argument("--token", help="An API token (default: --token-file).")
    ap.add_argument("--token-file", type=Path, help="Default: <data-dir>/admin-token.")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=5000, help="Measured submissions.")
    ap.add_argument("--warmup", type=int, default=200, help="Submissions before measuring.")
    ap.add_argument("--mode", choices=sorted(MODES), default="raw", help="Client kind.")
    ap.add_argument("--start-server", action="store_true", help="Start a fresh server.")
    ap.add_argument("--data-dir", type=Path, help="For --start-server (default: a temp dir).")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers (--start-server).")
    ap.add_argument("--no-loops", action="store_true", help="Server without its loops.")
    ap.add_argument("--json-out", type=Path, help="Also write the figures here as JSON.")
    args = ap.parse_args(argv)
    if args.clients < 1 or args.jobs < 1 or args.warmup < 0:
        ap.error("--clients and --jobs must be positive, --warmup not negative")

    server: Server | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    try:
        if args.start_server:
            if args.data_dir is None:
                tmp = tempfile.TemporaryDirectory(prefix="aif-bench-")
                args.data_dir = Path(tmp.name)
            port = _free_port()
            server = start_server(args.data_dir, port, args.workers, not args.no_loops)
            args.url = args.url or f"http://127.0.0.1:{port}"
        if not args.url:
            ap.error("--url is required without --start-server")
        args.url = args.url.rstrip("/")
        health = wait_healthy(args.url, server)
        if args.token:
            token = args.token
        else:
            token_file = args.token_file or (args.data_dir or Path("data")) / "admin-token"
            token = token_file.read_text().strip()
        if server is not None and not args.no_loops:
            health = wait_for_leadership(args.url, {"dispatch", "executor"})
        project = setup_tenant(args.url, token)

        host = machine()  # before the run, so its load figure is the machine's, not ours
        plan = Plan(args.warmup, args.jobs)
        run_id = uuid.uuid4().hex[:12]
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu0 = server.cpu_seconds() if server else 0.0
        t0 = time.perf_counter()
        tally = MODES[args.mode](args.url, token, project, args.clients, plan, run_id)
        t1 = time.perf_counter()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = (server.cpu_seconds() - server_cpu0) if server else None
        measured = t1 - (plan.started or t0)
        client_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        wall = t1 - t0
        lat = sorted(tally.latencies)
        ms = 1000.0
        report: dict[str, Any] = {
            "url": args.url,
            "clients": args.clients,
            "client_mode": args.mode,
            "jobs": args.jobs,
            "warmup": args.warmup,
            "accepted": tally.accepted,
            "accepted_per_s": round(tally.accepted / measured, 1) if measured > 0 else 0.0,
            "latency_ms": {
                "p50": round(percentile(lat, 50) * ms, 2),
                "p90": round(percentile(lat, 90) * ms, 2),
                "p99": round(percentile(lat, 99) * ms, 2),
                "max": round(lat[-1] * ms, 2),
            }
            if len(lat) >= 2
            else {},
            "errors": {s: n for s, n in sorted(tally.statuses.items()) if s != "201"},
            "first_error": tally.first or None,
            "total_time_s": round(wall, 3),
            "measured_time_s": round(measured, 3),
            "database": health.get("database"),
            "server_version": health.get("version"),
            "loops_running": sorted(health.get("leads", [])),
            "server_started_here": server is not None,
            "server_workers": args.workers if server else None,
            # CPU seconds per wall second: 1.0 is one core busy.
            "client_cpu_cores": round(client_cpu / wall, 2),
            "server_cpu_cores": round(server_cpu / wall, 2) if server_cpu is not None else None,
            "machine": host,
        }
        lat_ok = bool(report["latency_ms"]) and report["latency_ms"]["p99"] <= TARGET_P99_MS
        report["target"] = {
            "accepted_per_s": TARGET_PER_S,
            "p99_ms": TARGET_P99_MS,
            "met": report["accepted_per_s"] >= TARGET_PER_S and lat_ok,
        }
        if server is not None and not args.no_loops:
            report["job_states_after"] = job_states(args.url, token, project)
        if server is not None:
            server.stop()
            # Tracebacks in the server's log: a failing loop pass or an unexpected error.
            report["server_log_tracebacks"] = server.log.read_text().count("Traceback")
        print_report(report)
        if args.json_out:
            args.json_out.write_text(json.dumps(report, indent=2) + "\n")
        return 0 if tally.accepted == args.jobs else 1
    finally:
        if server is not None:
            server.stop()
        if tmp is not None:
            tmp.cleanup()


def print_report(r: dict[str, Any]) -> None:
    m, lat = r["machine"], r["latency_ms"]
    loops = ", ".join(r["loops_running"]) or "none"
    print(f"aifactory submit bench — {r['url']} ({r['database']}, loops: {loops})")
    print(f"  machine     {m['nproc']} CPUs, {m['cpu_model']}, Python {m['python']}")
    jobs = f"{r['jobs']} jobs + {r['warmup']} warm-up"
    print(f"  clients     {r['clients']} ({r['client_mode']}), {jobs}")
    print(f"  accepted    {r['accepted']} / {r['jobs']}  ->  {r['accepted_per_s']} submissions/s")
    if lat:
        print(
            f"  latency ms  p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}"
        )
    print(
        f"  errors      {r['errors'] or 'none'}"
        + (f"  first: {r['first_error']}" if r["errors"] else "")
    )
    cpu = f"client {r['client_cpu_cores']}"
    if r["server_cpu_cores"] is not None:
        cpu += f", server {r['server_cpu_cores']}"
    print(f"  CPU cores   {cpu}  (CPU seconds per wall second)")
    print(f"  time        {r['measured_time_s']} s measured, {r['total_time_s']} s in all")
    if "job_states_after" in r:
        print(f"  job states  {r['job_states_after']} right after the last submission")
    if r.get("server_log_tracebacks"):
        print(f"  server log  {r['server_log_tracebacks']} tracebacks")
    t = r["target"]
    verdict = "met" if t["met"] else "NOT met"
    print(
        f"  target      >= {t['accepted_per_s']:.0f}/s with p99 <= {t['p99_ms']:.0f} ms: {verdict}"
    )


if __name__ == "__main__":
    sys.exit(main())
