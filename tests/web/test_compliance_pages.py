"""The compliance pages as their users meet them: a start-up registers its chatbot from the
project's compliance tab and reads its class and why; a refused form says the field and keeps
the answers; the tab shows what a model's training used; compliance officers' dashboard lists
the open cases and the strict classes awaiting review, and is theirs alone."""

from __future__ import annotations

from typing import Any

from aifactory.services.compliance import cases, ledger
from tests.conftest import Actor, Platform, job_spec, quick_user, run_until_final
from tests.web.portal import Browser, browser_of, field_error


def _world(platform: Platform) -> tuple[Browser, Actor, dict[str, Any]]:
    ada = quick_user(platform, "ada")
    org = platform.org(ada, "Ada Bots", kind="startup")
    project = platform.project(ada, org["id"], "helpdesk", gpu_hours=None)
    return browser_of(platform, ada), ada, project


def _form(**kw: str) -> dict[str, str]:
    return {
        "intended_purpose": "A support chatbot answering invoice questions",
        "sector": "customer service",
        "art50_1": "on",
        **kw,
    }


def test_register_a_chatbot_from_the_tab_and_read_its_class(sqlite_platform: Platform) -> None:
    browser, _ada, project = _world(sqlite_platform)
    tab = f"/projects/{project['id']}/compliance"
    assert "No use case registered yet." in browser.get(tab).text
    assert tab in browser.get(f"/projects/{project['id']}").text  # the project page links it
    r = browser.post(tab, _form())
    assert r.status_code == 303 and r.headers["location"] == tab
    page = browser.get(tab).text
    assert "<strong>Class: transparency</strong>" in page
    assert (
        "Transparency obligations (Art. 50): tell people they interact with an AI system." in page
    )
    assert '<th scope="row">Art. 50(1)</th><td>yes, a transparency obligation' in page
    assert 'name="art50_1" value="on" checked' in page  # the saved answers, ticked again


def test_a_refused_form_keeps_the_answers_and_says_the_field(sqlite_platform: Platform) -> None:
    browser, ada, project = _world(sqlite_platform)
    tab = f"/projects/{project['id']}/compliance"
    r = browser.post(tab, _form(intended_purpose="   ", annex3_4="on"))
    assert r.status_code == 422
    assert "say what the AI system is for" in field_error(r.text, "intended_purpose")
    assert 'value="customer service"' in r.text  # kept
    assert 'name="annex3_4" value="on" checked' in r.text
    assert ada.get(f"/projects/{project['id']}/use-case").status_code == 404  # nothing written
    no_csrf = browser.client.post(tab, data=_form())
    assert no_csrf.status_code == 403


def test_the_tab_shows_a_models_compute_and_a_prohibited_class(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    browser, ada, project = _world(p)
    p.grant(project["id"], 10, ("local/local",))
    ada.post(
        "/models",
        {
            "project_id": project["id"],
            "name": "helpdesk-bot",
            "architecture": "decoder-only transformer",
            "modality_in": ["text"],
            "modality_out": ["text"],
        },
    )
    ada.post("/models/helpdesk-bot/versions", {"version": "1.0"})
    spec = job_spec(
        project["id"],
        "sleep 1.1",
        resources={"accelerator": "local-slot", "accelerators_per_node": 1},
        produces={"model": "helpdesk-bot", "version": "1.0"},
        work="fine_tuning",
    )
    job = ada.post("/jobs", spec).json()
    run_until_final(p, job["id"], ada)
    energy = ada.get(f"/jobs/{job['id']}").json()["energy"]
    tab = f"/projects/{project['id']}/compliance"
    page = browser.get(tab).text
    row = page.split('<th scope="row">helpdesk-bot</th>')[1].split("</tr>")[0]
    assert f"{energy['flop']:.3g}" in row and f"{energy['kwh']:.4g}" in row
    browser.post(tab, _form(art5_c="on"))
    page = browser.get(tab).text
    assert "<strong>Class: prohibited</strong>" in page and "no job and no proposal" in page


def test_the_officers_dashboard_lists_open_cases_and_reviews_due(
    sqlite_platform: Platform,
) -> None:
    p = sqlite_platform
    browser, ada, project = _world(p)
    p.grant(project["id"], 80_000, ("marenostrum5/acc",))
    ada.post(
        "/models",
        {
            "project_id": project["id"],
            "name": "euro-llm",
            "architecture": "decoder-only transformer",
            "modality_in": ["text"],
            "modality_out": ["text"],
        },
    )
    ada.post("/models/euro-llm/versions", {"version": "0.1"})
    cases.run_once(p.runtime.db, p.runtime.catalog, ledger.rules_of(p.runtime.settings))
    browser.post(f"/projects/{project['id']}/compliance", _form(annex3_4="on"))
    clara = browser_of(p, quick_user(p, "clara", roles=("compliance",)))
    home = clara.get("/").text
    assert 'href="/compliance"' in home
    page = clara.get("/compliance").text
    cases_table = page.split("Open cases")[1].split("Use cases to review")[0]
    assert "gpai" in cases_table and "forecast" in cases_table
    assert "high-risk" in page.split("Use cases to review")[1]
    assert browser.get("/compliance").status_code == 403  # a project's member is no officer
    assert 'href="/compliance"' not in browser.get("/").text
