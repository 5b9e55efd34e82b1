"""A real browser on the real portal: Debian's Chromium, headless, driven by Playwright (which
downloads no browser of its own), against the app served by uvicorn on a free loopback port,
with mail through the real SMTP server of the tests.

Without Chromium (or Playwright) the tests skip with the reason; ``AIF_REQUIRE_BROWSER=1``
(set in CI, which installs Debian's ``chromium``) turns that skip into a failure. Every page
a test visits is saved as a screenshot under ``test-artifacts/browser/`` (not committed), and
a console error fails the test. Every page is also checked with axe-core (from ``npm ci``'s
``node_modules``): a serious or critical violation fails the test; and a request to any host but
loopback is aborted and fails the test (the portal loads nothing from outside)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from tests.conftest import Databases, Platform, build_platform
from tests.mailbox import Mailbox

REQUIRE = os.environ.get("AIF_REQUIRE_BROWSER") == "1"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
# Where the README's screenshots go (``make screenshots``: docs/img); unset, nowhere.
SCREENSHOTS = os.environ.get("AIF_SCREENSHOTS", "")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# What fails a page: serious or critical (axe's "moderate" and "minor" are advice).
AXE_FAILS = {"serious", "critical"}


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
    if not AXE.is_file():
        why = why or f"axe-core is not installed ({AXE} is missing: npm ci)"
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

    def shot(
        self, label: str, axe_known: dict[str, str] | None = None, readme: str | None = None
    ) -> Path:
        """Screenshot the page and check it with axe-core. ``axe_known``: rules a third-party
        page (Swagger UI) is known to break, each with the reason (an upstream issue).
        ``readme``: with ``AIF_SCREENSHOTS`` set (``make screenshots``), the window as it is
        (1280x800, where it is scrolled to) is also saved as ``portal-<readme>.png`` there."""
        if readme and SCREENSHOTS:
            out = ROOT / SCREENSHOTS / f"portal-{readme}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(out), animations="disabled", caret="hide")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{len(self.shots) + 1:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        self.errors.extend(f"{label}: {v}" for v in axe_violations(self.page, axe_known or {}))
        return path


def axe_violations(page: Any, known: dict[str, str]) -> list[str]:
    """axe-core's serious and critical violations on the page as it is (but the ``known`` rules),
    one line each: the rule, its help text and the first elements (CSS selectors) breaking it."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    found = []
    for v in result["violations"]:
        if v.get("impact") in AXE_FAILS and v["id"] not in known:
            where = [" ".join(map(str, n["target"])) for n in v["nodes"]]
            more = f" and {len(where) - 5} more" if len(where) > 5 else ""
            at = ", ".join(where[:5]) + more
            found.append(f"axe {v['id']} ({v['impact']}): {v['help']} at {at}")
    return found


# Every tab has the same window, so screenshots (and the README's, below) are the same size.
VIEWPORT = {"width": 1280, "height": 800}


def _watched(context: Any, name: str) -> Visit:
    """A new page of ``context`` whose console errors, failed loads and requests off loopback
    are collected on the returned Visit."""
    page = context.new_page()
    visit = Visit(page, name)

    def console(m: Any) -> None:
        # A page answered 4xx on purpose (a form with its errors) also logs "Failed to load
        # resource"; loads are checked by status below instead, all but the page itself.
        if m.type == "error" and not m.text.startswith("Failed to load resource"):
            visit.errors.append(m.text)

    def response(r: Any) -> None:
        if r.status >= 400 and r.request.resource_type != "document":
            visit.errors.append(f"{r.status} for {r.request.resource_type} {r.url}")

    def outside(route: Any) -> None:
        # Only the portal itself may be asked for anything: a CDN reference fails here.
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            visit.errors.append(f"request left loopback: {route.request.url}")
            route.abort()

    context.route("**/*", outside)
    page.on("console", console)
    page.on("pageerror", lambda e: visit.errors.append(str(e)))
    page.on("response", response)
    return visit


@pytest.fixture
def tabs(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Visit]]:
    """Opens tabs, each in a browser context of its own (its own cookies: another person);
    ``tabs("bob")``. Any tab's console error fails the test."""
    base = request.node.name.replace("[", "-").replace("]", "")
    opened: list[tuple[Any, Visit]] = []

    def open_tab(who: str = "") -> Visit:
        context = chromium.new_context(viewport=VIEWPORT)
        visit = _watched(context, f"{base}-{who}" if who else base)
        opened.append((context, visit))
        return visit

    yield open_tab
    for context, _ in opened:
        context.close()
    errors = [e for _, visit in opened for e in visit.errors]
    assert not errors, f"console errors: {errors}"


@pytest.fixture
def tab(tabs: Callable[[str], Visit]) -> Visit:
    return tabs("")
