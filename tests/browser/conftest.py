"""A real browser on the real portal: Debian's Chromium, headless, driven by Playwright (which
downloads no browser of its own), against the app served by uvicorn on a free loopback port,
with mail through the real SMTP server of the tests.

Without Chromium (or Playwright) the tests skip with the reason; ``AIF_REQUIRE_BROWSER=1``
(set in CI, which installs Debian's ``chromium``) turns that skip into a failure. Every page
a test visits is saved as a screenshot under ``test-artifacts/browser/`` (not committed), and
a console error fails the test."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.conftest import Databases, Platform, build_platform
from tests.mailbox import Mailbox

REQUIRE = os.environ.get("AIF_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    why = None
    path = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        why = "Playwright is not installed (pip install -e '.[test]')"
    if path is None:
        why = why or "Chromium is not installed (apt-get install chromium)"
    if why:
        if REQUIRE:
            pytest.fail(f"AIF_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    platform: Platform
    url: str
    mailbox: Mailbox


@pytest.fixture
def live_settings() -> dict[str, Any]:
    """More settings of the live platform: a test module overrides this fixture."""
    return {}


@pytest.fixture
def live(
    tmp_path: Path, databases: Databases, smtp_server: Mailbox, live_settings: dict[str, Any]
) -> Iterator[Live]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    p = build_platform(
        tmp_path,
        databases.sqlite(tmp_path / "data" / "aifactory.db"),
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        public_url=url,
        **live_settings,
    )
    server = uvicorn.Server(
        uvicorn.Config(p.client.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the portal did not start"
    yield Live(p, url, smtp_server)
    server.should_exit = True
    thread.join(timeout=10)
    p.runtime.close()


@dataclass
class Visit:
    """A browser tab that screenshots every page it lands on and collects console errors."""

    page: Any
    name: str
    shots: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{len(self.shots) + 1:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path


@pytest.fixture
def tab(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Visit]:
    context = chromium.new_context()
    page = context.new_page()
    visit = Visit(page, request.node.name.replace("[", "-").replace("]", ""))

    def console(m: Any) -> None:
        # A page answered 4xx on purpose (a form with its errors) also logs "Failed to load
        # resource"; loads are checked by status below instead, all but the page itself.
        if m.type == "error" and not m.text.startswith("Failed to load resource"):
            visit.errors.append(m.text)

    def response(r: Any) -> None:
        if r.status >= 400 and r.request.resource_type != "document":
            visit.errors.append(f"{r.status} for {r.request.resource_type} {r.url}")

    page.on("console", console)
    page.on("pageerror", lambda e: visit.errors.append(str(e)))
    page.on("response", response)
    yield visit
    context.close()
    assert not visit.errors, f"console errors: {visit.errors}"
