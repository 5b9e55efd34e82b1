"""The model registry and its compute ledger over the API, from jobs that really ran on the
local executor: a start-up fine-tunes its registered base model and the fine-tune's FLOP,
energy and carbon follow from the job's usage record and the catalog; the lineage adds its
own pre-training and weighs another provider's model by the one-third rule; a project whose
allocations could carry it past 1e23 FLOP is told so with the due date; bad declarations are
refused by field and write nothing; another tenant sees none of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from aifactory.db.tables import UsageRecord
from aifactory.services.compliance import ledger
from aifactory.services.ids import utcnow
from tests.conftest import Actor, Platform, job_spec, quick_user, run_until_final

H100 = "marenostrum5/acc"


def _tenant(
    platform: Platform, name: str, gpu_hours: int | None = 10_000
) -> tuple[Actor, dict[str, Any]]:
    user = quick_user(platform, name)
    org = platform.org(user, f"{name.title()} AI", kind="startup")
    project = platform.project(user, org["id"], "llm", gpu_hours=None)
    if gpu_hours:
        platform.grant(project["id"], gpu_hours, ("local/local",))
    return user, project


def _model(user: Actor, project: dict[str, Any], name: str, **kw: Any) -> dict[str, Any]:
    body = {
        "project_id": project["id"],
        "name": name,
        "architecture": "decoder-only transformer",
        "modality_in": ["text"],
        "modality_out": ["text"],
        "licence": "Apache-2.0",
        "intended_tasks": ["customer support"],
        **kw,
    }
    r = user.post("/models", body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _version(user: Actor, model: str, version: str, **kw: Any) -> dict[str, Any]:
    r = user.post(f"/models/{model}/versions", {"version": version, **kw})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _train(platform: Platform, user: Actor, project: dict[str, Any], **kw: Any) -> str:
    spec = job_spec(
        project["id"],
        "sleep 1.2; echo 'epoch 1 loss 0.81'",
        name="finetune",
        resources={"accelerator": "local-slot", "accelerators_per_node": 2, "walltime": "5m"},
        **kw,
    )
    r = user.post("/jobs", spec)
    assert r.status_code == 201, r.text
    job = run_until_final(platform, r.json()["id"], user)
    assert job["state"] == "completed", job
    return str(job["id"])


def test_a_fine_tune_of_a_registered_base_reports_its_flop_energy_and_carbon(
    platform: Platform,
) -> None:
    user, project = _tenant(platform, "sofia")
    _model(user, project, "nordic-base")
    base = _version(user, "nordic-base", "1.0", parameters=7_000_000_000)
    chat = _model(user, project, "helpdesk-bot")
    tuned = _version(
        user,
        "helpdesk-bot",
        "1.0",
        base_version_id=base["id"],
        parameters=7_000_000_000,
        training_tokens=2_000_000,
    )
    produces = {"model": "helpdesk-bot", "version": "1.0"}
    job_id = _train(platform, user, project, produces=produces, work="fine_tuning")
    evaluation = _train(platform, user, project, produces=produces, purpose="evaluation")

    got = user.get(f"/model-versions/{tuned['id']}/compute").json()
    with platform.runtime.db.read() as session:
        usage = session.get(UsageRecord, job_id)
        assert usage is not None and usage.gpus == 2
        gpu_s, elapsed = usage.gpu_seconds, usage.elapsed_s
    assert gpu_s >= 2  # two slots for at least a second
    local = platform.runtime.catalog.site("local").partition("local")
    # By hand: GPU-seconds x peak (1 TFLOP/s a local slot) x 0.4; x 10 W x PUE; x 100 g/kWh.
    flop = gpu_s * local.peak_bf16_tflops * 1e12 * 0.4
    kwh = gpu_s * local.power_w * local.pue / 3.6e6
    (job,) = got["training"]["jobs"]
    assert job["job_id"] == job_id and job["utilisation"] == 0.4 and job["measured"] is False
    assert got["training"]["flop"] == pytest.approx(flop)
    assert got["training"]["kwh"] == pytest.approx(kwh)
    assert got["training"]["kg_co2e"] == pytest.approx(kwh * local.grid_gco2e_per_kwh / 1000)
    assert got["training"]["gpu_hours"] == pytest.approx(gpu_s / 3600)
    assert got["training"]["training_hours"] == pytest.approx(elapsed / 3600)
    assert got["training"]["architecture_flop"] == pytest.approx(6 * 7e9 * 2e6)
    # The evaluation ran against the version but is not training compute.
    assert [j["job_id"] for j in got["other"]["jobs"]] == [evaluation]
    # Its own base: the chain adds up (the base has no job of its own yet).
    assert got["lineage"]["chain"] == [tuned["id"], base["id"]]
    assert got["lineage"]["cumulative_flop"] == pytest.approx(flop)
    assert got["crossings"] == [] and chat["versions"] == []
    assert user.get("/models/helpdesk-bot").json()["versions"][0]["id"] == tuned["id"]
    # The grouped recomputation of every ledger (what make bench-compliance times) agrees.
    with platform.runtime.db.read() as session:
        rules = ledger.rules_of(platform.runtime.settings)
        sums = ledger.recompute_all(session, platform.runtime.catalog, rules)
        lineage = ledger.cumulative_all(session, sums, rules)
    assert sums[tuned["id"]].flop == pytest.approx(flop) and sums[tuned["id"]].jobs == 1
    assert sums[tuned["id"]].kwh == pytest.approx(kwh)  # the evaluation is not training
    assert lineage[tuned["id"]].chain == (tuned["id"], base["id"])
    # The job itself says what it used, in the same terms.
    energy = user.get(f"/jobs/{job_id}").json()["energy"]
    assert energy["flop"] == pytest.approx(flop) and energy["kwh"] == pytest.approx(kwh)
    assert energy["kg_co2e"] == pytest.approx(kwh * local.grid_gco2e_per_kwh / 1000)
    assert energy["gpu_hours"] == pytest.approx(gpu_s / 3600) and energy["measured"] is False


def test_a_measured_utilisation_and_the_one_third_rule_for_an_external_base(
    platform: Platform,
) -> None:
    user, project = _tenant(platform, "ines")
    _model(user, project, "legal-llm")
    # The external base's declared compute is tiny, so the fine-tune is over a third of it.
    tuned = _version(user, "legal-llm", "2", base_external="tiny-ext", base_external_flop=1e9)
    job_id = _train(
        platform, user, project, produces={"model": "legal-llm", "version": "2"}, utilisation=0.5
    )
    got = user.get(f"/model-versions/{tuned['id']}/compute").json()
    (job,) = got["training"]["jobs"]
    assert job["job_id"] == job_id and job["utilisation"] == 0.5 and job["measured"] is True
    lineage = got["lineage"]
    assert lineage["base"] == "tiny-ext" and lineage["base_flop"] == 1e9
    assert lineage["becomes_provider"] is True and "becomes the provider" in lineage["says"]
    unknown = _version(user, "legal-llm", "3", base_external="mystery-7b")
    said = user.get(f"/model-versions/{unknown['id']}/compute").json()["lineage"]
    assert said["becomes_provider"] is None and "training compute is unknown" in said["says"]


def test_allocations_that_would_carry_a_pretraining_past_1e23_are_a_forecast_crossing(
    platform: Platform,
) -> None:
    user, project = _tenant(platform, "piet", gpu_hours=None)
    # 80,000 H100-hours left at 0.4: 80,000 x 3,600 x 989.4e12 x 0.4 = 1.14e23 FLOP.
    platform.grant(project["id"], 80_000, (H100,))
    _model(user, project, "euro-llm")
    v = _version(user, "euro-llm", "0.1")
    got = user.get(f"/model-versions/{v['id']}/compute").json()
    assert got["forecast_more_flop"] == pytest.approx(80_000 * 3600 * 989.4e12 * 0.4)
    (crossing,) = got["crossings"]
    assert (crossing["threshold"], crossing["basis"]) == ("gpai", "forecast")
    today = utcnow().date()
    assert crossing["due_on"] == (today + timedelta(days=14)).isoformat()
    # Not generating text, audio, images or video: not presumed general-purpose.
    _model(user, project, "weather", modality_in=["time-series"], modality_out=["time-series"])
    w = _version(user, "weather", "1")
    assert user.get(f"/model-versions/{w['id']}/compute").json()["crossings"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parameters": -5}, "parameters"),
        ({"parameters": 10**16}, "parameters"),
        ({"training_tokens": 0}, "training_tokens"),
        ({"base_version_id": "mdv-nope"}, "base_version_id"),
        ({"base_external_flop": 1e20}, "base_external_flop"),
        ({"base_external": "x", "base_external_flop": -1}, "base_external_flop"),
        ({"version": ""}, "version"),
    ],
)
def test_a_bad_version_names_the_field_and_writes_nothing(
    platform: Platform, body: dict[str, Any], field: str
) -> None:
    user, project = _tenant(platform, "bob")
    _model(user, project, "m")
    r = user.post("/models/m/versions", {"version": "1", **body})
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    assert user.get("/models/m").json()["versions"] == []


def test_bad_declarations_on_a_job_are_refused_by_field(platform: Platform) -> None:
    user, project = _tenant(platform, "eve")
    other, other_project = _tenant(platform, "mallory")
    _model(other, other_project, "theirs")
    _version(other, "theirs", "1")
    _model(user, project, "mine")
    _version(user, "mine", "1")
    cases = [
        ({"produces": {"model": "theirs", "version": "1"}}, "produces.model"),
        ({"produces": {"model": "mine", "version": "9"}}, "produces.version"),
        ({"produces": {"model": "mine", "version": "1"}, "utilisation": 1.5}, "utilisation"),
        ({"produces": {"model": "mine", "version": "1"}, "utilisation": 0}, "utilisation"),
        ({"produces": {"model": "mine", "version": "1"}, "purpose": "fun"}, "purpose"),
    ]
    for extra, field in cases:
        r = user.post("/jobs", job_spec(project["id"], **extra))
        assert r.status_code == 422, (extra, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (extra, r.json())
    assert user.get("/jobs").json()["total"] == 0
    r = user.post("/models", {**_body(project), "modality_out": ["smell"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "modality_out[0]"
    assert "'text', 'audio', 'image'" in r.json()["errors"][0]["message"]  # the allowed values


def _body(project: dict[str, Any]) -> dict[str, Any]:
    return {
        "project_id": project["id"],
        "name": "odd",
        "architecture": "cnn",
        "modality_in": ["image"],
        "modality_out": ["text"],
    }


def test_another_tenant_sees_none_of_it(platform: Platform) -> None:
    user, project = _tenant(platform, "tom")
    model = _model(user, project, "secret-llm")
    v = _version(user, "secret-llm", "1")
    other, other_project = _tenant(platform, "eva")
    assert other.get(f"/models/{model['id']}").status_code == 404
    assert other.get("/models/secret-llm").status_code == 404
    assert other.get(f"/model-versions/{v['id']}/compute").status_code == 404
    assert other.post(f"/models/{model['id']}/versions", {"version": "2"}).status_code == 404
    assert other.get("/models").json() == []
    r = other.post("/models", {**_body(other_project), "project_id": project["id"]})
    assert r.status_code == 404
