"""The compliance tab in Chromium, by keyboard-reachable labels: a start-up registers its
chatbot (tick the Art. 50(1) box by its label) and reads its class; the compliance officers'
dashboard. Each page is screenshotted and checked with axe-core by the ``tab`` fixture."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from aifactory.db.tables import User
from aifactory.services import sessions
from aifactory.web.session import COOKIE
from tests.browser.conftest import Live, Visit
from tests.conftest import Actor, quick_user


def _login(live: Live, tab: Visit, actor: Actor) -> None:
    with live.platform.runtime.db.write() as session:  # logged in without typing (see portal.py)
        user = session.get(User, actor.user_id)
        assert user is not None
        opened = sessions.open_session(session, user, timedelta(hours=1))
    tab.page.context.add_cookies([{"name": COOKIE, "value": opened.cookie, "url": live.url}])


def test_register_a_chatbot_and_the_officers_dashboard(live: Live, tab: Visit) -> None:
    ada = quick_user(live.platform, "ada")
    org = live.platform.org(ada, "Ada Bots", kind="startup")
    project = live.platform.project(ada, org["id"], "helpdesk", gpu_hours=None)
    _login(live, tab, ada)
    page = tab.page
    page.goto(f"{live.url}/projects/{project['id']}")
    page.get_by_role("link", name="Compliance: the use case and the models' compute").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compliance of helpdesk")
    tab.shot("compliance-empty")
    page.get_by_label("Intended purpose: what the AI system is for").fill(
        "A support chatbot answering invoice questions"
    )
    page.get_by_label("Sector it is used in").fill("customer service")
    page.get_by_label("Art. 50(1): Does it interact directly with people", exact=False).check()
    page.get_by_role("button", name="Save and show the class").click()
    expect(page.get_by_role("status")).to_contain_text("Class: transparency")
    tab.shot("compliance-transparency")

    clara = quick_user(live.platform, "clara", roles=("compliance",))
    page.context.clear_cookies()
    _login(live, tab, clara)
    page.goto(live.url + "/")
    page.get_by_role("link", name="Compliance").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compliance")
    expect(page.get_by_text("No open case.")).to_be_visible()
    tab.shot("compliance-dashboard")
