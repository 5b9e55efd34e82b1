"""The job pages as a user meets them: compose a job (fields or a pasted #SBATCH script),
look where it would run before submitting, submit, follow it to its end with its log, find it
in the list, cancel one; refusals name the field and write nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Platform, quick_user, run_until
from tests.web.portal import Browser, browser_of, field_error

FINAL = ("completed", "failed", "cancelled", "timeout")

# As in LUMI's and Leonardo's user guides: a one-GPU job with a name, time and output.
SCRIPT = """#!/bin/bash
#SBATCH --job-name=tokenise
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=00:10:00
#SBATCH --output=%x-%j.out

echo "tokenising shard $SLURM_JOB_ID"
"""


def _world(platform: Platform) -> tuple[Browser, dict[str, Any], Any]:
    ada = quick_user(platform, "ada")
    org = platform.org(ada, "Ada Labs")
    project = platform.project(ada, org["id"], "triage")
    return browser_of(platform, ada), project, ada


def _form(project_id: str, **kw: str) -> dict[str, str]:
    form = {
        "name": "hello",
        "project": project_id,
        "source": "command",
        "run": "echo hello from the portal",
        "accelerator": "any",
        "accelerators_per_node": "0",
        "nodes": "1",
        "cpus": "1",
        "memory_gb": "1",
        "walltime": "10m",
        "objective": "balanced",
        "work": "training",
    }
    form.update(kw)
    return form


def _job_count(platform: Platform) -> int:
    return int(platform.admin.get("/jobs").json()["total"])


def test_the_preview_shows_every_partition_and_writes_nothing(sqlite_platform: Platform) -> None:
    browser, project, _ = _world(sqlite_platform)
    page = browser.get("/jobs/new")
    assert page.status_code == 200 and project["id"] in page.text
    r = browser.post("/jobs/new", {**_form(project["id"]), "action": "preview"})
    assert r.status_code == 200, r.text
    section = r.text.split('id="preview-title"')[1]
    # Every partition of the catalog is a row, each with its reason or score.
    for site, part in sqlite_platform.runtime.catalog.partitions():
        assert f"<td>{site.id}</td><td>{part.id}</td>" in section
    assert "<strong>It would start now</strong> at local/local" in section
    # As on the job page: the feasible partitions first, the best first.
    first_row = section.split("<tbody>")[1].split("</tr>")[0]
    assert "<td>local</td><td>local</td><td>yes</td>" in first_row
    assert _job_count(sqlite_platform) == 0


def test_compose_submit_and_follow_the_job_to_its_log(sqlite_platform: Platform) -> None:
    browser, project, ada = _world(sqlite_platform)
    r = browser.post("/jobs/new", {**_form(project["id"]), "action": "submit"})
    assert r.status_code == 303
    job_id = r.headers["location"].rsplit("/", 1)[1]
    page = browser.get(f"/jobs/{job_id}")
    assert page.status_code == 200 and "pending" in page.text
    assert 'hx-get="/jobs/' in page.text  # the output part follows the job while it runs
    run_until(sqlite_platform, job_id, FINAL, ada)
    page = browser.get(f"/jobs/{job_id}")
    assert "hello from the portal" in page.text
    timeline = page.text.split('class="timeline"')[1].split("</ol>")[0]
    states = re.findall(r"<strong>(\w+)</strong>", timeline)
    assert states[0] == "pending" and states[-1] == "completed"
    assert "Chosen: <strong>local/local</strong>" in page.text
    assert "Cancel this job" not in page.text
    # htmx polls the live part; an ended job's answer tells htmx to stop (286).
    live = browser.get(f"/jobs/{job_id}/live", headers={"hx-request": "true"})
    assert live.status_code == 286 and "hello from the portal" in live.text
    assert "<html" not in live.text
    # The job is in the list, and in the list filtered by its state only while it is in it.
    assert job_id in browser.get("/jobs").text
    assert job_id in browser.get("/jobs?state=completed").text
    assert job_id not in browser.get("/jobs?state=running").text


def test_a_pasted_batch_script_sets_the_resources(sqlite_platform: Platform) -> None:
    browser, project, ada = _world(sqlite_platform)
    form = _form(project["id"], source="script", script=SCRIPT, name="", run="")
    preview = browser.post("/jobs/new", {**form, "action": "preview"})
    assert preview.status_code == 200, preview.text
    r = browser.post("/jobs/new", {**form, "action": "submit"})
    assert r.status_code == 303, r.text
    job = ada.get(r.headers["location"].replace("/jobs/", "/jobs/", 1)).json()
    assert job["name"] == "tokenise"
    res = job["spec"]["resources"]
    assert (res["cpus"], res["memory_gb"], res["walltime"]) == (4, 16, 600)


def test_a_script_pasted_in_a_browser_is_not_refused_for_its_line_breaks(
    sqlite_platform: Platform,
) -> None:
    # A browser sends a textarea's line breaks as CRLF, whatever was pasted into it.
    browser, project, ada = _world(sqlite_platform)
    pasted = SCRIPT.replace("\n", "\r\n")
    form = _form(project["id"], source="script", script=pasted, name="", run="")
    preview = browser.post("/jobs/new", {**form, "action": "preview"})
    assert preview.status_code == 200, field_error(preview.text, "script")
    r = browser.post("/jobs/new", {**form, "action": "submit"})
    assert r.status_code == 303, r.text
    job = ada.get(r.headers["location"]).json()
    assert job["name"] == "tokenise" and "\r" not in job["spec"]["script"]


def test_the_poll_sends_the_facts_again_only_when_the_state_changed(
    sqlite_platform: Platform,
) -> None:
    browser, project, ada = _world(sqlite_platform)
    r = browser.post("/jobs/new", {**_form(project["id"]), "action": "submit"})
    job_id = r.headers["location"].rsplit("/", 1)[1]
    poll = {"hx-request": "true"}
    same = browser.get(f"/jobs/{job_id}/live?seen=pending", headers=poll)
    assert same.status_code == 200 and 'id="job-facts"' not in same.text
    assert f"/jobs/{job_id}/live?seen=pending" in same.text  # it polls on
    run_until(sqlite_platform, job_id, FINAL, ada)
    ended = browser.get(f"/jobs/{job_id}/live?seen=pending", headers=poll)
    assert ended.status_code == 286
    facts = ended.text.split('id="job-facts" hx-swap-oob="true"')[1]
    assert "completed" in facts and "Chosen: <strong>local/local</strong>" in facts
    assert "Cancel this job" not in facts


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"nodes": "two"}, "nodes", "whole number"),
        ({"walltime": "soon"}, "walltime", "walltime"),
        ({"run": ""}, "run", "run"),
        ({"name": "runs/one"}, "name", "path separator"),
        ({"project": "prj_nonexistent"}, "project", "no such project"),
        # No name: the script was to give it; only the script's own error is said.
        (
            {"source": "script", "name": "", "script": "#!/bin/bash\n#SBATCH --nodes=many\necho"},
            "script",
            "not a node count",
        ),
        ({"accelerator": "TPUv9"}, "accelerator", "TPUv9"),
    ],
)
def test_a_refused_form_names_the_field_keeps_the_input_and_writes_nothing(
    sqlite_platform: Platform, change: dict[str, str], field: str, says: str
) -> None:
    browser, project, _ = _world(sqlite_platform)
    form = _form(project["id"], **change)
    r = browser.post("/jobs/new", {**form, "action": "submit"})
    assert r.status_code == 422, r.text
    error = field_error(r.text, field)
    assert error and says.lower() in error.lower(), (field, error)
    assert field == "name" or not field_error(r.text, "name")  # the one field at fault
    for key, value in change.items():
        # What was typed comes back (a select offers only its own options).
        if value and "\n" not in value and key not in ("project", "accelerator", "source"):
            assert f'value="{value}"' in r.text or f">{value}<" in r.text
    assert _job_count(sqlite_platform) == 0


def test_a_form_without_the_sessions_token_changes_nothing(sqlite_platform: Platform) -> None:
    browser, project, _ = _world(sqlite_platform)
    r = browser.client.post("/jobs/new", data={**_form(project["id"]), "action": "submit"})
    assert r.status_code == 403 and "not from your session" in r.text
    assert _job_count(sqlite_platform) == 0


def test_cancel_from_the_job_page(sqlite_platform: Platform) -> None:
    browser, project, ada = _world(sqlite_platform)
    # A job that waits on one that never ends keeps pending: it can be cancelled at leisure.
    r = browser.post("/jobs/new", {**_form(project["id"], run="sleep 30"), "action": "submit"})
    job_id = r.headers["location"].rsplit("/", 1)[1]
    assert "Cancel this job" in browser.get(f"/jobs/{job_id}").text
    r = browser.post(f"/jobs/{job_id}/cancel")
    assert r.status_code == 303 and r.headers["location"] == f"/jobs/{job_id}"
    job = run_until(sqlite_platform, job_id, FINAL, ada)
    assert job["state"] == "cancelled"
    again = browser.post(f"/jobs/{job_id}/cancel")
    assert again.status_code == 409 and "Not cancelled" in again.text


def test_the_list_pages_and_filters(sqlite_platform: Platform) -> None:
    browser, project, ada = _world(sqlite_platform)
    for i in range(53):
        r = ada.post("/jobs", {"name": f"j{i}", "project": project["id"], "run": "true"})
        assert r.status_code == 201
    first = browser.get("/jobs")
    assert "53 jobs" in first.text and "page 1 of 2" in first.text
    assert first.text.count("<td><a href=") == 50
    second = browser.get("/jobs?page_no=2")
    assert second.text.count("<td><a href=") == 3 and ">j0<" in second.text
    bad = browser.get("/jobs?state=exploded")
    assert bad.status_code == 422 and "pending" in field_error(bad.text, "state")


def test_the_dashboard_burns_down_an_allocation_as_jobs_use_it(sqlite_platform: Platform) -> None:
    browser, project, ada = _world(sqlite_platform)
    before = browser.get("/")
    assert "Burn-down of triage on local/local" in before.text
    r = browser.post(
        "/jobs/new", {**_form(project["id"], accelerators_per_node="1"), "action": "submit"}
    )
    job_id = r.headers["location"].rsplit("/", 1)[1]
    run_until(sqlite_platform, job_id, FINAL, ada)
    page = browser.get("/").text
    chart = page.split("Burn-down of triage on local/local")[1].split("</table>")[0]
    last = re.findall(r'<td data-y="([\d.]+)">', chart)[-3:]
    used, reserved, left = (float(x) for x in last)
    assert reserved == 0  # the job ended: its reservation settled into used and left
    assert abs(used + left - 10_000) < 0.01  # what was given, split between used and left


def test_the_dashboard_shows_my_jobs_running_then_ended_and_not_a_colleagues(
    sqlite_platform: Platform,
) -> None:
    browser, project, ada = _world(sqlite_platform)
    bob = quick_user(sqlite_platform, "bob")
    org_id = project["org_id"]
    r = ada.post(f"/orgs/{org_id}/members", {"email": bob.email, "role": "member"})
    assert r.status_code == 201, r.text
    r = ada.post(f"/projects/{project['id']}/members", {"email": bob.email})
    assert r.status_code in (200, 201), r.text
    theirs = bob.post("/jobs", {"name": "bobs-run", "project": project["id"], "run": "true"})
    assert theirs.status_code == 201, theirs.text
    r = browser.post("/jobs/new", {**_form(project["id"], name="adas-run"), "action": "submit"})
    job_id = r.headers["location"].rsplit("/", 1)[1]

    def sections() -> tuple[str, str]:
        page = browser.get("/").text
        waiting = page.split("My running and waiting jobs")[1].split("My recent jobs")[0]
        return waiting, page.split("My recent jobs")[1]

    waiting, recent = sections()
    assert f'href="/jobs/{job_id}"' in waiting and f'href="/jobs/{job_id}"' in recent
    run_until(sqlite_platform, job_id, FINAL, ada)
    waiting, recent = sections()
    assert "None of your jobs is running or waiting." in waiting
    assert f'href="/jobs/{job_id}"' in recent and "completed" in recent
    # Bob's job is in the project's list, not on Ada's dashboard.
    assert "bobs-run" not in waiting + recent
    assert "bobs-run" in browser.get("/jobs").text
