"""A real S3 server for the object-store tests: moto's standalone server (from the ``test``
extra) started as a subprocess on a free loopback port, once per session (per xdist worker).

Without moto the S3 tests skip with the reason; ``AIF_REQUIRE_S3=1`` (set in CI) turns that
skip into a failure. The server keeps S3's 5 MiB minimum for every part but the last.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import IO

import pytest

REQUIRE = os.environ.get("AIF_REQUIRE_S3") == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # an S3 error reply is still a reply
    except OSError:
        return False


def _start(port: int, log: IO[bytes]) -> subprocess.Popen[bytes] | str:
    if importlib.util.find_spec("moto") is None:
        return "moto's S3 server unavailable: moto is not installed (pip install -e '.[test]')"
    env = {**os.environ, "S3_UPLOAD_PART_MIN_SIZE": str(5 * 1024 * 1024)}  # S3's own rule
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,  # a file, not a pipe: the request log would fill a pipe
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            err = log.read().decode(errors="replace")
            return f"moto server exited ({proc.returncode}): {err[-2000:]}"
        if _answers(url):
            return proc
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    return f"moto server on {url} did not answer within 30 s"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        result = _start(port, log)
        if isinstance(result, str):
            if REQUIRE:
                pytest.fail(f"AIF_REQUIRE_S3=1 but {result}")
            pytest.skip(result)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            result.terminate()
            try:
                result.wait(timeout=10)
            except subprocess.TimeoutExpired:
                result.kill()
                result.wait()
