"""As a EuroHPC user would, in Chromium: "Log in with MockID" on the log-in page, say who one
is at the provider (a real OIDC provider on loopback), and land on the dashboard with a new,
verified account; log out, and the next log-in through the provider finds the same account."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Live, Visit
from tests.oidc_provider import Provider


@pytest.fixture
def live_settings(oidc_provider: Provider) -> dict[str, Any]:
    return oidc_provider.settings()


def _loopback_only(route: Any) -> None:
    # The mock's page asks a CDN for its style sheet: nothing leaves this machine.
    if route.request.url.startswith("http://127.0.0.1:"):
        route.continue_()
    else:
        route.abort()


def test_log_in_through_the_identity_provider(
    live: Live, tab: Visit, oidc_provider: Provider
) -> None:
    oidc_provider.set_user(
        "lumi-user-7", {"email": "iris@example.eu", "email_verified": True, "name": "Iris Ito"}
    )
    page = tab.page
    page.route("**/*", _loopback_only)
    page.goto(live.url + "/login")
    tab.shot("login")
    page.get_by_role("button", name="Log in with MockID").click()
    assert page.url.startswith(oidc_provider.issuer + "/oauth2/authorize")
    # The test provider's own page (oidc-provider-mock), not the portal: it has no <title>.
    tab.shot("provider", axe_known={"document-title": "oidc-provider-mock's page, not ours"})
    page.locator("input[name=sub]").fill("lumi-user-7")
    page.get_by_role("button", name="Authorize").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"
    assert page.url == live.url + "/"
    tab.shot("dashboard")
    page.get_by_role("button", name="Log out (Iris Ito)").click()
    assert page.url.endswith("/login")

    page.get_by_role("button", name="Log in with MockID").click()
    page.get_by_role("button", name="lumi-user-7").click()  # the provider remembers the subject
    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"
    tab.shot("dashboard-again")
    events = live.platform.admin.get("/audit/events", params={"limit": 100}).json()["items"]
    actions = [e["action"] for e in events]
    assert actions.count("oidc.link") == 1 and actions.count("login.oidc") == 2
