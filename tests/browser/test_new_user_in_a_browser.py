"""As a new user would, in Chromium, only by clicking and typing: sign up, follow the
verification mail, log in; register an organisation (an SME) and a project; apply to the
Playground call from its form and get the allocation; look at the federation map; compose a job
from a pasted batch script, look where it would run, submit it and watch the page follow it to
``completed`` with its output; then someone of another organisation opening the job's address
gets the "Page not found" page.

With ``AIF_SCREENSHOTS=docs/img`` (``make screenshots``) two of its pages are also saved at
1280x800 for the README: the dashboard and the composer's preview."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from playwright.sync_api import expect

from aifactory.db.tables import User
from aifactory.services import notifications, sessions
from aifactory.web.session import COOKIE
from tests.browser.conftest import Live, Visit
from tests.conftest import quick_user

PASSWORD = "a long enough passphrase"
# Shaped like the batch scripts of LUMI's and Leonardo's user guides: a name, a time, resources.
SCRIPT = """#!/bin/bash
#SBATCH --job-name=tokenise
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=00:10:00

echo "tokenising shard 1 of 1"
echo "done: 1204 documents"
"""


def test_a_new_user_from_sign_up_to_a_completed_job(
    live: Live, tabs: Callable[[str], Visit]
) -> None:
    tab = tabs("grace")
    page = tab.page
    page.set_default_timeout(10_000)  # a missing element fails in 10 s, not Playwright's 30
    nav = page.get_by_role("navigation", name="Main")

    # 1. Sign up, follow the mail's link, log in.
    page.goto(live.url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    tab.shot("login")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("E-mail").fill("grace@example.eu")
    page.get_by_label("Password").fill(PASSWORD)
    tab.shot("signup")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your mail")
    tab.shot("check-mail")
    mailer = live.platform.runtime.mailer
    assert mailer is not None
    notifications.deliver_once(live.platform.runtime.db, mailer)  # the mail loop's one pass
    (mail,) = live.mailbox.wait_for(1)
    found = re.search(r"(http://127\.0\.0\.1:\d+/verify-email\?token=[\w-]+)", mail.get_content())
    assert found, mail.get_content()
    page.goto(found.group(1))  # the link clicked in the mail
    expect(page.get_by_role("main")).to_contain_text("grace@example.eu is verified")
    tab.shot("verified")
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("E-mail").fill("grace@example.eu")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_role("main")).to_contain_text("You belong to no organisation yet.")
    tab.shot("dashboard-empty")

    # 2. An organisation (an SME: Playground is open to it) and a project in it.
    nav.get_by_role("link", name="Organisations").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisations")
    tab.shot("orgs-empty")
    page.get_by_label("Name", exact=True).fill("Hopper Analytics")
    page.get_by_label("Kind").select_option("sme")
    page.get_by_label("Country (EuroHPC participating state)").select_option("FI")
    page.get_by_label("Registration number", exact=False).fill("FI-3141592-6")
    page.get_by_role("button", name="Register the organisation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hopper Analytics")
    members = page.get_by_role("table", name="Members of Hopper Analytics")
    expect(members).to_contain_text("grace@example.eu")
    expect(members).to_contain_text("owner")
    tab.shot("org")
    page.get_by_label("Project name").fill("triage-notes")
    page.get_by_label("Description (optional)").fill("Fine-tuning on clinical triage notes")
    page.get_by_role("button", name="Create the project").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("triage-notes")
    tab.shot("project")

    # 3. Apply to Playground from its form; its automatic check accepts at once (the call's
    #    rule: "accepted once the checks pass"), so the proposal page shows the allocation.
    nav.get_by_role("link", name="Calls").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Access calls")
    tab.shot("calls")
    playground = page.get_by_role("row", name=re.compile("AI Factory Playground"))
    expect(playground).to_contain_text("startup, sme, industry")
    playground.get_by_role("link", name="Playground on this machine", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Playground on this machine")
    expect(page.get_by_role("main")).to_contain_text("accepted once the checks pass")
    tab.shot("call")
    page.get_by_role("link", name="Apply to this call").click()
    page.get_by_label("Organisation").select_option(label="Hopper Analytics (sme, FI)")
    page.get_by_label("Project (the allocation will be its)").select_option(
        label="triage-notes (Hopper Analytics)"
    )
    page.get_by_label("Title").fill("Triage notes pilot")
    page.get_by_label("Abstract").fill("Fine-tune an open model for clinical triage notes.")
    page.get_by_label("Sector").select_option("health")
    page.get_by_label("fine tuning").check()
    page.get_by_label("Why a smaller system will not do").fill("A workstation takes weeks.")
    expect(page.get_by_label("Principal investigator's e-mail")).to_have_value("grace@example.eu")
    page.get_by_label("GPU-hours on local/local").fill("100")
    page.get_by_label("Largest job on local/local, in GPUs").fill("1")
    page.get_by_label("Frameworks").fill("pytorch")
    page.get_by_label("The largest run so far and how it scaled").fill("1 GPU, 12 h")
    page.get_by_label("The data", exact=True).fill("anonymised notes")
    page.get_by_label("Where the data comes from").fill("a partner hospital in FI")
    page.get_by_label("Milestone 1: month").fill("1")
    page.get_by_label("Milestone 1: what").fill("baseline and evaluation")
    page.get_by_label("Intended purpose").fill("triage support")
    page.get_by_label("No", exact=True).check()
    tab.shot("apply")
    page.get_by_role("button", name="Send the proposal").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Proposal EHPC-AIF-"))
    main = page.get_by_role("main")
    expect(main).to_contain_text("Triage notes pilot")
    expect(main).to_contain_text("accepted")
    expect(main).to_contain_text("automatic check passed")
    granted = main.get_by_role("table", name="Allocations granted by this proposal")
    expect(granted.locator("tbody tr")).to_have_count(1)
    expect(granted).to_contain_text("local/local")
    expect(granted).to_contain_text("100")
    expect(main).to_contain_text("Jobs of the project triage-notes now draw on these hours.")
    tab.shot("proposal")

    # 4. The federation map: a row per site.
    nav.get_by_role("link", name="Federation map").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Federation map")
    sites = page.get_by_role("table", name="Sites of the federation")
    expect(sites.get_by_role("row")).to_have_count(1 + len(live.platform.runtime.catalog.sites))
    expect(sites).to_contain_text("LUMI AI Factory")
    tab.shot("map")

    # 5. Compose from a pasted batch script, look where it would run, submit.
    nav.get_by_role("link", name="New job").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New job")
    project = page.get_by_label("Project")
    project.select_option(project.locator("option", has_text="triage-notes").get_attribute("value"))
    page.get_by_role("radio", name="A batch script", exact=False).check()
    page.get_by_role("textbox", name="Batch script").fill(SCRIPT)
    page.get_by_role("button", name="Where would it run?").click()
    preview = page.get_by_role("region", name="Where it would run")
    expect(preview.get_by_role("status")).to_contain_text("It would start now at local/local")
    candidates = preview.get_by_role("table", name="Every partition considered", exact=False)
    expect(candidates.locator("tbody tr")).to_have_count(
        len(list(live.platform.runtime.catalog.partitions()))
    )
    best = candidates.locator("tbody tr").first  # feasible ones first, best first
    expect(best).to_contain_text("local")
    expect(best.locator("td").nth(2)).to_have_text("yes")
    expect(candidates.locator("tbody tr", has_text="simulated partition").first).to_contain_text(
        "no"
    )
    script = page.get_by_role("textbox", name="Batch script")
    expect(script).to_have_value(SCRIPT)  # kept for the submit
    # For the README: the window from the form's buttons down into the preview (no focus ring).
    page.evaluate("document.activeElement.blur()")
    page.get_by_role("button", name="Where would it run?").evaluate(
        "b => window.scrollTo(0, b.getBoundingClientRect().top + window.scrollY - 24)"
    )
    tab.shot("composer-preview", readme="composer")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("tokenise")
    job_url = page.url
    live_part = page.locator("#live")
    expect(live_part.locator(".state")).to_have_text("pending")
    tab.shot("job-pending")

    # 6. The platform's loops (dispatch, executor, mail, deadlines: what `aif serve` runs, off
    #    in tests) start now, so this page is seen following the job by htmx, not reloaded.
    page.evaluate("window.stillThisPage = true")
    live.platform.runtime.start_loops()
    expect(live_part.locator(".state")).to_have_text("completed", timeout=20_000)
    log = live_part.get_by_label("Last lines of the job's output")
    expect(log).to_contain_text("tokenising shard 1 of 1")
    expect(log).to_contain_text("done: 1204 documents")
    assert page.evaluate("window.stillThisPage === true")  # no reload: htmx swapped the part
    expect(live_part).not_to_contain_text("this part follows the job")
    # The rest of the page followed too: state, where, the timeline, the placement, no cancel.
    facts = page.locator("dl.facts")
    expect(facts.locator("dd.state")).to_have_text("completed: exited with code 0")
    expect(facts).to_contain_text("local/local")
    expect(page.locator(".timeline li").last).to_contain_text("completed")
    expect(page.get_by_role("main")).to_contain_text("Chosen: local/local")
    expect(page.get_by_role("button", name="Cancel this job")).to_have_count(0)
    assert page.evaluate("window.stillThisPage === true")
    tab.shot("job-completed")

    nav.get_by_role("link", name="Dashboard").click()
    main = page.get_by_role("main")
    allocations = main.get_by_role("table", name="GPU-hours of your projects' allocations")
    expect(allocations).to_contain_text("triage-notes")
    expect(allocations).to_contain_text("100.0")
    expect(main.locator(".chart-plot canvas").first).to_be_visible()  # the burn-down, drawn
    expect(
        main.get_by_text("Table of the data: Burn-down of triage-notes", exact=False)
    ).to_be_visible()
    expect(main.get_by_role("row", name=re.compile("tokenise"))).to_contain_text("completed")
    page.evaluate("window.scrollTo(0, 0)")
    tab.shot("dashboard", readme="dashboard")

    # 7. Someone of another organisation, in a browser of their own, opens the job's address.
    bob = quick_user(live.platform, "bob")
    live.platform.org(bob, "Bob Robotics")
    # His own sign-up is not what this tests: a session opened by the service, as a log-in would.
    with live.platform.runtime.db.write() as session:
        user = session.get(User, bob.user_id)
        assert user is not None
        opened = sessions.open_session(session, user, timedelta(hours=1))
    other = tabs("bob")
    other.page.context.add_cookies([{"name": COOKIE, "value": opened.cookie, "url": live.url}])
    answer = other.page.goto(job_url)
    assert answer is not None and answer.status == 404
    expect(other.page.get_by_role("heading", level=1)).to_have_text("Page not found")
    text = other.page.get_by_role("main").inner_text()
    assert "There is no such page, or it belongs to someone else." in text
    assert "tokenise" not in text and "Traceback" not in text
    other.shot("job-of-another-organisation")
