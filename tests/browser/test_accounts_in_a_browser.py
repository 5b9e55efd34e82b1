"""As a new user would, in Chromium: sign up, follow the verification mail, log in, reach the
dashboard, log out; a wrong password is said beside the form."""

from __future__ import annotations

import re

from aifactory.services import notifications
from tests.browser.conftest import Live, Visit

PASSWORD = "a long enough passphrase"


def test_sign_up_verify_the_mail_log_in_and_out(live: Live, tab: Visit) -> None:
    page = tab.page
    page.goto(live.url + "/")
    assert page.url.endswith("/login")
    tab.shot("login")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("E-mail").fill("grace@example.eu")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    assert "at least 12 characters" in page.inner_text("main")
    assert page.get_by_label("E-mail").input_value() == "grace@example.eu"  # kept
    tab.shot("signup-error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    assert page.get_by_role("heading").inner_text() == "Check your mail"
    tab.shot("check-mail")

    mailer = live.platform.runtime.mailer
    assert mailer is not None
    notifications.deliver_once(live.platform.runtime.db, mailer)
    (mail,) = live.mailbox.wait_for(1)
    found = re.search(r"(http://127\.0\.0\.1:\d+/verify-email\?token=[\w-]+)", mail.get_content())
    assert found, mail.get_content()
    page.goto(found.group(1))
    assert "grace@example.eu is verified" in page.inner_text("main")
    tab.shot("verified")

    page.goto(live.url + "/login")
    page.get_by_label("E-mail").fill("grace@example.eu")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "e-mail or password is wrong"
    tab.shot("login-error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"
    assert "You belong to no organisation yet." in page.inner_text("main")
    tab.shot("dashboard")
    page.get_by_role("button", name="Log out (Grace Hopper)").click()
    assert page.url.endswith("/login")
    page.goto(live.url + "/")
    assert page.url.endswith("/login")  # the session is over
