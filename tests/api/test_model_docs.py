"""Evaluations and documentation drafts over the API: a fine-tune that read a dataset puts the
dataset's licence and provenance into the Annex XI and summary drafts beside the computed
figures; a version over the systemic-risk threshold gets Annex XI's section 2 with its
evaluations; bad evaluations are refused by field; another tenant gets 404."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.compliance.compute import Rules
from tests.api.data_helpers import make_dataset, push
from tests.conftest import Actor, Platform, job_spec, quick_user, run_until_final


def _world(platform: Platform, name: str = "sofia") -> tuple[Actor, dict[str, Any], str]:
    user = quick_user(platform, name)
    org = platform.org(user, f"{name.title()} AI", kind="startup")
    project = platform.project(user, org["id"], "bot", gpu_hours=None)
    platform.grant(project["id"], 10, ("local/local",))
    body = {
        "project_id": project["id"],
        "name": "helpdesk-bot",
        "architecture": "decoder-only transformer",
        "modality_in": ["text"],
        "modality_out": ["text"],
        "licence": "Apache-2.0",
    }
    assert user.post("/models", body).status_code == 201
    v = user.post("/models/helpdesk-bot/versions", {"version": "1.0"}).json()
    return user, project, str(v["id"])


def _run(platform: Platform, user: Actor, project: dict[str, Any], **kw: Any) -> str:
    spec = job_spec(
        project["id"],
        "true",
        resources={"accelerator": "local-slot", "accelerators_per_node": 1},
        produces={"model": "helpdesk-bot", "version": "1.0"},
        **kw,
    )
    r = user.post("/jobs", spec)
    assert r.status_code == 201, r.text
    return str(run_until_final(platform, r.json()["id"], user)["id"])


def test_the_drafts_carry_the_datasets_provenance_and_the_figures(platform: Platform) -> None:
    user, project, version = _world(platform)
    ds = make_dataset(
        user,
        project["id"],
        "invoices",
        licence="CC-BY-4.0",
        provenance={
            "sources": ["our own support tickets, 2023-2025"],
            "collection_method": "export from the ticket system, pseudonymised",
            "tdm_opt_outs_respected": True,
        },
    )
    push(user, ds["id"], b"question,answer\n" * 100)
    _run(platform, user, project, purpose="finetuning", datasets=["invoices@1"])
    md = user.get(f"/model-versions/{version}/docs").text
    assert "| invoices@1 | CC-BY-4.0 |" in md
    assert "our own support tickets, 2023-2025 | export from the ticket system" in md
    assert "| respected |" in md
    compute = user.get(f"/model-versions/{version}/compute").json()
    assert f"{compute['training']['flop']:.3g} FLOP, hardware-based" in md
    summary = user.get(f"/model-versions/{version}/docs", params={"kind": "summary"})
    assert summary.headers["content-type"].startswith("text/markdown")
    assert "1 dataset version(s) read by the training jobs" in summary.text
    page = user.get(f"/model-versions/{version}/docs", params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "<td>invoices@1</td><td>CC-BY-4.0</td>" in page.text


def test_over_the_systemic_risk_threshold_the_draft_has_section_2(platform: Platform) -> None:
    user, project, version = _world(platform, "ines")
    evaluation = _run(platform, user, project, purpose="evaluation")
    r = user.post(
        f"/model-versions/{version}/evaluations",
        {"job_id": evaluation, "name": "red-team round 1", "metrics": {"refusal_rate": 0.97}},
    )
    assert r.status_code == 201, r.text
    assert user.get(f"/model-versions/{version}/evaluations").json()[0]["metrics"] == {
        "refusal_rate": 0.97
    }
    md = user.get(f"/model-versions/{version}/docs").text
    assert "Section 2. Providers of models with systemic risk" not in md
    # The same record under rules whose systemic-risk threshold the project's allocation passes.
    platform.runtime.settings.compliance_systemic_flop = 1e12
    md = user.get(f"/model-versions/{version}/docs").text
    assert "## Section 2. Providers of models with systemic risk" in md
    assert "| red-team round 1 | refusal_rate 0.97 |" in md
    assert "systemic-risk (forecast" in md
    assert Rules().systemic_flop == 1e25  # the default is untouched


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"metrics": {}}, "metrics"),
        ({"metrics": {"acc": "high"}}, "metrics.acc"),
        ({"job_id": "job-nope"}, "job_id"),
    ],
)
def test_a_bad_evaluation_is_refused_by_field(
    platform: Platform, body: dict[str, Any], field: str
) -> None:
    user, project, version = _world(platform, "bob")
    job = _run(platform, user, project, purpose="evaluation")
    r = user.post(
        f"/model-versions/{version}/evaluations",
        {"job_id": job, "name": "qa", "metrics": {"acc": 0.5}, **body},
    )
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    assert user.get(f"/model-versions/{version}/evaluations").json() == []


def test_a_training_job_is_no_evaluation_and_another_tenant_gets_404(platform: Platform) -> None:
    user, project, version = _world(platform, "tom")
    train = _run(platform, user, project, purpose="finetuning")
    r = user.post(
        f"/model-versions/{version}/evaluations",
        {"job_id": train, "name": "qa", "metrics": {"acc": 0.5}},
    )
    assert r.status_code == 422 and "is not an evaluation" in r.text
    other = quick_user(platform, "eve")
    platform.org(other, "Eve Ltd")
    assert other.get(f"/model-versions/{version}/docs").status_code == 404
    assert other.get(f"/model-versions/{version}/evaluations").status_code == 404
    r = other.post(
        f"/model-versions/{version}/evaluations",
        {"job_id": train, "name": "qa", "metrics": {"acc": 0.5}},
    )
    assert r.status_code == 404
    bad = user.get(f"/model-versions/{version}/docs", params={"kind": "annex-ix"})
    assert bad.status_code == 422
