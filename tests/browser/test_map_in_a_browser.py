"""The federation map in Chromium: the outline and a marker per site, the table beside it, and
a marker's link to the site's page with its partitions and charts' tables."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from aifactory.db.tables import User
from aifactory.services import sessions
from aifactory.web.session import COOKIE
from tests.browser.conftest import Live, Visit
from tests.conftest import quick_user


def test_the_map_and_a_site_page(live: Live, tab: Visit) -> None:
    ada = quick_user(live.platform, "ada")
    with live.platform.runtime.db.write() as session:  # logged in without typing (see portal.py)
        user = session.get(User, ada.user_id)
        assert user is not None
        opened = sessions.open_session(session, user, timedelta(hours=1))
    page = tab.page
    page.context.add_cookies([{"name": COOKIE, "value": opened.cookie, "url": live.url}])
    page.goto(live.url + "/map")
    assert page.get_by_role("heading", level=1).inner_text() == "Federation map"
    table = page.get_by_role("table", name="Sites of the federation")
    assert table.get_by_role("row").count() == 1 + len(live.platform.runtime.catalog.sites)
    box = page.locator("figure.map > svg").bounding_box()
    assert box is not None and box["width"] > 300  # drawn, not collapsed
    tab.shot("map")
    page.get_by_role("link", name="LUMI AI Factory, Kajaani: 0 % busy").click()
    assert page.get_by_role("heading", level=1).inner_text() == "LUMI AI Factory"
    partitions = page.get_by_role("table", name="Partitions")
    assert "standard-g" in partitions.inner_text()
    # Drawn as a chart; its table, the accessible version, folded under the chart.
    expect(page.locator(".chart-plot canvas").first).to_be_visible()
    page.get_by_text("Table of the data: Utilisation, last 24 hours").click()
    expect(page.get_by_role("table", name="Utilisation, last 24 hours")).to_be_visible()
    tab.shot("site")
