"""Putting a job's input files at a Slurm site, and taking them away after it: here when the
site shares the platform's file system, or on the login node over SSH (streamed through
``ssh``'s stdin, never a temporary copy on the login node's disk)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable

from aifactory.executors.slurm.client import SiteUnavailable
from aifactory.executors.slurm.connection import SiteConnection

_BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
_TIMEOUT_PER_GB_S = 120.0  # a generous floor for a slow link; the copy is never cut short early


class _Chunks:
    """A file-like reader over byte chunks, for tarfile's stream mode."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


def write_local(folder: str, filename: str | None, chunks: Iterable[bytes]) -> None:
    """``filename`` None: the chunks are a tar, unpacked into ``folder``."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if filename is None:
        with tarfile.open(fileobj=_Chunks(chunks), mode="r|") as tar:  # type: ignore[call-overload]
            tar.extractall(folder, filter="data")
        return
    with open(os.path.join(folder, filename), "wb") as f:
        for block in chunks:
            f.write(block)


def write_over_ssh(
    conn: SiteConnection,
    ssh: Callable[[str], list[str]],
    folder: str,
    filename: str | None,
    chunks: Iterable[bytes],
    size: int,
) -> None:
    mkdir = f"umask 077 && mkdir -p -- {shlex.quote(folder)} && "
    if filename is None:
        remote = mkdir + f"tar -x --no-same-owner -f - -C {shlex.quote(folder)}"
    else:
        remote = mkdir + f"cat > {shlex.quote(os.path.join(folder, filename))}"
    argv = ssh(remote)
    timeout = conn.timeout_s + _TIMEOUT_PER_GB_S * (size / 1e9)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(_BASE_ENV, HOME=os.environ.get("HOME", "/")),
        )
    except OSError as exc:
        raise SiteUnavailable(f"ssh: {exc}") from None
    assert proc.stdin is not None
    try:
        for block in chunks:
            proc.stdin.write(block)
        _, err = proc.communicate(timeout=timeout)  # closes stdin: the end of the data
    except BrokenPipeError:
        _, err = proc.communicate(timeout=conn.timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise SiteUnavailable(f"copying to {folder} over ssh took over {timeout:.0f} s") from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise SiteUnavailable(
            f"copying to {folder} over ssh failed: "
            + (err.decode(errors="replace").strip()[:300] or f"exit {proc.returncode}")
        )


def remove_local(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def remove_over_ssh(conn: SiteConnection, ssh: Callable[[str], list[str]], folder: str) -> None:
    argv = ssh(f"rm -rf -- {shlex.quote(folder)}")
    try:
        subprocess.run(
            argv,
            capture_output=True,
            timeout=conn.timeout_s,
            check=False,
            env=dict(_BASE_ENV, HOME=os.environ.get("HOME", "/")),
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        raise SiteUnavailable(f"removing {folder} over ssh: {exc}") from None
