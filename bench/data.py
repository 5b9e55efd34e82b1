"""``make bench-data``: one large file up and down through the real API server over loopback.

A fresh ``aif serve`` (SQLite in a temporary data dir, loops on as in ``make run``) on a free
port; with the SDK an organisation, a project and a dataset (internal, CC0-1.0); then
``client.data.push`` (upload: the SDK hashes the file, then PUTs 8 MiB chunks, each with its
SHA-256, then completes) and ``client.data.pull`` (download: one streamed GET, then the SDK
checks the SHA-256) of a file of random bytes, 1 GiB by default. The pulled file's SHA-256 is
checked against the original's. Reported:

- MB/s each way, MB = 10^6 bytes (MiB/s too), for the whole SDK call (what a user waits for)
  and for its transfer alone (first to last byte moved, from the SDK's progress callback);
- the server's resident memory (its process tree, ``/proc/<pid>/status`` VmRSS, sampled every
  50 ms; and VmHWM, the kernel's exact peak, reset before each phase where the kernel lets
  us): before the transfer, and the peak of each phase;
- the server's and this client's CPU seconds per phase (both share the same cores);
- ``sha256sum`` of the same file: the local ceiling (one pass over the bytes, page cache warm).

Targets: >= 150 MB/s each way, peak server RSS <= 150 MiB. A missed target is reported, not an
error: the exit code is non-zero only when something fails (the server, a request, a checksum).

    python bench/data.py                        # what make bench-data runs (1 GiB)
    python bench/data.py --size-mib 256         # smaller
    python bench/data.py --file /path/to/file   # an existing file, not a temporary one
    python bench/data.py --py-spy /tmp/prof     # also py-spy record the server, per phase
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
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

from aifactory.sdk.client import Client

API = "/api/v1"
TARGET_MB_S = 150.0  # each way, MB = 10^6 bytes
TARGET_RSS_MIB = 150.0  # the server's peak during the transfer
REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
BLOCK = 8 * MIB

# `aif serve`, exactly as the console script runs it (its entry point), in this interpreter.
SERVE = "import sys; from aifactory.cli.main import main; sys.argv[0] = 'aif'; sys.exit(main())"


# -- the server's process tree ---------------------------------------------------------------
def process_tree(root: int) -> list[int]:
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


def _status_kib(pid: int, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pids: list[int]) -> float:
    return sum(_status_kib(p, "VmRSS") for p in pids) / 1024


def hwm_mib(pids: list[int]) -> float:
    return sum(_status_kib(p, "VmHWM") for p in pids) / 1024


def reset_hwm(pids: list[int]) -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of each process: ``5`` to clear_refs."""
    ok = True
    for p in pids:
        try:
            Path(f"/proc/{p}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime: fields 14 and 15 of stat(5), i.e. 11 and 12 after the command name.
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def own_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class RssSampler:
    """The server tree's RSS every ``interval`` seconds in a background thread."""

    def __init__(self, root: int, interval: float) -> None:
        self.root, self.interval = root, interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pids = process_tree(self.root)
        n = 0
        while not self._stop.is_set():
            if n % 20 == 0:  # the tree rarely changes: look again once a second
                pids = process_tree(self.root)
            self.samples.append(rss_mib(pids))
            n += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> float:
        return max(self.samples, default=0.0)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path
    url: str

    def pids(self) -> list[int]:
        return process_tree(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, loops: bool) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ)
    env.update(
        AIF_DATA_DIR=str(data_dir),
        AIF_HOST="127.0.0.1",
        AIF_PORT=str(port),
        AIF_RUN_LOOPS="true" if loops else "false",
        # Importable whether or not the package is installed into this interpreter.
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p),
    )
    log = data_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals stay ours
        )
    return Server(process, data_dir, log, f"http://127.0.0.1:{port}")


def wait_healthy(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: object = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"the server exited:\n{server.log.read_text()[-4000:]}")
        try:
            r = httpx.get(f"{server.url}{API}/health", timeout=2)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise SystemExit(f"{server.url} did not become healthy in {timeout:.0f} s: {last}")


# -- py-spy (optional) -------------------------------------------------------------------------
WAITS = frozenset({"Condition.wait", "Event.wait", "Queue.get", "Thread.join", "sleep"})


class PySpy:
    """``py-spy record`` on the server for one phase: a flame graph and the collapsed stacks."""

    def __init__(self, out_dir: Path | None, pid: int, phase: str) -> None:
        self.out_dir, self.pid, self.phase = out_dir, pid, phase
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpy:
        if self.out_dir is None:
            return self
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            raise SystemExit("--py-spy: py-spy is not installed (pip install py-spy)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        raw = self.out_dir / f"{self.phase}.txt"
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(self.pid), "--rate", "100", "--threads",
             "--format", "raw", "-o", str(raw)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1.0)  # attached before the phase starts
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def summary(self, top: int = 15) -> list[str]:
        """Where the server's busy samples were: own time per function (line numbers merged),
        and the time inside the platform's own functions (inclusive)."""
        if self.out_dir is None:
            return []
        raw = self.out_dir / f"{self.phase}.txt"
        if not raw.exists():
            return [f"{raw}: not written"]
        own: Counter[str] = Counter()
        inside: Counter[str] = Counter()
        total = 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = [f.rsplit(":", 1)[0] + ")" if ":" in f else f for f in stack.split(";")]
            if frames[-1].split(" (", 1)[0] in WAITS:
                continue  # a thread blocked on a lock or a queue: py-spy may still count it
            own[frames[-1]] += n
            for name in {f for f in frames if "aifactory/" in f or "requests.py" in f}:
                inside[name] += n  # the platform's own frames (and the request body)
            total += n
        lines = [f"py-spy {self.phase}: {total} busy samples at 100 Hz, all threads ({raw})"]
        for leaf, n in own.most_common(top):
            lines.append(f"  own {100 * n / max(total, 1):5.1f}%  {leaf}")
        for name, n in inside.most_common(top):
            lines.append(f"  in  {100 * n / max(total, 1):5.1f}%  {name}")
        return lines


# -- the file -----------------------------------------------------------------------------------
def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(BLOCK, left)
            f.write(os.urandom(n))
            left -= n


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def time_sha256sum(path: Path) -> tuple[float, str]:
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # page cache warm
    t0 = time.perf_counter()
    out = subprocess.run(["sha256sum", str(path)], check=True, capture_output=True, text=True)
    return time.perf_counter() - t0, out.stdout.split()[0]


def time_hashlib(path: Path) -> float:
    """The same pass in this Python (OpenSSL's SHA-256, which the server and SDK use)."""
    t0 = time.perf_counter()
    sha256_file(path)
    return time.perf_counter() - t0


@dataclass
class Phase:
    name: str
    bytes: int
    seconds: float = 0.0  # the whole SDK call
    wire_seconds: float = 0.0  # between the first and the last progress call
    wire_bytes: int = 0  # the bytes moved meanwhile (a pull's first block came before)
    rss_peak: float = 0.0  # sampled, MiB
    hwm_peak: float | None = None  # VmHWM after a reset, MiB
    samples: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)

    def mb_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def mib_s(self) -> float:
        return self.bytes / self.seconds / MIB if self.seconds > 0 else 0.0

    def wire_mb_s(self) -> float:
        return self.wire_bytes / self.wire_seconds / 1e6 if self.wire_seconds > 0 else 0.0


class Progress:
    """Times of the SDK's progress calls: the first (before any chunk moves) and the last."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.first_done = self.last_done = 0
        self.calls = 0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first, self.first_done = now, done
        self.last, self.last_done = now, done
        self.calls += 1


def run_phase(name: str, size: int, server: Server, interval: float, spy_dir: Path | None,
              work: Any) -> tuple[Phase, Any, PySpy]:  # fmt: skip
    """Run ``work(progress)`` with the server's RSS sampled and its CPU measured."""
    phase = Phase(name, size)
    pids = server.pids()
    hwm_ok = reset_hwm(pids)
    progress = Progress()
    spy = PySpy(spy_dir, server.process.pid, name)
    with spy:
        cpu0, own0 = cpu_seconds(pids), own_cpu_seconds()
        with RssSampler(server.process.pid, interval) as sampler:
            t0 = time.perf_counter()
            result = work(progress)
            t1 = time.perf_counter()
        pids = server.pids()
        phase.server_cpu = cpu_seconds(pids) - cpu0
        phase.client_cpu = own_cpu_seconds() - own0
    phase.seconds = t1 - t0
    phase.rss_peak, phase.samples = sampler.peak, len(sampler.samples)
    if hwm_ok:
        phase.hwm_peak = hwm_mib(pids)
    first = progress.first if progress.first is not None else t0
    last = progress.last if progress.last is not None else t1
    phase.wire_seconds = last - first
    phase.wire_bytes = progress.last_done - progress.first_done
    phase.parts = {"before": first - t0, "wire": last - first, "after": t1 - last}
    return phase, result, spy


def verdict_rate(label: str, value: float) -> str:
    if value >= TARGET_MB_S:
        return f"{label}: {value:.1f} MB/s >= {TARGET_MB_S:.0f} MB/s: target met"
    short = TARGET_MB_S - value
    return (
        f"{label}: {value:.1f} MB/s < {TARGET_MB_S:.0f} MB/s: "
        f"target MISSED by {short:.1f} MB/s ({100 * short / TARGET_MB_S:.0f}%)"
    )


def verdict_rss(value: float) -> str:
    if value <= TARGET_RSS_MIB:
        return f"peak server RSS: {value:.1f} MiB <= {TARGET_RSS_MIB:.0f} MiB: target met"
    over = value - TARGET_RSS_MIB
    return (
        f"peak server RSS: {value:.1f} MiB > {TARGET_RSS_MIB:.0f} MiB: "
        f"target MISSED by {over:.1f} MiB ({100 * over / TARGET_RSS_MIB:.0f}%)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024, help="the file's size (default 1024)")
    ap.add_argument("--file", type=Path, help="an existing file instead of a random one")
    ap.add_argument("--interval", type=float, default=0.05, help="RSS sampling, s (0.05)")
    ap.add_argument("--no-loops", action="store_true", help="AIF_RUN_LOOPS=false (API alone)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--py-spy", type=Path, metavar="DIR", help="py-spy record the server")
    ap.add_argument("--json-out", type=Path, help="also write the figures as JSON")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="aif-bench-data-"))
    server: Server | None = None
    try:
        if args.file is not None:
            source = args.file.resolve()
            if not source.is_file():
                raise SystemExit(f"--file {source}: not a file")
        else:
            source = tmp / "source.bin"
            t0 = time.perf_counter()
            write_random(source, args.size_mib * MIB)
            took = time.perf_counter() - t0
            print(f"wrote {source} ({args.size_mib} MiB random) in {took:.1f} s")
        size = source.stat().st_size

        ceiling_s, original = time_sha256sum(source)
        print(f"sha256sum: {ceiling_s:.2f} s, {size / ceiling_s / 1e6:.0f} MB/s (local ceiling)")
        hashlib_s = time_hashlib(source)
        print(f"hashlib.sha256: {hashlib_s:.2f} s, {size / hashlib_s / 1e6:.0f} MB/s")

        server = start_server(tmp / "data", loops=not args.no_loops)
        wait_healthy(server)
        token = (server.data_dir / "admin-token").read_text().strip()
        tag = uuid.uuid4().hex[:8]
        with Client(server.url, token, timeout=600.0) as client:
            org = client.create_org(f"Bench data {tag}", "research", "FI", f"BENCH-{tag}")
            project = client.create_project(org["id"], "bench-data")
            ds = client.data.create(
                {
                    "project_id": project["id"],
                    "name": f"bench-{args.size_mib}mib",
                    "classification": "internal",
                    "licence": "CC0-1.0",
                }
            )
            time.sleep(1.0)  # let the server settle after setup
            pids = server.pids()
            with RssSampler(server.process.pid, args.interval) as idle:
                time.sleep(1.0)
            baseline = statistics.median(idle.samples)
            print(
                f"server: pid {server.process.pid} ({len(pids)} process(es)), "
                f"RSS before the transfer {baseline:.1f} MiB (VmHWM since start "
                f"{hwm_mib(pids):.1f} MiB); dataset {ds['id']} at {ds['home_site']}"
            )

            up, version, up_spy = run_phase(
                "upload", size, server, args.interval, args.py_spy,
                lambda p: client.data.push(ds["id"], source, progress=p),
            )  # fmt: skip
            if version["sha256"] != original:
                raise SystemExit(f"the version's SHA-256 {version['sha256']} is not {original}")
            dest = tmp / "pulled.bin"
            down, _, down_spy = run_phase(
                "download", size, server, args.interval, args.py_spy,
                lambda p: client.data.pull(ds["id"], version["number"], dest, progress=p),
            )  # fmt: skip
        pulled = sha256_file(dest)
        if pulled != original:
            raise SystemExit(f"the pulled file's SHA-256 {pulled} is not the original {original}")
        after_rss = rss_mib(server.pids())
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif server is not None:
            print(f"kept {tmp} (server log {server.log})")

    peak = max(up.rss_peak, down.rss_peak, up.hwm_peak or 0.0, down.hwm_peak or 0.0)
    mb = f"{size / 1e6:,.0f} MB ({size / MIB:,.0f} MiB)"
    load = os.getloadavg()
    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python "
        f"{platform.python_version()}, load {load[0]:.2f} {load[1]:.2f}; file {mb}, "
        f"SHA-256 {original[:16]}... verified after the pull; MB = 10^6 bytes"
    )
    print(
        "| phase | seconds | MB/s | MiB/s | transfer alone: s, MB/s | before / after it, s | "
        "server RSS peak (sampled / VmHWM), MiB | server CPU s | client CPU s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| sha256sum (ceiling) | {ceiling_s:.2f} | {size / ceiling_s / 1e6:.0f} | "
          f"{size / ceiling_s / MIB:.0f} | | | | | |")  # fmt: skip
    print(f"| hashlib.sha256 (this Python) | {hashlib_s:.2f} | {size / hashlib_s / 1e6:.0f} | "
          f"{size / hashlib_s / MIB:.0f} | | | | | |")  # fmt: skip
    for ph in (up, down):
        hwm = f"{ph.hwm_peak:.1f}" if ph.hwm_peak is not None else "n/a"
        print(
            f"| {ph.name} (SDK {'push' if ph.name == 'upload' else 'pull'}) | {ph.seconds:.2f} | "
            f"{ph.mb_s():.1f} | {ph.mib_s():.1f} | {ph.wire_seconds:.2f}, "
            f"{ph.wire_mb_s():.1f} | {ph.parts['before']:.2f} / {ph.parts['after']:.2f} "
            f"| {ph.rss_peak:.1f} / {hwm} ({ph.samples} samples) | {ph.server_cpu:.1f} | "
            f"{ph.client_cpu:.1f} |"
        )
    print(f"server RSS: {baseline:.1f} MiB before, {after_rss:.1f} MiB after the transfer")
    print()
    print("| date | file | sha256sum MB/s | upload MB/s (transfer alone) | download MB/s "
          "(transfer alone) | server RSS before / peak up / peak down, MiB |")  # fmt: skip
    print("|---|---|---:|---:|---:|---|")
    print(
        f"| {time.strftime('%Y-%m-%d %H:%M')} | {size / MIB:,.0f} MiB | "
        f"{size / ceiling_s / 1e6:.0f} | {up.mb_s():.1f} ({up.wire_mb_s():.1f}) | "
        f"{down.mb_s():.1f} ({down.wire_mb_s():.1f}) | {baseline:.0f} / "
        f"{max(up.rss_peak, up.hwm_peak or 0):.0f} / {max(down.rss_peak, down.hwm_peak or 0):.0f} |"
    )
    print()
    print(verdict_rate("upload (SDK push, end to end)", up.mb_s()))
    print(verdict_rate("download (SDK pull, end to end)", down.mb_s()))
    print(verdict_rss(peak))
    for spy in (up_spy, down_spy):
        for line in spy.summary():
            print(line)
    if args.json_out is not None:
        figures = {
            "size": size,
            "sha256sum_s": ceiling_s,
            "hashlib_s": hashlib_s,
            "baseline_rss_mib": baseline,
            "after_rss_mib": after_rss,
            "phases": [ph.__dict__ | {"mb_s": ph.mb_s()} for ph in (up, down)],
            "load_avg": load,
        }
        args.json_out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
