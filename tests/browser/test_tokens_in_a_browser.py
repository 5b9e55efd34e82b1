"""In Chromium: log in, create an API token, see it once (and copy it from its field), find it
gone from the list afterwards, revoke it; the API refuses it from then on."""

from __future__ import annotations

import httpx

from tests.browser.conftest import Live, Visit

PASSWORD = "a long enough passphrase"


def test_create_a_token_see_it_once_and_revoke_it(live: Live, tab: Visit) -> None:
    r = live.platform.admin.post(
        "/users", {"email": "grace@example.eu", "name": "Grace Hopper", "password": PASSWORD}
    )
    assert r.status_code == 201, r.text
    page = tab.page
    page.goto(live.url + "/tokens")
    assert "/login" in page.url
    page.get_by_label("E-mail").fill("grace@example.eu")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("heading", level=1).inner_text() == "API tokens"
    tab.shot("tokens-empty")

    page.get_by_label("Name (what it is for)").fill("laptop")
    page.get_by_label("Valid for (days, 1 to 3650)").fill("0")
    page.get_by_role("button", name="Create the token").click()
    assert "greater than or equal to 1" in page.inner_text("#ttl_days-error")
    tab.shot("tokens-error")
    page.get_by_label("Valid for (days, 1 to 3650)").fill("30")
    page.get_by_role("button", name="Create the token").click()
    value = page.get_by_label("Token (valid until", exact=False).input_value()
    assert value.startswith("aif_")
    assert "shown only this once" in page.inner_text("main")
    tab.shot("token-shown-once")
    api = {"Authorization": f"Bearer {value}"}
    assert httpx.get(live.url + "/api/v1/users/me", headers=api).status_code == 200

    page.get_by_role("link", name="API tokens").click()
    assert value not in page.content()
    tab.shot("tokens-list")
    page.get_by_role("button", name="Revoke laptop", exact=False).click()
    assert "revoked" in page.inner_text("table")
    tab.shot("token-revoked")
    assert httpx.get(live.url + "/api/v1/users/me", headers=api).status_code == 401
